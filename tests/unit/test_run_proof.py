"""What a run's journal proves to a domain controller's check (restore.execution.steps.
run_proof), read through the one fold from a real SQLite journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from restore.execution.journal import Journal
from restore.execution.run_fold import fold_run
from restore.execution.steps.run_proof import _promoted_at, _rotated_from

ROTATE = "rotate_krbtgt"


def test_the_latest_real_rotation_and_promotion_of_this_run(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run_id = journal.create_run(
        graph_path="graph.yaml", graph_hash="0", inventory="inventory.yml", options={}
    )

    def step(
        host: str, key: str, kind: str, end: str, *, dry_run: bool = False, **detail: Any
    ) -> None:
        journal.append(
            run_id,
            "started",
            host=host,
            step=key,
            detail={"type": kind, "attempt": 1, "timeout_s": 600, "dry_run": dry_run},
        )
        journal.append(run_id, end, host=host, step=key, detail=detail)  # fmt: skip

    journal.append(run_id, "run_started", detail={"hosts": []})

    step("dc01", "4:directory", "directory", "succeeded", key_version_before=1, action=ROTATE)
    step("dc01", "5:directory", "directory", "failed", key_version_before=3, action=ROTATE)
    step(
        "dc01",
        "6:directory",
        "directory",
        "succeeded",
        dry_run=True,
        key_version_before=9,
        action=ROTATE,
    )
    step("dc01", "7:directory", "directory", "succeeded", disabled=[], action="disable_accounts")
    step("dc02", "3:reimage", "reimage", "failed")
    view = fold_run(journal.events(run_id))
    # a failed rotation, a dry run and another directory action prove nothing
    assert _rotated_from(view, ["dc01", "dc02"]) == 1
    assert _rotated_from(view, ["dc02"]) is None
    assert _promoted_at(view, "dc02") is None  # its reimage failed
    step("dc02", "3:reimage", "reimage", "succeeded")
    step("dc02", "5:directory", "directory", "succeeded", key_version_before=3, action=ROTATE)
    view = fold_run(journal.events(run_id))
    assert _rotated_from(view, ["dc01", "dc02"]) == 3  # the latest, whichever DC it ran on
    promoted = _promoted_at(view, "dc02")
    assert promoted is not None and promoted.microsecond == 0 and promoted.tzinfo is not None
    journal.close()
