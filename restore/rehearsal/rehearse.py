"""A whole recovery rehearsal: lab twins, quarantine, infection, the real run, the report.

With `lab=True` every inventory host the graph uses gets a lab twin (same name, same
platform), all twins are quarantined as after a real attack, a realistic mix is infected
(restore.rehearsal.infection_mix), then the plan runs through the real engine against the twins'
inventory. The report is written from the journal, and the lab is torn down whatever happens.
A successful rehearsal records the fingerprint of the graph, the inventory and the playbooks,
so that `restore plan` can say when the plan needs re-verification.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from restore.ansible.nodes.install import install_node
from restore.ansible.prefork.service import PreforkAnsible
from restore.execution.engine import Engine, Processor, RunOptions, RunResult
from restore.execution.journal import Journal
from restore.inputs.fingerprint import record_success
from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.lab.twin_ports import twin_ports
from restore.models import GraphSpec
from restore.planning.binding import bind
from restore.planning.plan import build_plan
from restore.rehearsal.infection_mix import infections
from restore.reporting.build import report_for_run
from restore.reporting.render import to_html, to_junit, to_markdown

Say = Callable[[str], None]
VAULT_ENV = "ANSIBLE_VAULT_PASSWORD_FILE"


def _seed(
    book: Path,
    inventory: Path,
    state_dir: Path,
    attack_at: datetime | None,
    say: Say,
    scenario: str = "default",
) -> None:
    """Prepare the rehearsal's world (e.g. a backup repository) before the attack and the run."""
    from restore.ansible.runner import run_playbook
    from restore.errors import OperationalError

    say(f"seeding with {book.name}")
    extra: dict[str, str] = {"restore_rehearsal_scenario": scenario}  # e.g. dwell's backups
    if attack_at:
        extra["restore_incident_start"] = attack_at.isoformat()
    result = run_playbook(
        playbook=book.resolve(),
        inventory=str(inventory),
        host="all",
        work_dir=state_dir / "seeds" / book.stem,
        extravars=extra,
        timeout_s=600,
    )
    # limited to "all": there is no single host's stats to read, so runner status and rc decide
    if result.status != "successful" or result.rc != 0:
        raise OperationalError(f"seeding playbook {book} failed: {result.message}")


def _attack_moment() -> datetime:
    """A whole second strictly after everything the lab wrote while booting, then wait for it.

    "Changed since the incident" compares file times at one-second resolution: the twins'
    own boot files must be older than the simulated attack, and the planted traces newer.
    """
    moment = math.ceil(time.time()) + 1
    time.sleep(max(0.0, moment - time.time() + 0.05))
    return datetime.fromtimestamp(moment, UTC)


@dataclass
class RehearsalResult:
    run: RunResult
    report_md: Path
    report_html: Path
    junit: Path | None
    infected: dict[str, str]
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def met_plan(self) -> bool:
        return self.run.state == "succeeded"


def rehearse(
    graph_file: Path,
    inventory_file: Path,
    state_dir: Path,
    *,
    lab: bool,
    scenario: str = "default",
    max_parallel: int = 4,
    junit: Path | None = None,
    keep_lab: bool = False,
    seeds: tuple[Path, ...] = (),
    processor: Processor | None = None,
    say: Say = lambda _m: None,
) -> RehearsalResult:
    graph = load_graph(graph_file)
    with _lab_vault(graph.rehearsal_vault_password_file):
        return _rehearse(
            graph,
            graph_file,
            inventory_file,
            state_dir,
            lab=lab,
            scenario=scenario,
            max_parallel=max_parallel,
            junit=junit,
            keep_lab=keep_lab,
            seeds=seeds,
            processor=processor,
            say=say,
        )


@contextlib.contextmanager
def _lab_vault(password_file: Path | None) -> Iterator[None]:
    """The graph's `rehearsal.vault_password_file`, for this rehearsal's playbooks (the seed,
    the steps, the prefork server started below), unless the operator set one already."""
    if password_file is None or os.environ.get(VAULT_ENV):
        yield
        return
    os.environ[VAULT_ENV] = str(password_file.resolve())
    try:
        yield
    finally:
        os.environ.pop(VAULT_ENV, None)


