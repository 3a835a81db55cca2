#!/usr/bin/python3
"""WS-Management / WinRS endpoint with a simulated "Windows personality" (lab only).

Standard library only: it runs chrooted in a lab host under the rootfs's python3.

Protocol: the WinRS subset pywinrm uses — Create (shell), Command, Send (stdin), Receive
(with the OperationTimeout long-poll answered by WSManFault 2150858793), Signal, Delete —
over HTTP and HTTPS, Basic authentication.

Personality: the PowerShell the orchestrator sends is small and emits JSON; each script starts
with a marker line `# restore:<query>` (and optionally `# args: {json}`) that names what it
asks. The answers come from a simulated state kept in this host's filesystem
(/windows/state.json and files under /windows/C). A few plain commands (hostname, whoami,
echo, Get-Service NAMES, Test-Path, Start-Sleep, exit N) are understood too; anything else
exits 1 with a clear message. This proves the transport, authentication, TLS validation,
parsers and verdicts; it does not prove real PowerShell semantics.

Usage: server.py serve CONFIG | server.py reset | server.py infect SCENARIO
"""

import base64
import datetime as dt
import hashlib
import hmac
import http.server
import json
import os
import re
import socketserver
import ssl
import sys
import threading
import time
import uuid
from xml.etree import ElementTree as ET

STATE = "/windows/state.json"
C_ROOT = "/windows/C"
DENY_FLAG = "/opt/restore-wsman/deny-auth"
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
TIMEOUT_FAULT_CODE = 2150858793
CHUNK_BYTES = 100000  # base64 of this fits the 150 KB envelope pywinrm asks for
RANSOM_NOTE = "Your files are encrypted. Contact us on Tor to recover them.\n"

# ---------------------------------------------------------------------------------------------
# simulated Windows state


def now_iso():
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def clean_state(hostname):
    services = [
        (
            "WinRM",
            "Windows Remote Management (WS-Management)",
            "C:\\Windows\\System32\\svchost.exe -k NetworkService",
        ),
        (
            "EventLog",
            "Windows Event Log",
            "C:\\Windows\\System32\\svchost.exe -k LocalServiceNetworkRestricted",
        ),
        (
            "WinDefend",
            "Microsoft Defender Antivirus Service",
            '"C:\\ProgramData\\Microsoft\\Windows Defender\\platform\\MsMpEng.exe"',
        ),
        ("VSS", "Volume Shadow Copy", "C:\\Windows\\system32\\vssvc.exe"),
    ]
    if hostname.startswith("dc"):
        services += [
            ("NTDS", "Active Directory Domain Services", "C:\\Windows\\System32\\lsass.exe"),
            ("DNS", "DNS Server", "C:\\Windows\\system32\\dns.exe"),
            ("Netlogon", "Netlogon", "C:\\Windows\\system32\\lsass.exe"),
            ("Kdc", "Kerberos Key Distribution Center", "C:\\Windows\\System32\\lsass.exe"),
        ]
    if hostname.startswith("sql"):
        services.append(
            (
                "MSSQLSERVER",
                "SQL Server (MSSQLSERVER)",
                '"C:\\Program Files\\Microsoft SQL Server\\MSSQL16.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe"',
            )
        )
    return {
        "hostname": hostname,
        "defender": {
            "AntivirusEnabled": True,
            "RealTimeProtectionEnabled": True,
            "AntivirusSignatureAge": 0,
            "TamperProtected": True,
        },
        "local_admins": ["Administrator", "CHU\\Domain Admins"],
        "services": [
            {"Name": n, "DisplayName": d, "State": "Running", "StartMode": "Auto", "PathName": p}
            for n, d, p in services
        ],
        "scheduled_tasks": [
            {
                "TaskName": "ScheduledDefrag",
                "TaskPath": "\\Microsoft\\Windows\\Defrag\\",
                "Execute": "%windir%\\system32\\defrag.exe",
                "State": "Ready",
            },
            {
                "TaskName": "Scheduled Start",
                "TaskPath": "\\Microsoft\\Windows\\WindowsUpdate\\",
                "Execute": "sc.exe start wuauserv",
                "State": "Ready",
            },
        ],
        "run_keys": [
            {
                "Key": "HKLM:\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
                "Name": "SecurityHealth",
                "Value": "%windir%\\system32\\SecurityHealthSystray.exe",
            },
        ],
        "wmi_subscriptions": [],
        "events": [
            {
                "LogName": "Security",
                "Id": 4624,
                "TimeCreated": now_iso(),
                "Message": "An account was successfully logged on.",
            }
        ],
        "shadow_copies": 3,
        "process_history": [],
    }


