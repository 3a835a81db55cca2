"""Windows facts: small PowerShell scripts that print JSON, and pure parsers.

Each script starts with ``# restore:<query>`` and, when it takes arguments, ``# args: {json}``.
The lab's simulated Windows host (restore/lab/wsman/server.py) answers by that marker, so the
lab proves transport, parsers and verdicts; the PowerShell itself is kept small, uses only
built-in cmdlets, and is catalogued with its JSON shape in docs/windows-queries.md.
Output property names are those of the Windows cmdlets themselves (Get-MpComputerStatus,
Win32_Service, Get-ScheduledTask...).
"""

from __future__ import annotations

import json
from typing import Any

from restore.integrity.checks.catalog import (
    Context,
    Fact,
    FactError,
    Parsed,
    Unaccounted,
    raw,
    require_rc,
)
from restore.models import CommandOutput


def script(name: str, body: str, args: dict[str, Any] | None = None) -> str:
    """A catalog script: marker line, optional args line (also bound to $a), then the body."""
    head = f"# restore:{name}\n"
    if args is not None:
        encoded = json.dumps(args, separators=(",", ":"))
        quoted = encoded.replace("'", "''")
        head += f"# args: {encoded}\n$a = '{quoted}' | ConvertFrom-Json\n"
    return head + "$ErrorActionPreference = 'Stop'\n" + body.strip() + "\n"


def parse_json(output: CommandOutput) -> Any:
    require_rc(output)
    text = output.stdout.strip()
    if not text:
        return []
    try:
        return json.loads(text)
    except ValueError:
        raise FactError(f"not JSON: {text[:80]!r}") from None


