"""The built-in lab: real hosts on one machine, for rehearsals, CI and our own tests.

State lives in `<state dir>/lab/lab.json`: every host's number, addresses, holder PID and
faults, so that `restore lab down` cleans up from recorded PIDs even after a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import secrets
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from restore.errors import InputError, OperationalError
from restore.lab import alloc, booting, lab_inventory, netfilter, runtime
from restore.lab.lab_host import LabHost
from restore.lab.rootfs import ensure_rootfs
from restore.lab.scenarios import LINUX_SCENARIOS
from restore.models import Platform

__all__ = ["FAULTS", "Lab", "LabHost", "rootfs_in_use"]

FAULTS = ("unreachable", "hang", "deny-auth")


class Lab:
    """A lab under one state dir. Every method is safe to call again after a crash."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir.resolve()
        self.dir = self.state_dir / "lab"
        self.state_file = self.dir / "lab.json"
        self.key_file = self.dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.inventory_file = self.dir / "inventory.yml"
        self.lab_id = ""
        self.rootfs: Path | None = None
        self.hosts: dict[str, LabHost] = {}
        # inventory groups copied from the inventory the lab twins (name -> members in order)
        self.groups: dict[str, list[str]] = {}
        # host -> the lab host that runs its playbooks (restore_execution_node)
        self.execution_nodes: dict[str, str] = {}
        # Windows hosts accept Basic and unencrypted traffic over HTTP (`lab up --winrm-lenient`)
        self.winrm_lenient = False
        self._load()

    # -- state --------------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return
        self.lab_id = data.get("id", "")
        self.rootfs = Path(data["rootfs"]) if data.get("rootfs") else None
        self.hosts = {h["name"]: LabHost(**h) for h in data.get("hosts", [])}
        self.groups = {str(k): list(v) for k, v in data.get("groups", {}).items()}
        self.execution_nodes = {str(k): str(v) for k, v in data.get("execution_nodes", {}).items()}
        self.winrm_lenient = bool(data.get("winrm_lenient", False))

    def _save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {
            "id": self.lab_id,
            "rootfs": str(self.rootfs) if self.rootfs else None,
            "hosts": [asdict(h) for h in self.hosts.values()],
            "groups": self.groups,
            "execution_nodes": self.execution_nodes,
            "winrm_lenient": self.winrm_lenient,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.state_file)

    @property
    def exists(self) -> bool:
        return self.state_file.exists()

    def host(self, name: str) -> LabHost:
        try:
            return self.hosts[name]
        except KeyError:
            from restore.inputs.graph import did_you_mean

            raise InputError(
                f"no lab host '{name}' in {self.state_dir}",
                hint=did_you_mean(name, self.hosts) or "see `restore lab status`",
            ) from None

    def host_dir(self, name: str) -> Path:
        return self.dir / "hosts" / name

    # -- up / down ----------------------------------------------------------------------------

    def up(
        self,
        wanted: list[tuple[str, Platform]],
        rebuild_rootfs: bool = False,
        groups: dict[str, list[str]] | None = None,
        execution_nodes: dict[str, str] | None = None,
        winrm_lenient: bool | None = None,
        ports: dict[str, list[int]] | None = None,
        roles: dict[str, str] | None = None,
        progress: Callable[[str], None] | None = None,
        replicas: dict[str, str] | None = None,
    ) -> Path:
        """Create the hosts that are not running yet; return the lab inventory's path.

        `groups` copies inventory groups onto the twins, so that a graph's "@group" references
        expand to the same hosts in the same order as in the real inventory.
        `execution_nodes` (host -> node) becomes each host's `restore_execution_node`.
        `winrm_lenient` (None: keep the lab's setting) lets the Windows hosts booted from now on
        accept Basic and unencrypted traffic over HTTP, which a stock Windows host refuses.
        `ports` (host -> TCP ports) are served by the twin's responder from its next boot on
        (restore.lab.twin_ports: the ports its graph's health probes name).
        `progress` is called with each host's name once it is up (from this thread).
        `roles` (host -> role): "domain_controller" makes the host a Samba AD DC.
        `replicas` (DC -> another DC of `wanted`): the first joins the second's domain
        (booted after it) instead of being a domain of its own.
        """
        from restore.lab.prereq import require_lab_tools

        require_lab_tools()
        names = [n for n, _ in wanted]
        if len(set(names)) != len(names):
            raise InputError("duplicate host names for the lab")
        self.dir.mkdir(parents=True, exist_ok=True)
        for group, members in (groups or {}).items():
            self.groups[group] = [m for m in members if m in names or m in self.hosts]
        self.execution_nodes.update(execution_nodes or {})
        if winrm_lenient is not None:
            self.winrm_lenient = winrm_lenient
        if not self.lab_id:
            self.lab_id = secrets.token_hex(3)
        self._save()  # the number registry reclaims numbers of labs without a state file
        self.rootfs = ensure_rootfs(rebuild=rebuild_rootfs, in_use=rootfs_in_use)
        self._ensure_key()
        self._add_hosts(wanted, roles or {}, ports or {}, replicas or {})
        try:
            hosts = [self.hosts[n] for n in names]
            booting.boot_all(self, hosts, self._save, progress)
        finally:
            self._apply_network()
            lab_inventory.write_known_hosts(self)
            self.write_inventory()
        return self.inventory_file

    def _ensure_key(self) -> None:
        """The lab's own SSH key: root's authorized key on every Linux twin."""
        if self.key_file.exists():
            return
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        comment = ["-C", f"restore-lab-{self.lab_id}"]
        subprocess.run([*keygen, *comment, "-f", str(self.key_file)], check=True)

    def _add_hosts(
        self,
        wanted: list[tuple[str, Platform]],
        roles: dict[str, str],
        ports: dict[str, list[int]],
        replicas: dict[str, str],
    ) -> None:
        """Record the hosts not in the lab yet, each with a number of its own (its addresses),
        and every named host's probe ports; saved before any boot."""
        new = [(n, p) for n, p in wanted if n not in self.hosts]
        numbers = alloc.allocate(self.state_dir, len(new))
        for (name, platform), number in zip(new, numbers, strict=True):
            self.hosts[name] = LabHost(
                name=name,
                platform=platform.value,
                number=number,
                management=alloc.management_address(number),
                production=alloc.production_address(number),
                role=roles.get(name),
                replica_of=replicas.get(name),
            )
        for name, extra in ports.items():
            if name in self.hosts:
                self.hosts[name].ports = sorted(set(extra))
        self._save()

    def down(self, progress: Callable[[str], None] | None = None) -> list[str]:
        """Tear everything down from recorded PIDs; returns what was removed.

        The state is re-read first: another process (a run's reimage step) may have rebooted
        hosts since this object loaded it, and their new holder PIDs are only on disk. Holders
        still running a boot script of this lab are found from /proc too, so a crash between
        a boot and the state write leaks nothing.
        """
        self._load()
        removed = []
        for pid in runtime.holders_under(self.dir / "hosts"):
            runtime.kill(pid)
        for host in self.hosts.values():
            runtime.kill(host.holder_pid)
            runtime.unmount(self.host_dir(host.name) / "rw")
            removed.append(host.name)
            if progress is not None:
                progress(host.name)
        if self.lab_id:
            netfilter.remove(self.lab_id)
        # anything still mounted under the lab dir (a crashed boot) goes too
        for line in Path("/proc/self/mounts").read_text().splitlines():
            mount_point = line.split()[1]
            if mount_point.startswith(str(self.dir) + "/"):
                runtime.unmount(Path(mount_point))
        alloc.release([h.number for h in self.hosts.values()])
        shutil.rmtree(self.dir / "hosts", ignore_errors=True)
        self.state_file.unlink(missing_ok=True)
        for path in (self.inventory_file, self.known_hosts):
            path.unlink(missing_ok=True)
        self.hosts = {}
        return removed

    # -- one host -----------------------------------------------------------------------------

    def host_public_key(self, name: str) -> str:
        """The host's current public key, as the lab (trusted path) generated it."""
        pub = self.host_dir(name) / "rw" / "upper" / "etc" / "ssh" / "ssh_host_ed25519_key.pub"
        if pub.exists():
            return " ".join(pub.read_text().split()[:2])
        from restore.lab.windows import ssh_less_marker

        return ssh_less_marker(name)

    def _apply_network(self) -> None:
        cut: list[str] = []
        for host in self.hosts.values():
            if host.quarantined or "unreachable" in host.faults:
                cut.append(host.production)
            if "unreachable" in host.faults:
                cut.append(host.management)
        netfilter.apply(self.lab_id, cut)

    @contextlib.contextmanager
    def _updating(self) -> Iterator[None]:
        """Re-read, change and write the state under a lock: several processes and threads
        (a run reimaging hosts in parallel, an operator's `restore lab ...`) share it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / ".state.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._load()
            yield
            self._save()

    def reset(self, name: str) -> str:
        """Reimage from the golden image: wipe the upper dir, keep identity, new host key.

        Returns the new public host key, already written to the lab's known_hosts.
        """
        self._load()
        host = self.host(name)
        runtime.kill(host.holder_pid)
        booting.boot(self, host, fresh=True)
        with self._updating():
            current = self.host(name)
            current.holder_pid = host.holder_pid
            current.rootfs = host.rootfs
            current.faults = [f for f in current.faults if f == "unreachable"]
            lab_inventory.write_known_hosts(self)
            if current.replica_of:  # it joined again, with a CA of its own: the inventory's
                from restore.lab import samba_replica  # CA file must be that one now

                samba_replica.ca_file(self, current)
        return self.host_public_key(name)

    def quarantine(self, name: str, on: bool = True) -> None:
        with self._updating():
            self.host(name).quarantined = on
        self._apply_network()

    def fault(self, name: str, fault: str | None) -> None:
        """Inject `fault` (unreachable, hang, deny-auth) or clear all with None."""
        self._load()  # another process may have rebooted hosts since this object loaded
        host = self.host(name)
        merged = self.host_dir(name) / "merged"
        if fault is None:
            if "hang" in host.faults and host.holder_pid:
                runtime.signal_host(host.holder_pid, signal.SIGCONT)
            if "deny-auth" in host.faults:
                self._set_auth(host, merged, allow=True)
            host.faults = []
        elif fault not in FAULTS:
            raise InputError(f"unknown fault '{fault}'", hint=f"one of {', '.join(FAULTS)}")
        else:
            if fault == "hang" and host.holder_pid:
                runtime.signal_host(host.holder_pid, signal.SIGSTOP)
            if fault == "deny-auth":
                self._set_auth(host, merged, allow=False)
            if fault not in host.faults:
                host.faults.append(fault)
        self._save()
        self._apply_network()

    def _set_auth(self, host: LabHost, merged: Path, allow: bool) -> None:
        if host.platform == Platform.WINDOWS.value:
            from restore.lab.windows import set_auth

            set_auth(self, host, allow)
            return
        key = self.key_file.with_suffix(".pub").read_text().strip() if allow else ""
        self._inside(host, f"printf '%s\\n' '{key}' > /root/.ssh/authorized_keys")

    def _inside(self, host: LabHost, script: str) -> str:
        if not runtime.alive(host.holder_pid):
            raise OperationalError(f"lab host {host.name} is not running (restore lab up)")
        assert host.holder_pid is not None
        result = runtime.run_inside(host.holder_pid, self.host_dir(host.name) / "merged", script)
        if result.returncode != 0:
            raise OperationalError(
                f"on lab host {host.name}: {result.stderr.strip() or result.stdout}"
            )
        return result.stdout

    def infect(self, name: str, scenario: str) -> None:
        self._load()
        host = self.host(name)
        if host.role == "domain_controller":
            from restore.lab.dc_scenarios import DC_SCENARIOS, infect_dc

            if scenario in DC_SCENARIOS:
                infect_dc(self, host, scenario)
                return
        if host.platform == Platform.WINDOWS.value:
            from restore.lab.windows import infect

            infect(self, host, scenario)
            return
        if scenario not in LINUX_SCENARIOS:
            from restore.inputs.graph import did_you_mean

            raise InputError(
                f"unknown Linux scenario '{scenario}'",
                hint=did_you_mean(scenario, LINUX_SCENARIOS)
                or f"one of {', '.join(LINUX_SCENARIOS)}",
            )
        self._inside(host, "set -e\n" + LINUX_SCENARIOS[scenario])

    def replicate(self, primary: str) -> list[str]:
        """The DCs that replicate from `primary` pull from it now; returns their names."""
        self._load()
        replicas = [h for h in self.hosts.values() if h.replica_of == primary]
        if replicas:
            from restore.lab import samba_replica

            for host in replicas:
                samba_replica.pull_now(self, host)
        return [h.name for h in replicas]

    def run_on(self, name: str, script: str) -> str:
        """Run a script inside a lab host through the lab (for tests and seeding)."""
        self._load()
        return self._inside(self.host(name), script)

    def status(self) -> list[dict[str, Any]]:
        self._load()
        return [
            {
                "host": h.name,
                "platform": h.platform,
                "management": h.management,
                "production": h.production,
                "running": runtime.alive(h.holder_pid),
                "pid": h.holder_pid,
                "quarantined": h.quarantined,
                "faults": list(h.faults),
                "replica_of": h.replica_of,  # the DC whose domain this DC joined, or None
            }
            for h in self.hosts.values()
        ]

    # -- inventory ----------------------------------------------------------------------------

    def write_inventory(self) -> Path:
        """The lab's Ansible inventory (owner-only: Windows twins' password is in it)."""
        return lab_inventory.write_inventory(self)


def rootfs_in_use() -> set[Path]:
    """Golden images that hosts of any registered lab on this machine may be running on."""
    used: set[Path] = set()
    for owner in alloc.owners():
        try:
            data = json.loads((owner / "lab" / "lab.json").read_text())
        except (OSError, ValueError):
            continue
        paths = [data.get("rootfs")] + [h.get("rootfs") for h in data.get("hosts", [])]
        used.update(Path(p) for p in paths if p)
    return used