def load_state():
    with open(STATE) as handle:
        return json.load(handle)


def save_state(state):
    tmp = STATE + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(state, handle, indent=1)
    os.replace(tmp, STATE)


def reset(hostname):
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    for sub in ("Data", "Users/Public/Documents", "Windows/System32"):
        os.makedirs(os.path.join(C_ROOT, sub), exist_ok=True)
    with open(os.path.join(C_ROOT, "Data", "readme.txt"), "w") as handle:
        handle.write("Clinical data share\n")
    save_state(clean_state(hostname))


def _plant_files():
    for folder in ("Data", "Users/Public/Documents"):
        base = os.path.join(C_ROOT, folder)
        os.makedirs(base, exist_ok=True)
        for name in ("worklist.xlsx", "report.docx", "export.csv"):
            with open(os.path.join(base, name + ".lockbit"), "wb") as handle:
                handle.write(os.urandom(2048))
        with open(os.path.join(base, "Restore-My-Files.txt"), "w") as handle:
            handle.write(RANSOM_NOTE)


WINDOWS_SCENARIOS = {
    "scheduled-task": "a scheduled task running an encoded PowerShell at logon",
    "local-admin": "a new local administrator account",
    "defender-disabled": "Microsoft Defender real-time protection turned off",
    "ransom-notes": "ransom notes and .lockbit files under C:\\Data and C:\\Users\\Public",
    "log-cleared": "the Security log cleared (event 1102)",
    "shadow-copies-deleted": "vssadmin delete shadows /all /quiet",
    "ransomware": "all of the above",
}


def infect(scenario):
    state = load_state()
    chosen = list(WINDOWS_SCENARIOS)[:-1] if scenario == "ransomware" else [scenario]
    for name in chosen:
        if name == "scheduled-task":
            state["scheduled_tasks"].append(
                {
                    "TaskName": "SysUpdate",
                    "TaskPath": "\\",
                    "Execute": "powershell.exe -nop -w hidden -enc SQBFAFgA",
                    "State": "Ready",
                }
            )
            state["run_keys"].append(
                {
                    "Key": "HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
                    "Name": "SysUpdate",
                    "Value": "C:\\ProgramData\\sysupdate.exe",
                }
            )
        elif name == "local-admin":
            state["local_admins"].append("svc-backup")
        elif name == "defender-disabled":
            state["defender"].update(
                {
                    "RealTimeProtectionEnabled": False,
                    "AntivirusEnabled": False,
                    "AntivirusSignatureAge": 41,
                }
            )
        elif name == "ransom-notes":
            _plant_files()
        elif name == "log-cleared":
            state["events"] = [
                {
                    "LogName": "Security",
                    "Id": 1102,
                    "TimeCreated": now_iso(),
                    "Message": "The audit log was cleared.",
                }
            ]
        elif name == "shadow-copies-deleted":
            state["shadow_copies"] = 0
            state["process_history"].append(
                {"TimeCreated": now_iso(), "CommandLine": "vssadmin.exe delete shadows /all /quiet"}
            )
        else:
            raise SystemExit(
                "unknown Windows scenario %r; one of %s" % (name, ", ".join(WINDOWS_SCENARIOS))
            )
    save_state(state)


# ---------------------------------------------------------------------------------------------
# the personality: scripts -> (stdout, stderr, rc)


