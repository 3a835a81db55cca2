"""Debian's generated PAM stacks judged against the template and profiles packages ship."""

from __future__ import annotations

import hashlib
from typing import Any

from restore.integrity.checks.pam_generated import (
    pam_unexplained,
    parse_pam_generated,
    split_blocks,
)
from restore.models import CommandOutput

TEMPLATE = (
    "# /etc/pam.d/common-auth\n"
    '# here are the per-package modules (the "Primary" block)\n'
    "$auth_primary\n"
    "# here's the fallback if no module succeeds\n"
    "auth\trequisite\t\t\tpam_deny.so\n"
    "auth\trequired\t\t\tpam_permit.so\n"
    '# and here are more per-package modules (the "Additional" block)\n'
    "$auth_additional\n"
    "# end of pam-auth-update config\n"
)
PROFILE = (
    "Name: Unix authentication\nDefault: yes\nPriority: 256\nAuth-Type: Primary\nAuth:\n"
    "\t[success=end default=ignore]\tpam_unix.so nullok try_first_pass\n"
    "Auth-Initial:\n\t[success=end default=ignore]\tpam_unix.so nullok\n"
)
GENERATED = TEMPLATE.replace(
    "$auth_primary\n", "auth\t[success=1 default=ignore]\tpam_unix.so nullok\n"
).replace("$auth_additional\n", "")


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def fact(common_auth: str, *, profile: str = PROFILE, shipped_profile: str = PROFILE) -> Any:
    """The fact as the host's command prints it, the profile's dpkg md5 from `shipped_profile`."""
    files = {
        "/etc/pam.d/common-auth": common_auth,
        "/usr/share/pam/common-auth": TEMPLATE,
        "/usr/share/pam/common-auth.md5sums": "",
        "/usr/share/pam-configs/unix": profile,
    }
    dpkg = (
        f"{md5(TEMPLATE)}  usr/share/pam/common-auth\n"
        f"{md5('')}  usr/share/pam/common-auth.md5sums\n"
        f"{md5(shipped_profile)}  usr/share/pam-configs/unix\n"
    )
    stdout = "".join(f"F\0{p}\0{t}\0" for p, t in files.items()) + f"D\0{dpkg}\0"
    parsed = parse_pam_generated(CommandOutput(rc=0, stdout=stdout))
    assert parsed.unaccounted == ()
    return parsed.value


def test_a_stack_pam_auth_update_wrote_from_shipped_parts_is_explained() -> None:
    assert pam_unexplained(fact(GENERATED)) == []


def test_a_line_slipped_into_a_generated_block_is_named() -> None:
    extra = GENERATED.replace(
        "pam_unix.so nullok\n", "pam_unix.so nullok\nauth sufficient pam_permit.so\n"
    )
    assert pam_unexplained(fact(extra)) == [
        (
            "/etc/pam.d/common-auth",
            "a line no PAM profile of a package explains: auth sufficient pam_permit.so",
        )
    ]


def test_an_option_added_to_a_profile_line_is_not_explained() -> None:
    edited = GENERATED.replace("pam_unix.so nullok\n", "pam_unix.so nullok debug\n")
    assert len(pam_unexplained(fact(edited))) == 1


def test_the_boilerplate_must_be_the_template_or_a_listed_older_one() -> None:
    edited = GENERATED.replace("auth\trequisite\t\t\tpam_deny.so\n", "")
    (why,) = pam_unexplained(fact(edited))
    assert "outside its generated blocks" in why[1]


def test_a_profile_that_is_not_the_shipped_one_explains_nothing() -> None:
    evil = PROFILE.replace(
        "pam_unix.so nullok\n", "pam_unix.so nullok\n\tsufficient pam_permit.so\n"
    )
    stack = GENERATED.replace(
        "pam_unix.so nullok\n", "pam_unix.so nullok\nauth sufficient pam_permit.so\n"
    )
    assert pam_unexplained(fact(stack, profile=evil, shipped_profile=evil)) == []
    # the same profile, where dpkg recorded another md5: the intruder's, trusted for nothing
    found = pam_unexplained(fact(stack, profile=evil))
    assert {w for _, w in found} == {
        "a line no PAM profile of a package explains: auth\\t[success=1 default=ignore]\\tpam_unix.so nullok",
        "a line no PAM profile of a package explains: auth sufficient pam_permit.so",
    }


def test_blocks_split_as_pam_auth_update_reads_them() -> None:
    boilerplate, generated = split_blocks(GENERATED)
    assert generated == ["auth\t[success=1 default=ignore]\tpam_unix.so nullok"]
    assert boilerplate == split_blocks(TEMPLATE)[0]


def test_a_nul_inside_a_file_breaks_the_framing_and_is_unaccounted() -> None:
    stdout = "F\0/etc/pam.d/common-auth\0a\0b\0D\0\0"
    assert parse_pam_generated(CommandOutput(rc=0, stdout=stdout)).unaccounted
