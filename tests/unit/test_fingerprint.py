"""A rehearsal's fingerprint names exactly the files that changed since."""

from __future__ import annotations

from pathlib import Path

from restore.inputs.fingerprint import record_success, staleness
from restore.inputs.graph import load_graph

from .graphs import service, write_graph, write_inventory


def test_staleness_names_the_changed_file(tmp_path: Path) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "rebuild.yml").write_text("- hosts: all\n  tasks: []\n")
    graph_path = write_graph(
        tmp_path,
        [service("a", 1, ["h1"], steps=[{"ansible": "rebuild.yml"}])],
        playbook_dir="books",
    )
    inventory = write_inventory(tmp_path, {"g": ["h1"]})
    graph = load_graph(graph_path)
    state = tmp_path / "state"
    assert staleness(state, graph, inventory).needs_reverification  # never rehearsed
    record_success(state, graph, inventory, "run-1")
    fresh = staleness(state, graph, inventory)
    assert not fresh.needs_reverification and fresh.rehearsed_at
    (books / "rebuild.yml").write_text("- hosts: all\n  tasks: [{debug: {msg: hi}}]\n")
    (books / "new.yml").write_text("[]\n")
    stale = staleness(state, graph, inventory)
    assert stale.needs_reverification
    assert stale.changed == (str((books / "rebuild.yml").resolve()),)
    assert stale.added == (str((books / "new.yml").resolve()),)
    inventory.write_text(inventory.read_text() + "\n# edited\n")
    assert str(inventory.resolve()) in staleness(state, graph, inventory).changed