def _walk(paths):
    found = []
    for path in paths:
        local = os.path.join(C_ROOT, path.replace("C:\\", "").replace("\\", "/").lstrip("/"))
        if os.path.isfile(local):  # Get-Item on one file
            walked = [(os.path.dirname(local), [], [os.path.basename(local)])]
        else:
            walked = os.walk(local)
        for root, _dirs, files in walked:
            for name in files:
                full = os.path.join(root, name)
                stat = os.stat(full)
                rel = os.path.relpath(full, C_ROOT).replace("/", "\\")
                found.append(
                    {
                        "FullName": "C:\\" + rel,
                        "Length": stat.st_size,
                        "LastWriteTime": dt.datetime.fromtimestamp(
                            stat.st_mtime, dt.timezone.utc
                        ).isoformat(timespec="seconds"),
                        "local": full,
                    }
                )
    return found


def query(name, args):
    state = load_state()
    if name == "defender":
        return state["defender"]
    if name == "local-admins":
        return state["local_admins"]
    if name == "services":
        return state["services"]
    if name == "scheduled-tasks":
        return state["scheduled_tasks"]
    if name == "run-keys":
        return state["run_keys"]
    if name == "wmi-subscriptions":
        return state["wmi_subscriptions"]
    if name == "events":
        ids = set(args.get("ids", []))
        return [e for e in state["events"] if not ids or e["Id"] in ids]
    if name == "shadow-copies":
        return {
            "Count": state["shadow_copies"],
            "DeletionCommands": [
                p for p in state["process_history"] if "shadow" in p["CommandLine"].lower()
            ],
        }
    if name == "files":
        return [
            {k: v for k, v in f.items() if k != "local"} for f in _walk(args.get("paths", ["C:\\"]))
        ]
    if name == "file-hash":
        out = []
        for f in _walk(args.get("paths", [])):
            if f["Length"] <= args.get("max_bytes", 1 << 30):
                with open(f["local"], "rb") as handle:
                    out.append(
                        {
                            "Path": f["FullName"],
                            "Hash": hashlib.sha256(handle.read()).hexdigest().upper(),
                        }
                    )
        return out
    if name == "file-content":
        out = []
        for f in _walk(args.get("paths", [])):
            with open(f["local"], "rb") as handle:
                out.append(
                    {
                        "Path": f["FullName"],
                        "Base64": base64.b64encode(
                            handle.read(args.get("max_bytes", 1 << 20))
                        ).decode(),
                    }
                )
        return out
    raise KeyError(name)


def run_script(script):
    lines = [line.strip() for line in script.strip().splitlines() if line.strip()]
    if lines and lines[0].lower().startswith("# restore:"):
        name = lines[0].split(":", 1)[1].strip()
        args = {}
        for line in lines[1:]:
            if line.lower().startswith("# args:"):
                args = json.loads(line.split(":", 1)[1])
        try:
            return json.dumps(query(name, args)) + "\r\n", "", 0
        except KeyError:
            return "", "restore lab: unknown query %r\r\n" % name, 1
    out, rc = [], 0
    state = load_state()
    for line in lines:
        if line.startswith("#"):
            continue
        word = line.split()[0].lower()
        if word in ("hostname", "$env:computername"):
            out.append(state["hostname"])
        elif word == "whoami":
            out.append(state["hostname"] + "\\administrator")
        elif word in ("echo", "write-output", "write-host"):
            out.append(line.split(None, 1)[1].strip("'\"") if " " in line else "")
        elif word == "exit":
            return "\r\n".join(out), "", int(line.split()[1])
        elif word == "start-sleep":
            time.sleep(float(re.findall(r"[\d.]+", line)[0]))
        elif word == "test-path":
            target = line.split(None, 1)[1].strip("'\"")
            local = os.path.join(C_ROOT, target.replace("C:\\", "").replace("\\", "/"))
            out.append("True" if os.path.exists(local) else "False")
        elif word == "get-service":
            names = [n.strip() for n in line.split(None, 1)[1].split("|")[0].split(",")]
            found = [
                s for s in state["services"] if s["Name"].lower() in {n.lower() for n in names}
            ]
            missing = sorted({n for n in names} - {s["Name"] for s in found})
            if missing:
                return (
                    "",
                    "Get-Service : Cannot find any service with service name '%s'.\r\n"
                    % missing[0],
                    1,
                )
            out.append(json.dumps([{"Name": s["Name"], "Status": s["State"]} for s in found]))
            if any(s["State"] != "Running" for s in found):
                rc = 1
        else:
            return (
                "\r\n".join(out),
                "restore lab: this simulated Windows host does not understand: %s\r\n" % line,
                1,
            )
    return "\r\n".join(out) + ("\r\n" if out else ""), "", rc


