"""WinRS over WS-Management: the SOAP side of the lab's Windows endpoint (lab only).

Standard library only: it runs chrooted in a lab host under the rootfs's python3.

The subset pywinrm uses: Create (a cmd shell), Command, Send, Receive (long-poll, answered
with WSManFault 2150858793 when the command outlives OperationTimeout), Signal, Delete.
Everything a client sent that is echoed back (MessageID above all) is XML-escaped; a request
that cannot be understood gets a WS-Man fault with a fixed text, never Python's error text.
A PowerShell remoting (PSRP) shell is refused at Create, so no shell is left behind.
"""

import base64
import os
import re
import threading
import uuid
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

try:  # inside the lab host the three modules sit side by side
    import personality
except ImportError:  # imported from the control side (unit tests)
    from restore.lab.wsman import personality

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CMD_URI = SHELL_URI + "/cmd"
PSRP_URI_PREFIX = "http://schemas.microsoft.com/powershell"
CHUNK_BYTES = 100000  # base64 of this fits the 150 KB envelope pywinrm asks for
TIMEOUT_FAULT_CODE = 2150858793
# Windows' defaults (winrm get winrm/config/winrs): MaxShellsPerUser 30, MaxProcessesPerShell 25
MAX_SHELLS = 30
MAX_COMMANDS_PER_SHELL = 25
# where the number of open shells is written, for tests ("no shell left behind")
SHELL_COUNT_FILE = "/run/restore-wsman/shells"

SHELLS = {}
LOCK = threading.Lock()


class Fault(Exception):
    """A WS-Man fault to answer: HTTP 500, SOAP fault with a WSManFault detail."""

    def __init__(self, subcode, reason, wsman_code, code="Sender"):
        Exception.__init__(self, reason)
        self.subcode, self.reason, self.wsman_code, self.code = subcode, reason, wsman_code, code


class Command:
    def __init__(self, command):
        self.stdout = b""
        self.stderr = b""
        self.rc = None
        self.done = threading.Event()
        self.sent = 0  # stdout bytes already delivered (answers are chunked like WinRS's)
        threading.Thread(target=self._run, args=(command,), daemon=True).start()

    def _run(self, command):
        out, err, rc = personality.run_command(command)  # never raises
        self.stdout, self.stderr, self.rc = out.encode(), err.encode(), rc
        self.done.set()


def envelope(action, relates_to, body):
    return (
        '<s:Envelope xmlns:s="%(s)s" xmlns:a="%(a)s" xmlns:w="%(w)s" xmlns:rsp="%(rsp)s" '
        'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer">'
        "<s:Header><a:Action>%(action)s</a:Action><a:MessageID>uuid:%(mid)s</a:MessageID>"
        "<a:RelatesTo>%(rel)s</a:RelatesTo><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To></s:Header>"
        "<s:Body>%(body)s</s:Body></s:Envelope>"
    ) % dict(NS, action=escape(action), mid=uuid.uuid4(), rel=escape(relates_to or ""), body=body)


def fault_envelope(relates_to, fault):
    body = (
        "<s:Fault><s:Code><s:Value>s:%s</s:Value><s:Subcode><s:Value>w:%s</s:Value></s:Subcode></s:Code>"
        '<s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason><s:Detail>'
        '<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="%d" Machine="lab">'
        "<f:Message>%s</f:Message></f:WSManFault></s:Detail></s:Fault>"
    ) % (
        escape(fault.code),
        escape(fault.subcode),
        escape(fault.reason),
        fault.wsman_code,
        escape(fault.reason),
    )
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


def parse_timeout(text):
    match = re.match(r"PT(\d{1,6}(?:\.\d{1,6})?)S$", (text or "").strip())
    return min(float(match.group(1)), 3600.0) if match else 20.0


def _write_shell_count():
    try:
        os.makedirs(os.path.dirname(SHELL_COUNT_FILE), exist_ok=True)
        with open(SHELL_COUNT_FILE + ".tmp", "w") as handle:
            handle.write("%d\n" % len(SHELLS))
        os.replace(SHELL_COUNT_FILE + ".tmp", SHELL_COUNT_FILE)
    except OSError:
        pass  # only a test aid: the endpoint must answer even if /run is not writable


def _parse(xml):
    """The envelope's header, body, action and MessageID, or a Fault."""
    if re.search(rb"<!DOCTYPE|<!ENTITY", xml, re.IGNORECASE):
        raise Fault(
            "InvalidMessageInformationHeader",
            "DTDs are not allowed in WS-Man messages.",
            2150858817,
        )
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        raise Fault(
            "SchemaValidationError", "The request is not well-formed XML.", 2150858817
        ) from None
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None or body is None:
        raise Fault(
            "SchemaValidationError", "The SOAP envelope has no Header or no Body.", 2150858817
        )
    action = (header.findtext("a:Action", default="", namespaces=NS) or "").strip()
    message_id = header.findtext("a:MessageID", default="", namespaces=NS) or ""
    if not action:
        raise Fault("InvalidMessageInformationHeader", "The request has no wsa:Action.", 2150858817)
    return header, body, action, message_id


def handle_soap(xml):
    """One WS-Man request -> (HTTP status, reply envelope). Never raises."""
    message_id = ""
    try:
        header, body, action, message_id = _parse(xml)
        return 200, _dispatch(header, body, action, message_id)
    except Fault as fault:
        return 500, fault_envelope(message_id, fault)
    except Exception:  # a bug here must not leak Python's text to a client
        fault = Fault(
            "InternalError",
            "The lab WS-Management service could not process the request.",
            2150858817,
            "Receiver",
        )
        return 500, fault_envelope(message_id, fault)


def _selector(header, name):
    for selector in header.iter("{%s}Selector" % NS["w"]):
        if selector.get("Name") == name:
            return (selector.text or "").strip()
    return None


