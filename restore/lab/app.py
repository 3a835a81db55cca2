"""The stand-in clinical application of a Linux lab host, copied into the host and run there.

It listens on both the management and production addresses (like a real service), on the lab's
APP_PORT and on every port the graph's health probes name (restore.lab.twin_ports), and answers
HTTP `GET /` with its host name, so health steps have something real to probe. Standard
library only: it runs under the lab rootfs's own python3.
"""

APP_SOURCE = r"""#!/usr/bin/python3
import http.server, json, socket, socketserver, sys, threading
config = json.load(open("/etc/restore-lab-app.json"))

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("OK " + socket.gethostname() + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

# "ports": the lab's own APP_PORT and every port the graph's health probes name
ports = config.get("ports") or [config["port"]]
servers = [Server((a, p), Handler) for a in config["addresses"] for p in ports]
for server in servers[1:]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
servers[0].serve_forever()
"""
