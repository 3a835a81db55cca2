"""Baseline manifests: written with an index of hashes; tampering is detected."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from restore.errors import InputError
from restore.integrity.baseline import load_baselines, manifest_bytes, write_baselines
from restore.models import Credential, HostSpec, Platform

HOST = HostSpec("db01", Platform.LINUX, "127.0.11.9", 22, "root", Credential("none"))


def capture(tmp_path: Path) -> tuple[Path, str]:
    data = manifest_bytes(HOST, {"accounts": {"root": {"uid": 0}}}, ("/usr/bin",))
    return tmp_path, write_baselines(tmp_path, {"db01": data})


def test_round_trip(tmp_path: Path) -> None:
    directory, digest = capture(tmp_path)
    assert digest == hashlib.sha256((directory / "index.json").read_bytes()).hexdigest()
    baselines = load_baselines(directory, digest)
    facts, problem = baselines.facts_for("db01")
    assert problem is None and facts == {"accounts": {"root": {"uid": 0}}}
    assert baselines.hash_paths("db01") == ("/usr/bin",)
    assert baselines.facts_for("other") == (None, None)


def test_tampered_manifest_is_not_used(tmp_path: Path) -> None:
    directory, _ = capture(tmp_path)
    manifest = directory / "db01.json"
    data = json.loads(manifest.read_text())
    data["facts"]["accounts"]["svc-backup"] = {"uid": 0}
    manifest.write_text(json.dumps(data))
    facts, problem = load_baselines(directory).facts_for("db01")
    assert facts is None and problem and "modified after capture" in problem


def test_tampered_index_and_missing_index(tmp_path: Path) -> None:
    directory, digest = capture(tmp_path)
    (directory / "index.json").write_text((directory / "index.json").read_text() + " ")
    with pytest.raises(InputError, match="--baseline-sha256"):
        load_baselines(directory, digest)
    with pytest.raises(InputError, match=r"no index\.json"):
        load_baselines(tmp_path / "nowhere")
