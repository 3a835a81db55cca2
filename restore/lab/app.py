"""The stand-in clinical application of a Linux lab host, copied into the host and run there.

It listens on both the management and production addresses (like a real service), on the lab's
APP_PORT and on every port the graph's health probes name (restore.lab.twin_ports), and answers
HTTP `GET /` with its host name, so health steps have something real to probe. Standard
library only: it runs under the lab rootfs's own python3.
"""

APP_SOURCE = r"""#!/usr/bin/python3 -S
# One thread, one selector, no http.server: about half the memory of a threaded HTTP server,
# which counts when a lab runs 1,000 twins.
import json, selectors, socket
config = json.load(open("/etc/restore-lab-app.json"))
body = ("OK " + socket.gethostname() + "\n").encode()
reply = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
selector = selectors.DefaultSelector()
ports = config.get("ports") or [config["port"]]
for address in config["addresses"]:
    for port in ports:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, port))
        server.listen(64)
        server.setblocking(False)
        selector.register(server, selectors.EVENT_READ, "server")
while True:
    for key, _ in selector.select():
        if key.data == "server":
            try:
                conn, _ = key.fileobj.accept()
            except OSError:
                continue
            conn.setblocking(False)
            selector.register(conn, selectors.EVENT_READ, "client")
            continue
        conn = key.fileobj
        try:
            if conn.recv(4096):
                conn.sendall(reply)
        except OSError:
            pass
        selector.unregister(conn)
        conn.close()
"""