def run_command(command):
    match = re.match(r"(?i)^\s*powershell(?:\.exe)?\b.*-e(?:ncodedcommand)?\s+(\S+)", command)
    if match:
        try:
            script = base64.b64decode(match.group(1)).decode("utf-16-le")
        except Exception:
            return "", "cannot decode -EncodedCommand\r\n", 1
        return run_script(script)
    return run_script(command)


# ---------------------------------------------------------------------------------------------
# WinRS over HTTP(S)


class Command:
    def __init__(self, command):
        self.stdout = b""
        self.stderr = b""
        self.rc = None
        self.done = threading.Event()
        self.delivered = False
        self.sent = 0  # stdout bytes already delivered (answers are chunked like WinRS's)
        threading.Thread(target=self._run, args=(command,), daemon=True).start()

    def _run(self, command):
        try:
            out, err, rc = run_command(command)
        except Exception as exc:  # the personality must answer, never crash the endpoint
            out, err, rc = "", "restore lab: %s\r\n" % exc, 1
        self.stdout, self.stderr, self.rc = out.encode(), err.encode(), rc
        self.done.set()


SHELLS = {}
LOCK = threading.Lock()


def envelope(action, relates_to, body):
    return (
        '<s:Envelope xmlns:s="%(s)s" xmlns:a="%(a)s" xmlns:w="%(w)s" xmlns:rsp="%(rsp)s" '
        'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer">'
        "<s:Header><a:Action>%(action)s</a:Action><a:MessageID>uuid:%(mid)s</a:MessageID>"
        "<a:RelatesTo>%(rel)s</a:RelatesTo><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To></s:Header>"
        "<s:Body>%(body)s</s:Body></s:Envelope>"
    ) % dict(NS, action=action, mid=uuid.uuid4(), rel=relates_to, body=body)


def fault(relates_to, code, subcode, reason, wsman_code):
    body = (
        "<s:Fault><s:Code><s:Value>s:%s</s:Value><s:Subcode><s:Value>w:%s</s:Value></s:Subcode></s:Code>"
        '<s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason><s:Detail>'
        '<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="%d" Machine="lab">'
        "<f:Message>%s</f:Message></f:WSManFault></s:Detail></s:Fault>"
    ) % (code, subcode, reason, wsman_code, reason)
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


def parse_timeout(text):
    match = re.match(r"PT([\d.]+)S", text or "")
    return float(match.group(1)) if match else 20.0