def as_list(value: Any) -> list[Any]:
    """PowerShell's ConvertTo-Json turns a one-element array into that element."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


DEFENDER = script(
    "defender",
    "Get-MpComputerStatus | Select-Object AntivirusEnabled, RealTimeProtectionEnabled, "
    "AntivirusSignatureAge, TamperProtected | ConvertTo-Json -Compress",
)
LOCAL_ADMINS = script(
    "local-admins",
    "ConvertTo-Json -Compress -InputObject @(Get-LocalGroupMember -SID 'S-1-5-32-544' "
    "| ForEach-Object { $_.Name })",
)
SERVICES = script(
    "services",
    "ConvertTo-Json -Compress -InputObject @(Get-CimInstance Win32_Service "
    "| Select-Object Name, DisplayName, State, StartMode, PathName)",
)
SCHEDULED_TASKS = script(
    "scheduled-tasks",
    "ConvertTo-Json -Compress -InputObject @(Get-ScheduledTask | ForEach-Object { "
    "[pscustomobject]@{TaskName=$_.TaskName; TaskPath=$_.TaskPath; State=[string]$_.State; "
    'Execute=(($_.Actions | ForEach-Object { "$($_.Execute) $($_.Arguments)".Trim() }) '
    "-join '; ')} })",
)
RUN_KEYS = script(
    "run-keys",
    "$keys = 'HKLM:\\Software\\Microsoft\\Windows\\CurrentVersion\\Run',"
    "'HKLM:\\Software\\Microsoft\\Windows\\CurrentVersion\\RunOnce',"
    "'HKLM:\\Software\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Run',"
    "'HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\Run',"
    "'HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\RunOnce'\n"
    "ConvertTo-Json -Compress -InputObject @(foreach ($k in $keys) { "
    "if (Test-Path $k) { $p = Get-ItemProperty -Path $k; "
    "$p.PSObject.Properties | Where-Object { $_.Name -notlike 'PS*' } | ForEach-Object { "
    "[pscustomobject]@{Key=$k; Name=$_.Name; Value=[string]$_.Value} } } })",
)
WMI_SUBSCRIPTIONS = script(
    "wmi-subscriptions",
    "ConvertTo-Json -Compress -InputObject @(Get-CimInstance -Namespace root/subscription "
    "-ClassName __EventConsumer | ForEach-Object { [pscustomobject]@{Name=$_.Name; "
    "Type=$_.CimClass.CimClassName; Command=[string]($_.CommandLineTemplate + $_.ScriptText)} })",
)
LOG_CLEARED = script(
    "events",
    "ConvertTo-Json -Compress -InputObject @(Get-WinEvent -ErrorAction SilentlyContinue "
    "-FilterHashtable @{LogName='Security'; Id=$a.ids} | Select-Object LogName, Id, "
    "@{n='TimeCreated'; e={$_.TimeCreated.ToString('o')}}, Message)",
    {"ids": [1102]},
)
SHADOW_COPIES = script(
    "shadow-copies",
    "$n = @(Get-CimInstance Win32_ShadowCopy).Count\n"
    "$d = @(Get-WinEvent -ErrorAction SilentlyContinue -FilterHashtable @{LogName='Security'; "
    "Id=4688} | Where-Object { $_.Message -match 'vssadmin.*delete|shadowcopy.*delete|"
    "wbadmin.*delete|resize shadowstorage' } | ForEach-Object { [pscustomobject]@{"
    "TimeCreated=$_.TimeCreated.ToString('o'); CommandLine=$_.Properties[8].Value} })\n"
    "@{Count=$n; DeletionCommands=$d} | ConvertTo-Json -Compress -Depth 4",
)


def files_script(ctx: Context) -> str:
    return script(
        "files",
        "ConvertTo-Json -Compress -InputObject @(foreach ($p in $a.paths) { "
        "if (Test-Path -LiteralPath $p) { Get-ChildItem -LiteralPath $p -Recurse -File -Force "
        "-ErrorAction SilentlyContinue -Include $a.include | Select-Object FullName, Length, "
        "@{n='LastWriteTime'; e={$_.LastWriteTime.ToString('o')}} } })",
        {"paths": list(ctx.data_paths), "include": list(ctx.indicators.globs())},
    )


def parse_defender(output: CommandOutput) -> Parsed:
    data = parse_json(output)
    if not isinstance(data, dict) or "RealTimeProtectionEnabled" not in data:
        raise FactError("Get-MpComputerStatus gave no status (is Defender installed?)")
    odd = [
        f"{key}: {_odd(data[key])}"
        for key, kind in _DEFENDER_TYPES.items()
        if key in data and not _typed(data[key], kind)
    ]
    return Parsed(data, tuple(odd))


def _typed(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    return isinstance(value, int) and not isinstance(value, bool)


# A "false" string is truthy: a value of another type is reported, not interpreted.
_DEFENDER_TYPES: dict[str, type] = {
    "AntivirusEnabled": bool,
    "RealTimeProtectionEnabled": bool,
    "AntivirusSignatureAge": int,
}


def _odd(item: Any) -> str:
    return raw(json.dumps(item, ensure_ascii=False)[:300])


def parse_names(output: CommandOutput) -> Parsed:
    """A list of names; anything but a string or a number is unaccounted for."""
    names, odd = [], Unaccounted()
    for item in as_list(parse_json(output)):
        if isinstance(item, str | int) and not isinstance(item, bool):
            names.append(str(item))
        else:
            odd.add(_odd(item))
    return Parsed(sorted(names), odd.result())


def parse_keyed(*key_fields: str, value_field: str) -> Any:
    """Parser of a list of objects into {'k1\\k2': value}: comparable with a baseline.

    An item that is not an object, or lacks a key field, is unaccounted for (a finding),
    never an exception and never silently dropped.
    """

    def parse(output: CommandOutput) -> Parsed:
        result: dict[str, str] = {}
        odd = Unaccounted()
        for item in as_list(parse_json(output)):
            if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str | int) for k in key_fields
            ):
                odd.add(_odd(item))
                continue
            key = "\\".join(str(item[k]).strip("\\") for k in key_fields)
            value = item.get(value_field)
            if value is not None and not isinstance(value, str | int | float):
                odd.add(_odd(item))
            result[key] = str(value or "")
        return Parsed(result, odd.result())

    return parse


def parse_events(output: CommandOutput) -> Parsed:
    items = as_list(parse_json(output))
    events = [e for e in items if isinstance(e, dict)]
    odd = Unaccounted()
    for item in items:
        if not isinstance(item, dict):
            odd.add(_odd(item))
    return Parsed(events, odd.result())


def parse_shadow_copies(output: CommandOutput) -> Parsed:
    data = parse_json(output)
    if not isinstance(data, dict):
        raise FactError(f"unexpected shadow-copy answer: {_odd(data)}")
    count = data.get("Count")
    if not isinstance(count, int) or isinstance(count, bool):
        raise FactError(f"unexpected shadow-copy count: {_odd(count)}")
    deletions, odd = [], Unaccounted()
    for d in as_list(data.get("DeletionCommands")):
        if isinstance(d, dict):
            deletions.append({"time": d.get("TimeCreated"), "command": d.get("CommandLine")})
        else:  # a deletion record we cannot read is still a deletion on record
            deletions.append({"time": None, "command": _odd(d)})
            odd.add(_odd(d))
    return Parsed({"count": count, "deletions": deletions}, odd.result())


def parse_files(output: CommandOutput) -> Parsed:
    files, odd = [], Unaccounted()
    for f in as_list(parse_json(output)):
        if not isinstance(f, dict) or not isinstance(f.get("FullName"), str):
            odd.add(_odd(f))
            continue
        length = f.get("Length")
        files.append({"path": f["FullName"], "size": length if isinstance(length, int) else 0})
    return Parsed(files, odd.result())


FACTS = (
    Fact("defender", lambda ctx: DEFENDER, parse_defender, in_baseline=False),
    Fact("local_admins", lambda ctx: LOCAL_ADMINS, parse_names),
    Fact("services", lambda ctx: SERVICES, parse_keyed("Name", value_field="PathName")),
    Fact(
        "scheduled_tasks",
        lambda ctx: SCHEDULED_TASKS,
        parse_keyed("TaskPath", "TaskName", value_field="Execute"),
    ),
    Fact("run_keys", lambda ctx: RUN_KEYS, parse_keyed("Key", "Name", value_field="Value")),
    Fact(
        "wmi_subscriptions",
        lambda ctx: WMI_SUBSCRIPTIONS,
        parse_keyed("Type", "Name", value_field="Command"),
    ),
    Fact("security_log_cleared", lambda ctx: LOG_CLEARED, parse_events, in_baseline=False),
    Fact("shadow_copies", lambda ctx: SHADOW_COPIES, parse_shadow_copies),
    Fact("ransom_files", files_script, parse_files, in_baseline=False),
)
