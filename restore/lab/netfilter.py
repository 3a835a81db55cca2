"""The lab's own nftables table: quarantine (production address cut) and the unreachable fault.

Lab hosts share the machine's network namespace, so the lab touches nothing but its own
table `restore_lab_<id>`, rewritten whole from the lab state on every change. A drop (not a
reject) behaves like a pulled cable: clients time out.
"""

from __future__ import annotations

import subprocess

from restore.errors import OperationalError


def table_name(lab_id: str) -> str:
    return f"restore_lab_{lab_id}"


def _set(addresses: list[str]) -> str:
    return "{ " + ", ".join(sorted(addresses)) + " }"


def ruleset(lab_id: str, cut: list[str]) -> str:
    """The `nft -f` script that makes the lab's table drop exactly `cut` (pure, for tests).

    It declares the table first so that the flush works on a fresh machine too, and then
    replaces every rule at once: one atomic nft transaction, never a half-applied state.
    """
    table = table_name(lab_id)
    lines_in = [f"    ip daddr {_set(cut)} drop"] if cut else []
    lines_out = [f"    ip daddr {_set(cut)} drop", f"    ip saddr {_set(cut)} drop"] if cut else []
    return "\n".join(
        [
            f"table inet {table}",
            f"flush table inet {table}",
            f"table inet {table} {{",
            "  chain input {",
            "    type filter hook input priority -5; policy accept;",
            *lines_in,
            "  }",
            "  chain output {",
            "    type filter hook output priority -5; policy accept;",
            *lines_out,
            "  }",
            "}",
            "",
        ]
    )


def apply(lab_id: str, cut: list[str]) -> None:
    """Drop all traffic to and from `cut` addresses; an empty list opens everything."""
    table = table_name(lab_id)
    script = ruleset(lab_id, cut)
    result = subprocess.run(
        ["nft", "-f", "-"], input=script, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise OperationalError(f"nft failed for table {table}: {result.stderr.strip()}")


def remove(lab_id: str) -> None:
    subprocess.run(
        ["nft", "delete", "table", "inet", table_name(lab_id)], capture_output=True, check=False
    )


def exists(lab_id: str) -> bool:
    result = subprocess.run(
        ["nft", "list", "table", "inet", table_name(lab_id)], capture_output=True, check=False
    )
    return result.returncode == 0
