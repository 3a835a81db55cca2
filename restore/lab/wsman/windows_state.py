"""The lab Windows host's simulated state: what a clean host holds, and what attacks leave.

Standard library only: it runs chrooted in a lab host under the rootfs's python3, next to
personality.py, which answers the orchestrator's PowerShell from this state. The state lives
in this host's filesystem (/windows/state.json and files under /windows/C).

Usage (inside the host, through server.py): reset HOSTNAME | infect SCENARIO
"""

import datetime as dt
import json
import os

STATE = "/windows/state.json"
C_ROOT = "/windows/C"
RANSOM_NOTE = "Your files are encrypted. Contact us on Tor to recover them.\n"

# ---------------------------------------------------------------------------------------------
# simulated Windows state


def now_iso():
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _services(hostname):
    """A stock server's services, with a DC's or a SQL Server's own by the host's name."""
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
    return [
        {"Name": n, "DisplayName": d, "State": "Running", "StartMode": "Auto", "PathName": p}
        for n, d, p in services
    ]


def clean_state(hostname):
    """The state of a freshly installed host: what a clean check finds."""
    return {
        "hostname": hostname,
        "defender": {
            "AntivirusEnabled": True,
            "RealTimeProtectionEnabled": True,
            "AntivirusSignatureAge": 0,
            "TamperProtected": True,
        },
        "local_admins": ["Administrator", "CHU\\Domain Admins"],
        "services": _services(hostname),
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