def handle_soap(xml):
    root = ET.fromstring(xml)
    header = root.find("s:Header", NS)
    action = header.findtext("a:Action", namespaces=NS).strip()
    message_id = header.findtext("a:MessageID", namespaces=NS)
    shell_id = None
    for selector in header.iter("{%s}Selector" % NS["w"]):
        if selector.get("Name") == "ShellId":
            shell_id = selector.text
    body = root.find("s:Body", NS)
    timeout = parse_timeout(header.findtext("w:OperationTimeout", namespaces=NS))
    if action.endswith("transfer/Create"):
        shell_id = str(uuid.uuid4()).upper()
        with LOCK:
            SHELLS[shell_id] = {}
        return 200, envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
            message_id,
            "<x:ResourceCreated><a:Address>http://lab/wsman</a:Address><a:ReferenceParameters>"
            '<w:ResourceURI>%s/cmd</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector>'
            "</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell><rsp:ShellId>%s</rsp:ShellId>"
            "<rsp:State>Connected</rsp:State></rsp:Shell>" % (SHELL_URI, shell_id, shell_id),
        )
    shell = SHELLS.get(shell_id)
    if shell is None:
        return 500, fault(
            message_id, "Sender", "InvalidSelectors", "The shell was not found.", 2150858843
        )
    if action.endswith("transfer/Delete"):
        with LOCK:
            SHELLS.pop(shell_id, None)
        return 200, envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", message_id, ""
        )
    if action == SHELL_URI + "/Command":
        line = body.find("rsp:CommandLine", NS)
        command = line.findtext("rsp:Command", default="", namespaces=NS)
        arguments = line.findtext("rsp:Arguments", default="", namespaces=NS)
        command_id = str(uuid.uuid4()).upper()
        shell[command_id] = Command((command + " " + arguments).strip())
        return 200, envelope(
            SHELL_URI + "/CommandResponse",
            message_id,
            "<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>"
            % command_id,
        )
    if action == SHELL_URI + "/Send":
        return 200, envelope(SHELL_URI + "/SendResponse", message_id, "<rsp:SendResponse/>")
    if action == SHELL_URI + "/Signal":
        return 200, envelope(SHELL_URI + "/SignalResponse", message_id, "<rsp:SignalResponse/>")
    if action == SHELL_URI + "/Receive":
        desired = body.find("rsp:Receive/rsp:DesiredStream", NS)
        command = shell.get(desired.get("CommandId")) if desired is not None else None
        if command is None:
            return 500, fault(
                message_id, "Sender", "InvalidParameter", "Unknown command.", 2150858843
            )
        if not command.done.wait(timeout):
            return 500, fault(
                message_id,
                "Receiver",
                "TimedOut",
                "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
                TIMEOUT_FAULT_CODE,
            )
        cid = desired.get("CommandId")
        # Like WinRS under MaxEnvelopeSize (150 KB): stdout in chunks, one per Receive.
        start = command.sent
        chunk = command.stdout[start : start + CHUNK_BYTES]
        command.sent = start + len(chunk)
        finished = command.sent >= len(command.stdout)
        parts = [("stdout", chunk)] + ([("stderr", command.stderr)] if start == 0 else [])
        streams = "".join(
            '<rsp:Stream Name="%s" CommandId="%s">%s</rsp:Stream>'
            % (name, cid, base64.b64encode(data).decode())
            for name, data in parts
            if data
        )
        if not finished:
            state = '<rsp:CommandState CommandId="%s" State="%s/CommandState/Running"/>' % (
                cid,
                SHELL_URI,
            )
            return 200, envelope(
                SHELL_URI + "/ReceiveResponse",
                message_id,
                "<rsp:ReceiveResponse>%s%s</rsp:ReceiveResponse>" % (streams, state),
            )
        streams += '<rsp:Stream Name="stdout" CommandId="%s" End="true"></rsp:Stream>' % cid
        state = (
            '<rsp:CommandState CommandId="%s" State="%s/CommandState/Done"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>'
            % (cid, SHELL_URI, command.rc)
        )
        return 200, envelope(
            SHELL_URI + "/ReceiveResponse",
            message_id,
            "<rsp:ReceiveResponse>%s%s</rsp:ReceiveResponse>" % (streams, state),
        )
    return 500, fault(
        message_id, "Sender", "ActionNotSupported", "Action not supported: %s" % action, 2150858771
    )


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"

    def log_message(self, *args):
        pass

    def _authorized(self):
        if os.path.exists(DENY_FLAG):
            return False
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return False
        config = self.server.config
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), bytes.fromhex(config["salt"]), 100000
        ).hex()
        return user == config["user"] and hmac.compare_digest(digest, config["password_pbkdf2"])

    def _reply(self, status, payload, extra=None):
        data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        payload = self.rfile.read(length)
        if not self._authorized():
            self._reply(401, "", {"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return
        try:
            status, answer = handle_soap(payload)
        except Exception as exc:
            status, answer = (
                500,
                fault("", "Sender", "SchemaValidationError", "bad request: %s" % exc, 2150858817),
            )
        self._reply(status, answer)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(config_path):
    with open(config_path) as handle:
        config = json.load(handle)
    servers = []
    for address in config["addresses"]:
        plain = Server((address, config["http_port"]), Handler)
        plain.config = config
        servers.append(plain)
        secure = Server((address, config["https_port"]), Handler)
        secure.config = config
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(config["cert"], config["key"])
        secure.socket = context.wrap_socket(secure.socket, server_side=True)
        servers.append(secure)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "reset":
        reset(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "infect":
        infect(sys.argv[2])
    else:
        raise SystemExit(__doc__)