def _rehearse(
    graph: GraphSpec,
    graph_file: Path,
    inventory_file: Path,
    state_dir: Path,
    *,
    lab: bool,
    scenario: str,
    max_parallel: int,
    junit: Path | None,
    keep_lab: bool,
    seeds: tuple[Path, ...],
    processor: Processor | None,
    say: Say,
) -> RehearsalResult:
    timings: dict[str, float] = {}
    started = time.monotonic()
    real_inventory = load_inventory(inventory_file)
    # binding validates the graph against the real inventory; no need to plan it twice
    bound = [host for hosts in bind(graph, real_inventory).values() for host in hosts]
    target_inventory = inventory_file
    the_lab = None
    # warms ansible-core up while the lab starts; every playbook step is then a fork
    prefork = PreforkAnsible(log_path=state_dir / "prefork.log")
    try:
        prefork.start()
        if lab:
            from restore.lab import Lab

            the_lab = Lab(state_dir)
            twins = [(h.name, h.spec.platform) for h in bound]
            # the execution nodes the graph's hosts run through get twins of their own
            nodes = {h.name: h.execution_node for h in bound if h.execution_node}
            twins += [
                (node, real_inventory.host(node).platform)
                for node in sorted(set(nodes.values()))
                if node not in {name for name, _ in twins}
            ]
            say(f"lab: starting {len(twins)} twin host(s)")
            used = {name for name, _ in twins}
            groups = {g: [m for m in members if m in used] for g, members in real_inventory.groups}
            # each twin listens where its graph's health probes look (restore.lab.twin_ports)
            from restore.directory.role import ROLE, is_domain_controller

            roles = {h.name: ROLE for h in bound if is_domain_controller(h.spec)}
            target_inventory = the_lab.up(
                twins, groups=groups, execution_nodes=nodes, ports=twin_ports(bound), roles=roles
            )
            for node in sorted(set(nodes.values())):
                say(f"lab: installing execution node {node}")
                spec = load_inventory(target_inventory, with_secrets=True).host(node)
                install_node(spec)
            for name, _ in twins:
                the_lab.quarantine(name, True)
        timings["lab_up_s"] = time.monotonic() - started
        inventory = load_inventory(target_inventory, with_secrets=True)
        # The rehearsal's "incident" is the simulated attack, now: the lab twins were built
        # just before it, so "changed since the incident" and the RTO clocks mean what they
        # would mean in a real recovery.
        # Seeds (a backup repository...) are the world before the attack: they run first, told
        # roughly when the attack will be, so that their files are older than it.
        # the graph's own `rehearsal.seed` first, then any given on the command line
        books = {str(b.resolve()): b for b in (*graph.rehearsal_seeds, *seeds)}
        for book in books.values():
            now = datetime.now(UTC).replace(microsecond=0)
            _seed(book, target_inventory, state_dir, now, say, scenario)
        attack_at = _attack_moment() if lab else graph.incident_declared_at
        rehearsal_graph = replace(graph, incident_declared_at=attack_at)
        plan = build_plan(rehearsal_graph, inventory, max_parallel=(max_parallel,))
        infected = infections(plan, scenario)
        if the_lab is not None:
            for host, name in infected.items():
                say(f"lab: infecting {host} ({name})")
                the_lab.infect(host, name)
        run_started = time.monotonic()
        journal = Journal(state_dir)
        try:
            engine = Engine(
                plan,
                inventory,
                str(target_inventory),
                journal,
                RunOptions(max_parallel=max_parallel, assume_yes=True),
                processor=processor,
                prefork=prefork,
            )
            result = engine.run()
            journal.append(
                result.run_id,
                "rehearsal",
                detail={
                    "scenario": scenario,
                    "lab": lab,
                    "infected": infected,
                    "simulated_incident_at": attack_at.isoformat() if attack_at else None,
                },
            )
        finally:
            journal.close()
        timings["run_s"] = time.monotonic() - run_started
        report_started = time.monotonic()
        report = report_for_run(state_dir, result.run_id)
        out_dir = state_dir / "reports" / result.run_id
        out_dir.mkdir(parents=True, exist_ok=True)
        report_md, report_html = out_dir / "report.md", out_dir / "report.html"
        report_md.write_text(to_markdown(report))
        report_html.write_text(to_html(report))
        if junit is not None:
            junit.parent.mkdir(parents=True, exist_ok=True)
            junit.write_text(to_junit(report))
        timings["report_s"] = time.monotonic() - report_started
        if result.state == "succeeded":
            record_success(state_dir, graph, inventory_file, result.run_id)
    finally:
        prefork.stop()
        if the_lab is not None and not keep_lab:
            down_started = time.monotonic()
            the_lab.down()
            timings["lab_down_s"] = time.monotonic() - down_started
    timings["total_s"] = time.monotonic() - started
    return RehearsalResult(result, report_md, report_html, junit, infected, timings)
