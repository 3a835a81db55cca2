"""Every invalid input of DESIGN §3 is refused with file, service, key, line and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from restore.errors import InputError, InputErrors
from restore.inputs.graph import load_graph
from restore.models import StepType

from .graphs import service, write_graph


def refuse(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_graph(path)
    assert info.value.exit_code == 2
    return info.value


def test_valid_graph_loads_with_steps_and_durations(tmp_path: Path) -> None:
    (tmp_path / "rebuild.yml").write_text("- hosts: all\n  tasks: []\n")
    path = write_graph(
        tmp_path,
        [
            service("ad", 3, ["dc1"], rto="6h"),
            service(
                "lis",
                1,
                ["lis1"],
                ["ad"],
                steps=[
                    "evidence",
                    {"check": None, "timeout": "10m", "estimate": "5m"},
                    {"ansible": "rebuild.yml", "vars": {"port": 8443}, "timeout": "30m"},
                    {"health": {"tcp": 8443}},
                    {"approve": "Biology confirms"},
                    "reconnect",
                ],
            ),
        ],
        incident={"declared_at": "2026-11-20T01:30:00+01:00"},
    )
    graph = load_graph(path)
    lis = graph.service("lis")
    assert graph.service("ad").rto_s == 6 * 3600
    assert lis.steps is not None
    assert [s.type for s in lis.steps] == [
        StepType.EVIDENCE,
        StepType.CHECK,
        StepType.ANSIBLE,
        StepType.HEALTH,
        StepType.APPROVE,
        StepType.RECONNECT,
    ]
    assert lis.steps[1].timeout_s == 600 and lis.steps[1].estimate_s == 300
    assert lis.steps[2].argument == str(tmp_path / "rebuild.yml")
    assert dict(lis.steps[2].vars) == {"port": 8443}
    assert graph.incident_declared_at is not None


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("version: 1\nname: x\nservices:\n  - id: a\n    hosts: [a\n")
    err = refuse(path)
    assert "YAML syntax error" in str(err) and str(path) in str(err)
    assert err.line is not None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty file"),
        (b"\x00\x01\x02\xff\xfe", "not"),
        (b"- a\n- b\n", "expected a mapping"),
        (b"just a string", "expected a mapping"),
    ],
)
def test_empty_binary_and_non_mapping_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "g.yaml"
    path.write_bytes(content)
    assert expected in str(refuse(path))


def test_missing_file(tmp_path: Path) -> None:
    assert "file not found" in str(refuse(tmp_path / "nope.yaml"))


def test_unknown_key_suggests_nearest(tmp_path: Path) -> None:
    path = write_graph(tmp_path, [service("lis", 1, ["h"], depnds_on=["x"])])
    err = refuse(path)
    text = str(err)
    assert "unknown key 'depnds_on'" in text
    assert "did you mean 'depends_on'" in text
    assert err.service == "lis" and err.line == 8


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write_graph(tmp_path, [service("a", 1, ["h"])], servics=[])
    assert "did you mean 'services'" in str(refuse(path))


@pytest.mark.parametrize("missing", ["id", "priority", "hosts"])
def test_missing_required_service_key(tmp_path: Path, missing: str) -> None:
    svc = service("lis", 1, ["h"])
    del svc[missing]
    err = refuse(write_graph(tmp_path, [svc]))
    assert f"missing required key '{missing}'" in str(err)


def test_duplicate_ids(tmp_path: Path) -> None:
    err = refuse(write_graph(tmp_path, [service("a", 1, ["h1"]), service("a", 2, ["h2"])]))
    assert "duplicate service id 'a'" in str(err)


def test_unknown_dependency_suggests_nearest(tmp_path: Path) -> None:
    err = refuse(
        write_graph(
            tmp_path, [service("database", 2, ["h1"]), service("lis", 1, ["h2"], ["databse"])]
        )
    )
    assert "unknown dependency 'databse'" in str(err)
    assert "did you mean 'database'" in str(err)
    assert err.service == "lis"


def test_cycle_is_printed(tmp_path: Path) -> None:
    err = refuse(
        write_graph(
            tmp_path,
            [
                service("a", 1, ["h1"], ["c"]),
                service("b", 1, ["h2"], ["a"]),
                service("c", 1, ["h3"], ["b"]),
            ],
        )
    )
    text = str(err)
    assert "dependency cycle" in text
    for sid in "abc":
        assert sid in text.split("dependency cycle:")[1]


def test_unknown_step_type_suggests(tmp_path: Path) -> None:
    err = refuse(write_graph(tmp_path, [service("a", 1, ["h"], steps=["evidense"])]))
    assert "evidense" in str(err) and "did you mean 'evidence'" in str(err)


def test_missing_playbook(tmp_path: Path) -> None:
    (tmp_path / "rebuild_lis.yml").write_text("[]\n")
    err = refuse(
        write_graph(tmp_path, [service("a", 1, ["h"], steps=[{"ansible": "rebuild_li.yml"}])])
    )
    assert "playbook 'rebuild_li.yml' does not exist" in str(err)
    assert "did you mean 'rebuild_lis.yml'" in str(err)


@pytest.mark.parametrize("bad", ["8 hours", "h8", "-5m", "soon"])
def test_bad_duration(tmp_path: Path, bad: str) -> None:
    err = refuse(write_graph(tmp_path, [service("a", 1, ["h"], rto=bad)]))
    assert "bad duration" in str(err) and err.key == "rto"


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"health": {"tcp": 99999}}, "port number"),
        ({"health": {"icmp": "x"}}, "unknown probe"),
        ({"reconnect": "now"}, "takes no value"),
        ({"ssh": ""}, "needs a shell command"),
        ({"check": None, "evidence": None}, "exactly one type"),
        ({"check": None, "vars": {"a": 1}}, "ansible steps only"),
        ({"check": None, "retries": -1}, "retries -1 must be >= 0"),
        ({"check": None, "platform": "solaris"}, "linux"),
    ],
)
def test_bad_steps(tmp_path: Path, step: dict[str, object], message: str) -> None:
    assert message in str(refuse(write_graph(tmp_path, [service("a", 1, ["h"], steps=[step])])))


def test_bad_priority_and_version(tmp_path: Path) -> None:
    assert "priority -1 must be >= 0" in str(
        refuse(write_graph(tmp_path, [service("a", -1, ["h"])]))
    )
    path = write_graph(tmp_path, [service("a", 1, ["h"])], version=2)
    path.write_text(path.read_text().replace("version: 1", "version: 2"))
    assert "unsupported version" in str(refuse(path))


def test_invalid_service_id(tmp_path: Path) -> None:
    assert "invalid id 'Bad Id'" in str(
        refuse(write_graph(tmp_path, [service("Bad Id", 1, ["h"])]))
    )


def test_three_problems_in_three_services_all_reported_with_their_values(
    tmp_path: Path,
) -> None:
    """A shape error in one service (pydantic) no longer hides the others' problems."""
    err = refuse(
        write_graph(
            tmp_path,
            [
                service("ad", "high", ["dc1"]),  # type: ignore[arg-type]
                service("db", 2, ["db1"], rto="8 hours"),
                service("lis", 1, ["lis1"], ["ad", "dbb"], max_parallel=0),
            ],
        )
    )
    assert isinstance(err, InputErrors) and len(err.errors) == 4
    text = str(err)
    assert "service 'ad', key 'priority': priority 'high' is not an integer" in text
    assert "service 'db', key 'rto': bad duration '8 hours'" in text
    assert "service 'lis', key 'max_parallel': max_parallel 0 must be >= 1" in text
    # 'ad' is refused for its priority, yet it is written: depending on it is no error
    assert "unknown dependency 'dbb' (did you mean 'db'?)" in text
    assert "unknown dependency 'ad'" not in text
    lines = [e.line for e in err.errors]
    assert lines == sorted(lines)  # in the file's order


