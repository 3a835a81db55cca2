"""The directory checks of a DC holding 10,000 users and 2,000 groups, vs `ldapsearch`.

One lab DC (real Samba AD DC) is seeded over LDAPS with USERS users (one in ten with an SPN)
and GROUPS groups of five members each. Then, side by side on the same DC, best of ROUNDS:
  - yardstick: `ldapsearch` (OpenLDAP, ldap-utils) of the same filter and attributes, paged
    at 1,000, over LDAPS, output to /dev/null;
  - restore: the directory part of `restore check` (bind, read, every dir-* check), in process;
  - for context, the whole `restore check` CLI of the DC (host checks over SSH included).
Prints one line: the times, the ratio restore / ldapsearch (target: at most 1.5) and the
machine's load average (other work on the 2 cores slows both sides, restore's more).

Both sides send the same search: filter, attributes, page size 1,000, no alias dereferencing
(ldapsearch's default; ldap3 dereferenced always, which AD ignores), over LDAPS. Restore reads
on one connection and asks for each page as soon as the last one has arrived, decoding it by
hand (restore/directory/ber.py) while the DC prepares the next (paging.py): the DC's work,
which is all of ldapsearch's time, hides restore's decoding. Measured 2026-11-30 on 2 shared
cores: ldapsearch 2.70 s, restore 3.08 s, ratio 1.14 (load 1.4 to 3); 2.64 s, 3.20 s, 1.21
(load 4 to 1); 2.60 s, 3.20 s, 1.23 (load 2.6). Before: 2.60 s, 4.85 s, 1.86 (load 0.7 to
2.6): ldap3's search and decoder, 2.6 s of CPU a read, after the DC's work instead of during
it. docs/directory.md says more.

Run as root: .venv/bin/python bench/directory.py   (needs `ldapsearch`: apt-get install ldap-utils)
ldapsearch cannot verify the DC's certificate by IP address (it names DC01.lab.test), so the
yardstick runs with LDAPTLS_REQCERT=never; the handshake costs the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ldap3 import ASYNC, Connection, Server, Tls

from restore.directory import analysis
from restore.directory.checks import read_directory
from restore.directory.fetch import ACCOUNT_ATTRIBUTES, ACCOUNT_FILTER
from restore.inputs.inventory import load_inventory
from restore.lab import Lab
from restore.models import Platform

USERS, GROUPS, MEMBERS, ROUNDS = 10_000, 2_000, 5, 3


def seed(address: str, ca_file: str, admin: str, password: str, base: str) -> float:
    """Users and groups added over LDAPS, pipelined (ldap3's asynchronous strategy)."""
    import ssl

    started = time.monotonic()
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file, valid_names=["dc01.lab.test"])
    server = Server(address, port=636, use_ssl=True, tls=tls, get_info=None)
    conn = Connection(server, user=admin, password=password, client_strategy=ASYNC, auto_bind=True)
    ou = f"OU=Bench,{base}"
    conn.get_response(conn.add(ou, ["top", "organizationalUnit"]))
    pending: list[int] = []

    def drain(limit: int) -> None:
        while len(pending) > limit:
            conn.get_response(pending.pop(0))

    for i in range(USERS):
        attrs = {"sAMAccountName": f"bench.u{i:05d}"}
        if i % 10 == 0:
            attrs["servicePrincipalName"] = f"HTTP/app{i:05d}.lab.test"
        pending.append(
            conn.add(
                f"CN=bench.u{i:05d},{ou}", ["top", "person", "organizationalPerson", "user"], attrs
            )
        )
        drain(200)
    for g in range(GROUPS):
        members = [f"CN=bench.u{(g * MEMBERS + k) % USERS:05d},{ou}" for k in range(MEMBERS)]
        pending.append(
            conn.add(
                f"CN=bench.g{g:04d},{ou}",
                ["top", "group"],
                {"sAMAccountName": f"bench.g{g:04d}", "member": members},
            )
        )
        drain(200)
    drain(0)
    conn.unbind()
    return time.monotonic() - started


def best(fn, rounds: int = ROUNDS) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        fn()
        times.append(time.monotonic() - started)
    return min(times)


def whole_check(inventory: Path, since: datetime, state: Path) -> str:
    """The CLI's time, for context; bounded (a stuck CLI must not hang the bench)."""
    started = time.monotonic()
    try:
        subprocess.run(
            [sys.executable, "-m", "restore", "check", "-i", str(inventory), "dc01",
             "--since", since.isoformat(), "--no-evidence", "--state-dir", str(state)],
            capture_output=True, check=False, timeout=300,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "did not end in 300 s"
    return f"{time.monotonic() - started:.1f}s"


def main() -> None:
    state = Path(tempfile.mkdtemp(prefix="bench-directory-"))
    lab = Lab(state)
    try:
        started = time.monotonic()
        inventory_path = lab.up([("dc01", Platform.LINUX)], roles={"dc01": "domain_controller"})
        up_s = time.monotonic() - started
        host = load_inventory(inventory_path, with_secrets=True).host("dc01")
        base = "DC=lab,DC=test"
        seed_s = seed(
            host.address,
            str(host.var("restore_ldap_ca_file")),
            str(host.var("restore_lab_domain_admin")),
            str(host.secret("restore_lab_domain_admin_password")),
            base,
        )
        ldapsearch = [
            "ldapsearch", "-LLL", "-x", "-H", f"ldaps://{host.address}",
            "-D", str(host.var("restore_ldap_bind_dn")), "-y", "/dev/stdin",
            "-b", base, "-E", "pr=1000/noprompt", ACCOUNT_FILTER, *ACCOUNT_ATTRIBUTES,
        ]  # fmt: skip
        env = {**os.environ, "LDAPTLS_REQCERT": "never"}
        password = str(host.secret("restore_ldap_bind_password"))

        def yardstick() -> None:
            subprocess.run(
                ldapsearch, input=password.encode(), env=env, stdout=subprocess.DEVNULL, check=True
            )

        since = datetime.now(UTC)
        counted: list[int] = []

        def directory_check() -> None:
            snapshot = read_directory(host)
            counted.append(len(snapshot.entries))
            analysis.evaluate(snapshot, since, analysis.baseline_facts(snapshot))

        yardstick()  # warm both paths (DC caches) once
        directory_check()
        ldap_s = best(yardstick)
        restore_s = best(directory_check)
        load = os.getloadavg()[0]
        print(
            f"directory: {counted[-1]} objects read; dc up {up_s:.1f}s, seed {seed_s:.0f}s; "
            f"ldapsearch {ldap_s:.2f}s, restore directory checks {restore_s:.2f}s "
            f"(ratio {restore_s / ldap_s:.2f}, target <= 1.5); load {load:.2f}; "
            f"whole `restore check` {whole_check(inventory_path, since, state)}",
            flush=True,
        )
    finally:
        Lab(state).down()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
