"""Inventories through ansible-core: INI, YAML, group_vars/host_vars, dynamic scripts, cache."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from restore.errors import InputError
from restore.inputs.inventory import load_inventory
from restore.models import Platform


def test_ini_with_group_vars_dirs_platforms_and_secrets(tmp_path: Path) -> None:
    (tmp_path / "hosts.ini").write_text(
        "[linux]\nweb1 ansible_host=web1.test ansible_port=2222\nweb2\n"
        "[windows]\ndc1 ansible_host=dc1.test\n"
        "[other]\nweird restore_platform=windows\n"
    )
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "windows.yml").write_text(
        "ansible_connection: winrm\nansible_winrm_scheme: https\nansible_user: admin\n"
        "ansible_password: S3cret!\n"
    )
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "web2.yml").write_text(
        "ansible_user: ops\nansible_ssh_private_key_file: /keys/ops\n"
    )
    inv = load_inventory(tmp_path / "hosts.ini", with_secrets=True)
    web1, web2, dc1, weird = (inv.host(n) for n in ("web1", "web2", "dc1", "weird"))
    assert (web1.address, web1.port, web1.platform) == ("web1.test", 2222, Platform.LINUX)
    assert web2.user == "ops" and web2.credential.kind == "key"
    assert web2.credential.reference == "/keys/ops"
    assert dc1.platform is Platform.WINDOWS and dc1.port == 5986 and dc1.user == "admin"
    assert dc1.credential.kind == "password"
    assert dc1.secret("ansible_password") == "S3cret!"
    assert "S3cret!" not in repr(dc1)
    assert weird.platform is Platform.WINDOWS
    assert inv.group("linux") == ("web1", "web2")


def test_yaml_inventory_group_order(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text(
        "all:\n  children:\n    analysers:\n      hosts:\n        mw3: {}\n        mw1: {}\n        mw2: {}\n"
    )
    assert load_inventory(tmp_path / "inv.yml").group("analysers") == ("mw3", "mw1", "mw2")


def test_dynamic_inventory_script_is_read_and_never_cached(tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    script = tmp_path / "dyn.py"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, pathlib\n"
        f"p = pathlib.Path({str(counter)!r}); p.write_text(str(int(p.read_text() or 0) + 1) if p.exists() else '1')\n"
        "print(json.dumps({'pacs': {'hosts': ['pacs1', 'pacs2']}, '_meta': {'hostvars': "
        "{'pacs1': {'ansible_host': 'pacs1.test'}}}}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    cache = tmp_path / "cache"
    first = load_inventory(script, cache_dir=cache)
    second = load_inventory(script, cache_dir=cache)
    assert first.group("pacs") == ("pacs1", "pacs2") == second.group("pacs")
    assert first.host("pacs1").address == "pacs1.test"
    assert counter.read_text() == "2"
    assert not cache.exists() or not list(cache.iterdir())


def test_cache_hit_is_secret_free_and_invalidated_by_any_source_change(tmp_path: Path) -> None:
    inv_file = tmp_path / "inv.ini"
    inv_file.write_text("[db]\npg1 ansible_host=pg1.test ansible_become_password=TopSecret\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "db.yml").write_text("restore_role: primary\n")
    cache = tmp_path / "cache"
    load_inventory(inv_file, cache_dir=cache)
    files = list(cache.iterdir())
    assert len(files) == 1
    assert "TopSecret" not in files[0].read_text()
    cached = load_inventory(inv_file, cache_dir=cache)
    assert cached.host("pg1").var("restore_role") == "primary"
    (tmp_path / "group_vars" / "db.yml").write_text("restore_role: replica\n")
    assert load_inventory(inv_file, cache_dir=cache).host("pg1").var("restore_role") == "replica"


def test_missing_and_garbage_inventories(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="inventory not found"):
        load_inventory(tmp_path / "nope.ini")
    bad = tmp_path / "bad.yml"
    bad.write_text("all: [this, is, not, an, inventory]\n")
    with pytest.raises(InputError) as info:
        load_inventory(bad)
    assert str(bad) in str(info.value)


def test_secrets_never_in_json_of_host(tmp_path: Path) -> None:
    (tmp_path / "i.ini").write_text("[w]\nw1 ansible_password=pw123 api_token=tok456\n")
    host = load_inventory(tmp_path / "i.ini").host("w1")
    dumped = json.dumps(host.connection_vars) + repr(host)
    assert "pw123" not in dumped and "tok456" not in dumped


def test_several_sources_merge_in_order_as_ansible_does(tmp_path: Path) -> None:
    """`-i groups.ini -i hosts.ini`: groups from one file, addresses from the other; a variable
    set in both takes the later source's value, as ansible-core's InventoryManager does."""
    groups = tmp_path / "data" / "inventory"
    groups.parent.mkdir()
    groups.write_text("[parent_dc]\ndc01\n\n[dc:children]\nparent_dc\n\n[dc:vars]\nsite=a\n")
    (groups.parent / "group_vars").mkdir()
    (groups.parent / "group_vars" / "dc.yml").write_text("ansible_user: domain_admin\n")
    hosts = tmp_path / "provider" / "inventory"
    hosts.parent.mkdir()
    hosts.write_text("[default]\ndc01 ansible_host=dc01.lab.test\n\n[default:vars]\nsite=b\n")
    inv = load_inventory([groups, hosts])
    dc01 = inv.host("dc01")
    assert inv.group("parent_dc") == ("dc01",) and inv.group("dc") == ("dc01",)
    assert dc01.address == "dc01.lab.test"
    assert dc01.user == "domain_admin"  # group_vars next to the first source still apply
    assert dict(dc01.connection_vars)["site"] == "b"
    assert inv.source == f"{groups} + {hosts}"
    # cached under one key for the pair, and invalidated by a change in either file
    cache = tmp_path / "cache"
    assert load_inventory([groups, hosts], cache_dir=cache).host("dc01").address == "dc01.lab.test"
    assert len(list(cache.glob("inventory-*.json"))) == 1
    hosts.write_text("[default]\ndc01 ansible_host=dc01.other.test\n")
    assert load_inventory([groups, hosts], cache_dir=cache).host("dc01").address == (
        "dc01.other.test"
    )
    with pytest.raises(InputError, match="inventory not found"):
        load_inventory([groups, tmp_path / "absent.ini"])


def test_a_parse_failure_names_the_file_and_the_reason_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.ini").write_text("[a]\nh1\n")
    (tmp_path / "bad.ini").write_text("[b:vars]\nnot a pair\n")
    with pytest.raises(InputError) as info:
        load_inventory([tmp_path / "good.ini", tmp_path / "bad.ini"], with_secrets=True)
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'bad.ini'}: cannot parse inventory: ")
    assert "Expected key=value" in text and text.count("Failed to parse") == 1
    assert capfd.readouterr().err == ""  # ansible-core printed nothing of its own
