"""The lab Windows host's "personality": a simulated Windows state and the PowerShell it answers.

Standard library only, plus the parse gate (parse_gate.py, tree-sitter): it runs chrooted in a
lab host under the rootfs's python3. Every text it is sent is parsed first, and one that does
not parse gets PowerShell's parser error and exit code 1, never an answer.

The PowerShell the orchestrator sends is small and emits JSON; each script starts with a marker
line `# restore:<query>` (and optionally `# args: {json}`) that names what it asks. The answers
come from a simulated state kept in this host's filesystem (/windows/state.json and files under
/windows/C). A few plain commands (hostname, whoami, echo, Get-Service [NAMES], Test-Path,
Start-Sleep, exit N) are understood too; anything else exits 1 with a clear message. This proves
the transport, parsers and verdicts; it does not prove real PowerShell semantics.

Usage (inside the host): personality.py reset HOSTNAME | personality.py infect SCENARIO
"""

import base64
import datetime as dt
import hashlib
import json
import os
import re
import sys
import time

try:  # inside the lab host the modules sit side by side
    import parse_gate
except ImportError:  # imported from the control side (unit tests)
    from restore.lab.wsman import parse_gate

STATE = "/windows/state.json"
C_ROOT = "/windows/C"
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
    """Answer a script as (stdout, stderr, rc); never raises, never shows Python error text."""
    try:
        return _run_script(script)
    except Exception:
        return "", "restore lab: this simulated Windows host cannot answer this script\r\n", 1


def _not_understood(out, line):
    return (
        "\r\n".join(out),
        "restore lab: this simulated Windows host does not understand: %s\r\n" % line,
        1,
    )


def _marked_query(lines):
    name = lines[0].split(":", 1)[1].strip()
    args = {}
    for line in lines[1:]:
        if line.lower().startswith("# args:"):
            try:
                args = json.loads(line.split(":", 1)[1])
            except ValueError:
                return "", "restore lab: the '# args:' line of %r is not JSON\r\n" % name, 1
    if not isinstance(args, dict):
        return "", "restore lab: the '# args:' line of %r is not a JSON object\r\n" % name, 1
    try:
        return json.dumps(query(name, args)) + "\r\n", "", 0
    except KeyError:
        return "", "restore lab: unknown query %r\r\n" % name, 1


def _get_service(state, line):
    """`Get-Service [A,B]` (a trailing pipeline such as `| ConvertTo-Json` is ignored)."""
    words = line.split("|")[0].split(None, 1)
    names = [n.strip(" '\"") for n in words[1].split(",")] if len(words) > 1 else []
    names = [n for n in names if n]
    wanted = {n.lower() for n in names}
    found = [s for s in state["services"] if not wanted or s["Name"].lower() in wanted]
    present = {s["Name"].lower() for s in found}
    missing = [n for n in names if n.lower() not in present]
    if missing:
        return None, "Get-Service : Cannot find any service with service name '%s'.\r\n" % missing[
            0
        ]
    return found, ""


def _run_script(script):
    lines = [line.strip() for line in script.strip().splitlines() if line.strip()]
    if lines and lines[0].lower().startswith("# restore:"):
        return _marked_query(lines)
    out, rc = [], 0
    state = load_state()
    for line in lines:
        if line.startswith("#"):
            continue
        words = line.split()
        word = words[0].lower()
        if word in ("hostname", "$env:computername"):
            out.append(state["hostname"])
        elif word == "whoami":
            out.append(state["hostname"] + "\\administrator")
        elif word in ("echo", "write-output", "write-host"):
            out.append(line.split(None, 1)[1].strip("'\"") if len(words) > 1 else "")
        elif word == "exit":
            if len(words) == 1:
                return "\r\n".join(out), "", 0
            if not re.fullmatch(r"-?\d+", words[1]):
                return _not_understood(out, line)
            return "\r\n".join(out), "", int(words[1])
        elif word == "start-sleep":
            seconds = re.findall(r"\d+(?:\.\d+)?", line)
            if not seconds:
                return _not_understood(out, line)
            time.sleep(min(float(seconds[0]), 3600.0))
        elif word == "test-path" and len(words) > 1:
            target = line.split(None, 1)[1].strip("'\"")
            local = os.path.join(C_ROOT, target.replace("C:\\", "").replace("\\", "/"))
            out.append("True" if os.path.exists(local) else "False")
        elif word == "get-service":
            found, error = _get_service(state, line)
            if found is None:
                return "", error, 1
            out.append(json.dumps([{"Name": s["Name"], "Status": s["State"]} for s in found]))
            if any(s["State"] != "Running" for s in found):
                rc = 1
        else:
            return _not_understood(out, line)
    return "\r\n".join(out) + ("\r\n" if out else ""), "", rc


def run_command(command):
    match = re.match(r"(?i)^\s*powershell(?:\.exe)?\b.*-e(?:ncodedcommand)?\s+(\S+)", command)
    if match:
        try:
            script = base64.b64decode(match.group(1)).decode("utf-16-le")
        except Exception:
            return "", "cannot decode -EncodedCommand\r\n", 1
        return parse_gate.parser_error(script, clixml=True) or run_script(script)
    return parse_gate.parser_error(command) or run_script(command)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "reset":
        reset(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "infect":
        infect(sys.argv[2])
    else:
        raise SystemExit(__doc__)
