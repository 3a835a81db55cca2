"""The lab endpoint's SOAP side and personality, without a lab: escaping and no Python text."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from restore.lab.wsman import personality, soap

A = "{http://schemas.xmlsoap.org/ws/2004/08/addressing}"
S = "{" + soap.NS["s"] + "}"
W = "{" + soap.NS["w"] + "}"
HOSTILE = ["uuid:<x>", "a\"b'c&d", "]]>", "<!--", "\u202e\u0000"]


def _request(message_id: str, action: str, resource: str = soap.CMD_URI) -> bytes:
    root = ET.Element(S + "Envelope")
    header = ET.SubElement(root, S + "Header")
    ET.SubElement(header, A + "Action").text = action
    ET.SubElement(header, A + "MessageID").text = message_id
    ET.SubElement(header, W + "ResourceURI").text = resource
    ET.SubElement(root, S + "Body")
    return ET.tostring(root)


@pytest.mark.parametrize("message_id", [h for h in HOSTILE if "\u0000" not in h])
def test_a_hostile_message_id_is_echoed_escaped(message_id: str) -> None:
    status, reply = soap.handle_soap(_request(message_id, "urn:no-such-action"))
    assert status == 500
    assert ET.fromstring(reply).findtext(f".//{A}RelatesTo") == message_id


def test_psrp_is_refused_at_create_and_no_shell_is_kept() -> None:
    before = len(soap.SHELLS)
    status, reply = soap.handle_soap(
        _request(
            "uuid:1",
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
            "http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
        )
    )
    assert status == 500 and "PowerShell remoting" in reply
    assert len(soap.SHELLS) == before


@pytest.mark.parametrize("payload", [b"", b"<x", b"\xff\xfe", b"<a/>", b"<!DOCTYPE a><a/>"])
def test_garbage_gets_a_fixed_fault_text(payload: bytes) -> None:
    status, reply = soap.handle_soap(payload)
    assert status == 500
    reason = ET.fromstring(reply).findtext(".//" + S + "Text")
    assert reason in {
        "The request is not well-formed XML.",
        "The SOAP envelope has no Header or no Body.",
        "DTDs are not allowed in WS-Man messages.",
    }


@pytest.mark.parametrize(
    "script",
    ["exit", "exit nope", "Start-Sleep", "Test-Path", "# restore:files\n# args: [1]", "& { 1 }"],
)
def test_the_personality_never_answers_with_python_text(script: str) -> None:
    _out, err, rc = personality.run_script(script)
    assert rc in (0, 1)
    for leak in ("index out of range", "Traceback", "Error", "object has no attribute"):
        assert leak not in err
