"""PowerShell's CLIXML error stream decoded as data (restore/transports/clixml.py)."""

from __future__ import annotations

from restore.lab.wsman.parse_gate import clixml_errors
from restore.transports.clixml import decode_error_stream


def test_the_lab_hosts_error_stream_reads_back_as_its_lines() -> None:
    text = "At line:1 char:5\r\n+ if (\r\n+     ~\r\nMissing ')' <here> & \x07 bell\r\n"
    assert decode_error_stream(clixml_errors(text)) == text


def test_what_is_not_clixml_comes_back_untouched() -> None:
    for text in (
        "",
        "plain error\n",
        '#< CLIXML\r\n<Objs><S S="Error">cut sho',  # cut at the cap: shown raw
        '#< CLIXML\r\n<Objs><S S="Output">not an error line</S></Objs>',
    ):
        assert decode_error_stream(text) == text


def test_a_document_type_from_the_host_is_never_expanded() -> None:
    laughs = (
        '#< CLIXML\r\n<!DOCTYPE Objs [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        '<Objs><S S="Error">&b;</S></Objs>'
    )
    assert decode_error_stream(laughs) == laughs
