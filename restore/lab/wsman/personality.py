"""The lab Windows host's "personality": the PowerShell it answers from its simulated state.

Standard library only, plus the parse gate (parse_gate.py, tree-sitter): it runs chrooted in a
lab host under the rootfs's python3. Every text it is sent is parsed first, and one that does
not parse gets PowerShell's parser error and exit code 1, never an answer.

The PowerShell the orchestrator sends is small and emits JSON; each script starts with a marker
line `# restore:<query>` (and optionally `# args: {json}`) that names what it asks. The answers
come from a simulated state kept in this host's filesystem (windows_state.py: /windows/state.json
and files under /windows/C). A few plain commands (hostname, whoami, echo, Get-Service [NAMES], Test-Path,
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
    import windows_state
except ImportError:  # imported from the control side (unit tests)
    from restore.lab.wsman import parse_gate, windows_state

# The state's entry points, as server.py (reset, infect) and the control side use them.
C_ROOT = windows_state.C_ROOT
WINDOWS_SCENARIOS = windows_state.WINDOWS_SCENARIOS
load_state = windows_state.load_state
reset = windows_state.reset
infect = windows_state.infect

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
