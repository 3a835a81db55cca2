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
from typing import TYPE_CHECKING

from restore.ansible.prefork.service import PreforkAnsible
from restore.execution.engine import Engine, Processor, RunOptions, RunResult
from restore.execution.journal import Journal
from restore.inputs.fingerprint import record_success
from restore.inputs.graph import load_graph
from restore.inputs.inventory import InventorySource, inventory_paths, load_inventory
from restore.models import GraphSpec, Inventory
from restore.planning.binding import bind
from restore.planning.model import RestorePlan
from restore.planning.plan import build_plan
from restore.rehearsal.infection_mix import infections, scenario_parts
from restore.rehearsal.twins import start_twins
from restore.reporting.build import report_for_run
from restore.reporting.render import to_html, to_junit, to_markdown

if TYPE_CHECKING:
    from restore.lab import Lab

Say = Callable[[str], None]
VAULT_ENV = "ANSIBLE_VAULT_PASSWORD_FILE"


def _seed(
    book: Path,
    inventory: InventorySource,
    state_dir: Path,
    attack_at: datetime | None,
    say: Say,
    scenario: str = "default",
) -> None:
    """Prepare the rehearsal's world (e.g. a backup repository) before the attack and the run."""
    from restore.ansible.request import PlaybookRequest
    from restore.ansible.runner import run_playbook
    from restore.errors import OperationalError

    say(f"seeding with {book.name}")
    extra: dict[str, str] = {"restore_rehearsal_scenario": scenario}  # e.g. dwell's backups
    if attack_at:
        extra["restore_incident_start"] = attack_at.isoformat()
    result = run_playbook(
        PlaybookRequest(
            playbook=book.resolve(),
            host="all",
            work_dir=state_dir / "seeds" / book.stem,
            inventories=tuple(str(p) for p in inventory_paths(inventory)),
            extravars=extra,
            timeout_s=600,
        )
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


@dataclass(frozen=True)
class _Request:
    """What one rehearsal was asked for (rehearse()'s arguments, the graph loaded)."""

    graph: GraphSpec
    inventory_file: InventorySource  # every -i, in order
    state_dir: Path
    lab: bool
    scenario: str
    max_parallel: int
    junit: Path | None
    keep_lab: bool
    seeds: tuple[Path, ...]
    processor: Processor | None
    say: Say


def rehearse(
    graph_file: Path,
    inventory_file: InventorySource,  # every -i, in order
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
    request = _Request(
        graph,
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
    with _lab_vault(graph.rehearsal_vault_password_file):
        return _rehearse(request)


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


def _rehearse(request: _Request) -> RehearsalResult:
    timings: dict[str, float] = {}
    started = time.monotonic()
    state_dir = request.state_dir
    real_inventory = load_inventory(request.inventory_file)
    # binding validates the graph against the real inventory; no need to plan it twice
    bound = [host for hosts in bind(request.graph, real_inventory).values() for host in hosts]
    target_inventory: InventorySource = request.inventory_file
    the_lab = None
    # warms ansible-core up while the lab starts; every playbook step is then a fork
    prefork = PreforkAnsible(log_path=state_dir / "prefork.log")
    try:
        prefork.start()
        if request.lab:
            the_lab, target_inventory = start_twins(state_dir, bound, real_inventory, request.say)
        timings["lab_up_s"] = time.monotonic() - started
        inventory = load_inventory(target_inventory, with_secrets=True)
        _seed_world(request, target_inventory)
        # The rehearsal's "incident" is the simulated attack, now: the lab twins were built
        # just before it, so "changed since the incident" and the RTO clocks mean what they
        # would mean in a real recovery.
        attack_at = _attack_moment() if request.lab else request.graph.incident_declared_at
        rehearsal_graph = replace(request.graph, incident_declared_at=attack_at)
        plan = build_plan(rehearsal_graph, inventory, max_parallel=(request.max_parallel,))
        infected = infections(plan, request.scenario)
        if the_lab is not None:
            for host, name in infected.items():
                _infect(the_lab, host, name, request.say)
        run_started = time.monotonic()
        result = _run(request, plan, inventory, target_inventory, prefork, infected, attack_at)
        timings["run_s"] = time.monotonic() - run_started
        report_started = time.monotonic()
        report_md, report_html = _write_reports(state_dir, result.run_id, request.junit)
        timings["report_s"] = time.monotonic() - report_started
        if result.state == "succeeded":
            paths = inventory_paths(request.inventory_file)
            record_success(state_dir, request.graph, paths, result.run_id)
    finally:
        prefork.stop()
        if the_lab is not None and not request.keep_lab:
            down_started = time.monotonic()
            the_lab.down()
            timings["lab_down_s"] = time.monotonic() - down_started
    timings["total_s"] = time.monotonic() - started
    return RehearsalResult(result, report_md, report_html, request.junit, infected, timings)


def _infect(lab: Lab, host: str, infection: str, say: Say) -> None:
    """Play every scenario of the host's infection; a directory mix stays hidden until the
    run is over (the journal's `rehearsal` row names it)."""
    parts = scenario_parts(infection)
    hidden = len(parts) - 1
    told = f"{parts[0]} and {hidden} hidden directory attack(s)" if hidden else parts[0]
    say(f"lab: infecting {host} ({told})")
    for part in parts:
        lab.infect(host, part)
    if hidden:  # the attacker's changes are on every DC of the domain when the run starts
        lab.replicate(host)


def _seed_world(request: _Request, target_inventory: InventorySource) -> None:
    """Seeds (a backup repository...) are the world before the attack: they run first, told
    roughly when the attack will be, so that their files are older than it. The graph's own
    `rehearsal.seed` first, then any given on the command line."""
    books = {str(b.resolve()): b for b in (*request.graph.rehearsal_seeds, *request.seeds)}
    for book in books.values():
        moment = datetime.now(UTC).replace(microsecond=0)
        _seed(book, target_inventory, request.state_dir, moment, request.say, request.scenario)


def _run(
    request: _Request,
    plan: RestorePlan,
    inventory: Inventory,
    target_inventory: InventorySource,
    prefork: PreforkAnsible,
    infected: dict[str, str],
    attack_at: datetime | None,
) -> RunResult:
    """The plan through the real engine, then the rehearsal's own record in the journal."""
    journal = Journal(request.state_dir)
    try:
        engine = Engine(
            plan,
            inventory,
            target_inventory,
            journal,
            RunOptions(max_parallel=request.max_parallel, assume_yes=True),
            processor=request.processor,
            prefork=prefork,
        )
        result = engine.run()
        journal.append(
            result.run_id,
            "rehearsal",
            detail={
                "scenario": request.scenario,
                "lab": request.lab,
                "infected": infected,
                "simulated_incident_at": attack_at.isoformat() if attack_at else None,
            },
        )
    finally:
        journal.close()
    return result


def _write_reports(state_dir: Path, run_id: str, junit: Path | None) -> tuple[Path, Path]:
    """The run's report from its journal, in Markdown and HTML (and JUnit when asked)."""
    report = report_for_run(state_dir, run_id)
    out_dir = state_dir / "reports" / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    report_md, report_html = out_dir / "report.md", out_dir / "report.html"
    report_md.write_text(to_markdown(report))
    report_html.write_text(to_html(report))
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(to_junit(report))
    return report_md, report_html