def test_several_errors_reported_at_once(tmp_path: Path) -> None:
    err = refuse(
        write_graph(tmp_path, [service("a", 1, ["h"], rto="soon"), service("b", 1, ["h2"], ["zz"])])
    )
    text = str(err)
    assert "bad duration" in text and "unknown dependency 'zz'" in text


def test_rehearsal_seed_is_a_checked_playbook_list(tmp_path: Path) -> None:
    (tmp_path / "seed_backup.yml").write_text("[]\n")
    ok = load_graph(
        write_graph(tmp_path, [service("a", 1, ["h"])], rehearsal={"seed": ["seed_backup.yml"]})
    )
    assert ok.rehearsal_seeds == (tmp_path / "seed_backup.yml",)
    single = load_graph(
        write_graph(tmp_path, [service("a", 1, ["h"])], rehearsal={"seed": "seed_backup.yml"})
    )
    assert single.rehearsal_seeds == ok.rehearsal_seeds
    missing = refuse(
        write_graph(tmp_path, [service("a", 1, ["h"])], rehearsal={"seed": ["seed_bakup.yml"]})
    )
    assert "playbook 'seed_bakup.yml' does not exist" in str(missing)
    assert "did you mean 'seed_backup.yml'" in str(missing) and missing.line is not None
    typo = refuse(write_graph(tmp_path, [service("a", 1, ["h"])], rehearsal={"seeds": []}))
    assert "unknown key 'seeds'" in str(typo) and "did you mean 'seed'" in str(typo)


def test_directory_step_action_validated(tmp_path: Path) -> None:
    graph = load_graph(
        write_graph(tmp_path, [service("ad", 0, ["dc01"], steps=[{"directory": "rotate_krbtgt"}])])
    )
    step = graph.services[0].steps[0]
    assert (step.type, step.argument) == (StepType.DIRECTORY, "rotate_krbtgt")
    err = refuse(
        write_graph(tmp_path, [service("ad", 0, ["dc01"], steps=[{"directory": "rotate_krbtgd"}])])
    )
    assert "unknown directory action" in str(err) and "rotate_krbtgt" in str(err)