def _create(header, message_id):
    resource = (header.findtext("w:ResourceURI", default="", namespaces=NS) or "").strip()
    if resource.lower().startswith(PSRP_URI_PREFIX):
        raise Fault(
            "ActionNotSupported",
            "PowerShell remoting (PSRP, resource %s) is not supported by the lab host: it "
            "speaks WinRS cmd shells only (pywinrm run_cmd/run_ps, Ansible's winrm connection "
            "with raw/script). See docs/lab-windows.md." % resource,
            2150858771,
        )
    if resource != CMD_URI:
        raise Fault(
            "DestinationUnreachable",
            "The WS-Management service cannot process the request. The resource URI (%s) "
            "was not found in the WS-Management catalog." % resource,
            2150858770,
        )
    with LOCK:
        if len(SHELLS) >= MAX_SHELLS:
            raise Fault(
                "QuotaLimit",
                "The maximum number of concurrent shells (%d) is reached." % MAX_SHELLS,
                2150859174,
            )
        shell_id = str(uuid.uuid4()).upper()
        SHELLS[shell_id] = {}
        _write_shell_count()
    return envelope(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
        message_id,
        "<x:ResourceCreated><a:Address>http://lab/wsman</a:Address><a:ReferenceParameters>"
        '<w:ResourceURI>%s</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector>'
        "</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell><rsp:ShellId>%s</rsp:ShellId>"
        "<rsp:State>Connected</rsp:State></rsp:Shell>" % (CMD_URI, shell_id, shell_id),
    )


def _dispatch(header, body, action, message_id):
    if action.endswith("transfer/Create"):
        return _create(header, message_id)
    shell_id = _selector(header, "ShellId")
    shell = SHELLS.get(shell_id)
    if shell is None:
        raise Fault("InvalidSelectors", "The shell was not found.", 2150858843)
    if action.endswith("transfer/Delete"):
        with LOCK:
            SHELLS.pop(shell_id, None)
            _write_shell_count()
        return envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", message_id, ""
        )
    if action == SHELL_URI + "/Command":
        line = body.find("rsp:CommandLine", NS)
        if line is None:
            raise Fault(
                "SchemaValidationError", "The Command request has no CommandLine.", 2150858817
            )
        command = line.findtext("rsp:Command", default="", namespaces=NS) or ""
        arguments = line.findtext("rsp:Arguments", default="", namespaces=NS) or ""
        with LOCK:
            if len(shell) >= MAX_COMMANDS_PER_SHELL:
                raise Fault(
                    "QuotaLimit",
                    "The maximum number of commands per shell (%d) is reached."
                    % MAX_COMMANDS_PER_SHELL,
                    2150859174,
                )
            command_id = str(uuid.uuid4()).upper()
            shell[command_id] = Command((command + " " + arguments).strip())
        return envelope(
            SHELL_URI + "/CommandResponse",
            message_id,
            "<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>"
            % command_id,
        )
    if action == SHELL_URI + "/Send":
        return envelope(SHELL_URI + "/SendResponse", message_id, "<rsp:SendResponse/>")
    if action == SHELL_URI + "/Signal":
        signal = body.find("rsp:Signal", NS)
        if signal is not None:  # terminate: the command is forgotten, its quota slot freed
            with LOCK:
                shell.pop(signal.get("CommandId"), None)
        return envelope(SHELL_URI + "/SignalResponse", message_id, "<rsp:SignalResponse/>")
    if action == SHELL_URI + "/Receive":
        return _receive(header, body, shell, message_id)
    raise Fault(
        "ActionNotSupported", "Action not supported by the lab host: %s" % action, 2150858771
    )


def _receive(header, body, shell, message_id):
    timeout = parse_timeout(header.findtext("w:OperationTimeout", namespaces=NS))
    desired = body.find("rsp:Receive/rsp:DesiredStream", NS)
    cid = desired.get("CommandId") if desired is not None else None
    command = shell.get(cid) if cid else None
    if command is None:
        raise Fault("InvalidParameter", "Unknown command.", 2150858843)
    if not command.done.wait(timeout):
        raise Fault(
            "TimedOut",
            "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
            TIMEOUT_FAULT_CODE,
            "Receiver",
        )
    # Like WinRS under MaxEnvelopeSize (150 KB): stdout in chunks, one per Receive.
    start = command.sent
    chunk = command.stdout[start : start + CHUNK_BYTES]
    command.sent = start + len(chunk)
    parts = [("stdout", chunk)] + ([("stderr", command.stderr)] if start == 0 else [])
    streams = "".join(
        '<rsp:Stream Name="%s" CommandId=%s>%s</rsp:Stream>'
        % (name, quoteattr(cid), base64.b64encode(data).decode())
        for name, data in parts
        if data
    )
    if command.sent < len(command.stdout):
        state = '<rsp:CommandState CommandId=%s State="%s/CommandState/Running"/>' % (
            quoteattr(cid),
            SHELL_URI,
        )
        return envelope(
            SHELL_URI + "/ReceiveResponse",
            message_id,
            "<rsp:ReceiveResponse>%s%s</rsp:ReceiveResponse>" % (streams, state),
        )
    streams += '<rsp:Stream Name="stdout" CommandId=%s End="true"></rsp:Stream>' % quoteattr(cid)
    state = (
        '<rsp:CommandState CommandId=%s State="%s/CommandState/Done"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>'
        % (
            quoteattr(cid),
            SHELL_URI,
            command.rc,
        )
    )
    return envelope(
        SHELL_URI + "/ReceiveResponse",
        message_id,
        "<rsp:ReceiveResponse>%s%s</rsp:ReceiveResponse>" % (streams, state),
    )
