"""Read a local restic repository directly: the key derived once for the whole scan.

Every `restic` process derives the repository key again (scrypt: about a fifth of a CPU
second) and reloads the index, so a scan of 30 snapshots that needs one process per
snapshot pays that 30 times. This reader opens the repository once and reads what the
scan needs (snapshots, trees, file contents) straight from the pack files, read-only.

The format (restic's design document, repository versions 1 and 2):
- a key file (keys/) holds scrypt parameters and the master key, sealed with the key
  derived from the password;
- every file and blob is sealed as IV (16) || AES-256-CTR ciphertext || Poly1305-AES MAC
  (16), the MAC over the ciphertext; the MAC is checked before anything is decrypted;
- index, snapshot files and (version 2) compressed blobs are zstd-compressed; a blob's id
  is the SHA-256 of its plaintext, checked on every read, so a tree cannot contain itself.

Only a repository on a local path is read this way; anything else (sftp:, rest:...) goes
through the restic binary (restore.backups.restic). Nothing here ever writes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import zstandard
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.poly1305 import Poly1305

from restore.backups import tree
from restore.backups.restic import Read, ResticError, Snapshot

_IV, _MAC = 16, 16
# bounds against a hostile repository (one written by an attacker who had the password)
_MAX_SCRYPT_N, _MAX_SCRYPT_R, _MAX_SCRYPT_P = 1 << 20, 32, 64
_MAX_SMALL_FILE = 256 << 20  # a key, index or snapshot file larger than this is refused
_MAX_BLOB = 64 << 20  # restic's chunks are at most 8 MiB, its tree blobs rarely MiBs
_MAX_DEPTH = 256
_MAX_NODES = 20_000_000
_OPEN_PACKS = 32  # > the reader threads (content.READ_AHEAD_THREADS)


@dataclass(frozen=True)
class _MasterKey:
    encrypt: bytes  # AES-256
    mac_k: bytes  # AES-128 key of Poly1305-AES
    mac_r: bytes


@dataclass(frozen=True)
class _BlobPlace:
    pack: str
    offset: int
    length: int
    uncompressed: int  # restic's uncompressed_length; 0: the blob is stored uncompressed


_GO_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_GO_SIMPLE = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}


def node_name(stored: str) -> str:
    """A tree node's name as restic means it.

    restic stores a name as the inside of Go's strconv.Quote (a newline is the two
    characters \\n, a byte that is not UTF-8 is \\xfe) and unquotes it when it reads the
    tree. Bytes that are not UTF-8 become U+FFFD, as in `restic find --json`.
    """
    if "\\" not in stored:
        return stored
    out = bytearray()
    last = 0
    for match in _GO_ESCAPE.finditer(stored):
        out += stored[last : match.start()].encode("utf-8", "surrogatepass")
        code = match.group(1)
        if code[0] == "x":
            out.append(int(code[1:], 16))
        elif code[0] in "uU":
            out += chr(min(int(code[1:], 16), 0x10FFFF)).encode("utf-8", "surrogatepass")
        elif code[0] in "01234567" and len(code) == 3:
            out.append(int(code, 8) & 0xFF)
        else:
            out.append(_GO_SIMPLE.get(code, ord(code) if ord(code) < 128 else 63))
        last = match.end()
    out += stored[last:].encode("utf-8", "surrogatepass")
    return out.decode("utf-8", "replace")


def is_local(location: str) -> bool:
    """A repository this reader can open: a directory holding a restic config file."""
    return os.path.isfile(os.path.join(location, "config")) and os.path.isdir(
        os.path.join(location, "keys")
    )


def _b64(value: Any, what: str, size: int) -> bytes:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise ResticError(f"restic repository: {what} is not {size} bytes of base64")
    return raw


def _open(key: _MasterKey, sealed: bytes, what: str) -> bytes:
    """Check the MAC of a sealed file or blob, then decrypt it."""
    if len(sealed) < _IV + _MAC:
        raise ResticError(f"restic repository: {what} is too short to be sealed")
    iv, body, tag = sealed[:_IV], sealed[_IV:-_MAC], sealed[-_MAC:]
    encryptor = Cipher(algorithms.AES(key.mac_k), modes.ECB()).encryptor()
    mac = Poly1305(key.mac_r + encryptor.update(iv) + encryptor.finalize())
    mac.update(body)
    if not hmac.compare_digest(mac.finalize(), tag):
        raise ResticError(f"restic repository: {what} fails its MAC (wrong key or tampered)")
    decryptor = Cipher(algorithms.AES(key.encrypt), modes.CTR(iv)).decryptor()
    return decryptor.update(body) + decryptor.finalize()


def _unzstd(data: bytes, limit: int, what: str) -> bytes:
    try:
        declared = zstandard.frame_content_size(data)
        if declared > limit:  # -1: not declared; the output buffer is then ``limit``
            raise ResticError(f"restic repository: {what} decompresses to more than {limit} bytes")
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=limit)
    except zstandard.ZstdError as exc:
        raise ResticError(f"restic repository: {what} is not valid zstd: {exc}") from None


def _unpacked_json(data: bytes, what: str) -> Any:
    """A config, index or snapshot file: JSON, or (version 2) byte 2 then zstd of JSON."""
    if data[:1] == b"\x02":
        data = _unzstd(data[1:], _MAX_SMALL_FILE, what)
    try:
        return json.loads(data)
    except ValueError:
        raise ResticError(f"restic repository: {what} is not JSON") from None


def _read_small(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_SMALL_FILE + 1)
    except OSError as exc:
        raise ResticError(f"restic repository: cannot read {what}: {exc.strerror}") from None
    if len(data) > _MAX_SMALL_FILE:
        raise ResticError(f"restic repository: {what} is larger than {_MAX_SMALL_FILE} bytes")
    return data


def _files(directory: str) -> list[str]:
    """Hex-named files of a repository directory (data/ has one level of subdirectories)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise ResticError(f"restic repository: cannot list {directory}: {exc.strerror}") from None
    return [n for n in names if len(n) == 64 and all(c in "0123456789abcdef" for c in n)]


def _master_key(location: str, password: str) -> _MasterKey:
    keys_dir = os.path.join(location, "keys")
    for name in _files(keys_dir):
        what = f"key file {name[:8]}"
        try:
            doc = json.loads(_read_small(os.path.join(keys_dir, name), what))
            n, r, p = int(doc["N"]), int(doc["r"]), int(doc["p"])
            salt = base64.b64decode(str(doc["salt"]))
            sealed = base64.b64decode(str(doc["data"]))
        except (ValueError, KeyError, TypeError):
            raise ResticError(f"restic repository: {what} is not a restic key") from None
        if doc.get("kdf") != "scrypt" or not (
            1 < n <= _MAX_SCRYPT_N and 0 < r <= _MAX_SCRYPT_R and 0 < p <= _MAX_SCRYPT_P
        ):
            raise ResticError(f"restic repository: {what} asks for an unsupported or huge KDF")
        derived = hashlib.scrypt(
            password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20), dklen=64
        )
        user = _MasterKey(derived[:32], derived[32:48], derived[48:64])
        try:
            plain = _open(user, sealed, what)
        except ResticError:
            continue  # another key file may be this password's
        try:
            master = json.loads(plain)
            return _MasterKey(
                _b64(master["encrypt"], "the master encryption key", 32),
                _b64(master["mac"]["k"], "the master MAC key", 16),
                _b64(master["mac"]["r"], "the master MAC key", 16),
            )
        except (ValueError, KeyError, TypeError):
            raise ResticError(f"restic repository: {what} holds no master key") from None
    raise ResticError("restic repository: wrong password or no key found (keys/)")


class LocalRepository:
    """One opened repository: master key and index in memory, pack files opened on demand."""

    def __init__(self, location: str, password: str) -> None:
        self.location = location
        self._key = _master_key(location, password)
        config = _unpacked_json(self._sealed_file("config", "the config file"), "the config file")
        if not isinstance(config, dict) or config.get("version") not in (1, 2):
            raise ResticError("restic repository: a config of an unknown repository version")
        self._index = self._load_index()
        self._packs: OrderedDict[str, IO[bytes]] = OrderedDict()
        self._packs_lock = threading.Lock()  # blobs are read ahead by worker threads

    def close(self) -> None:
        with self._packs_lock:
            for handle in self._packs.values():
                handle.close()
            self._packs.clear()

    def __enter__(self) -> LocalRepository:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- files of the repository ---------------------------------------------------------

    def _sealed_file(self, relative: str, what: str) -> bytes:
        return _open(self._key, _read_small(os.path.join(self.location, relative), what), what)

    def _load_index(self) -> dict[str, _BlobPlace]:
        index: dict[str, _BlobPlace] = {}
        for name in _files(os.path.join(self.location, "index")):
            what = f"index file {name[:8]}"
            doc = _unpacked_json(self._sealed_file(f"index/{name}", what), what)
            packs = doc.get("packs") if isinstance(doc, dict) else None
            for pack in packs if isinstance(packs, list) else ():
                pack_id = str(pack.get("id", "")) if isinstance(pack, dict) else ""
                for blob in pack.get("blobs") or () if pack_id else ():
                    try:
                        place = _BlobPlace(
                            pack_id,
                            int(blob["offset"]),
                            int(blob["length"]),
                            int(blob.get("uncompressed_length") or 0),
                        )
                        index[str(blob["id"])] = place
                    except (KeyError, TypeError, ValueError):
                        raise ResticError(f"restic repository: {what}: a bad blob entry") from None
        return index

    def _pack_fd(self, pack_id: str) -> int:
        """A descriptor of the pack, kept open (LRU), read with os.pread by any thread.

        A descriptor is closed only when _OPEN_PACKS other packs were opened since it was
        last handed out; each reader thread opens one pack between getting a descriptor and
        reading it, so with fewer readers than _OPEN_PACKS none is closed (and its number
        reused) under a reader."""
        with self._packs_lock:
            handle = self._packs.get(pack_id)
            if handle is not None:
                self._packs.move_to_end(pack_id)
                return handle.fileno()
            if len(pack_id) != 64 or not all(c in "0123456789abcdef" for c in pack_id):
                raise ResticError(f"restic repository: a pack id that is not hex: {pack_id[:16]!r}")
            path = os.path.join(self.location, "data", pack_id[:2], pack_id)
            try:
                handle = open(path, "rb", buffering=0)  # noqa: SIM115 (an LRU of open packs)
            except OSError as exc:
                why = exc.strerror
                raise ResticError(f"restic repository: pack {pack_id[:8]}: {why}") from None
            self._packs[pack_id] = handle
            if len(self._packs) > _OPEN_PACKS:
                self._packs.popitem(last=False)[1].close()
            return handle.fileno()

    def blob(self, blob_id: str) -> bytes:
        """A blob's plaintext, its SHA-256 checked against its id."""
        place = self._index.get(blob_id)
        if place is None:
            raise ResticError(f"restic repository: blob {blob_id[:8]} is not in the index")
        if not 0 < place.length <= _MAX_BLOB + _IV + _MAC or place.offset < 0:
            raise ResticError(f"restic repository: blob {blob_id[:8]} has an odd size")
        try:
            sealed = os.pread(self._pack_fd(place.pack), place.length, place.offset)
        except OSError as exc:
            raise ResticError(f"restic repository: pack {place.pack[:8]}: {exc.strerror}") from None
        if len(sealed) != place.length:
            raise ResticError(f"restic repository: pack {place.pack[:8]} is truncated")
        plain = _open(self._key, sealed, f"blob {blob_id[:8]}")
        if place.uncompressed:
            limit = min(place.uncompressed, _MAX_BLOB)
            plain = _unzstd(plain, limit, f"blob {blob_id[:8]}")
        if hashlib.sha256(plain).hexdigest() != blob_id:
            raise ResticError(f"restic repository: blob {blob_id[:8]} does not match its id")
        return plain

    # -- what the scan reads ---------------------------------------------------------------

    def snapshots(self, tag: str = "") -> list[tuple[Snapshot, str]]:
        """The snapshots (optionally one tag's), oldest first, each with its root tree id."""
        found = []
        for name in _files(os.path.join(self.location, "snapshots")):
            what = f"snapshot {name[:8]}"
            doc = _unpacked_json(self._sealed_file(f"snapshots/{name}", what), what)
            if not isinstance(doc, dict) or not isinstance(doc.get("tree"), str):
                raise ResticError(f"restic repository: {what} has no tree")
            tags = tuple(str(t) for t in doc.get("tags") or ())
            if tag and tag not in tags:
                continue
            snapshot = Snapshot(
                id=name,
                short_id=name[:8],
                time=str(doc.get("time", "")),
                tags=tags,
                paths=tuple(str(p) for p in doc.get("paths") or ()),
                hostname=str(doc.get("hostname", "")),
            )
            found.append((snapshot, doc["tree"]))
        return sorted(found, key=lambda pair: (pair[0].time, pair[0].id))

    def nodes(self, tree_id: str) -> Iterator[tuple[tree.Node, tuple[str, ...]]]:
        """Every node under a root tree, depth first, each with its content blob ids.

        Paths are built as restic find prints them ("/etc/passwd"); a name is data, never
        a path to open (a "/" or ".." in it only makes an odd path string).
        """
        counted = [0]
        yield from self._walk("", tree_id, 0, counted)

    def _walk(
        self, prefix: str, tree_id: str, depth: int, counted: list[int]
    ) -> Iterator[tuple[tree.Node, tuple[str, ...]]]:
        # each node, then what is under it: the order of `restic find`
        if depth > _MAX_DEPTH:
            raise ResticError(f"restic repository: trees nested deeper than {_MAX_DEPTH}")
        try:
            doc = json.loads(self.blob(tree_id))
        except ValueError:
            raise ResticError(f"restic repository: tree {tree_id[:8]} is not JSON") from None
        raw_nodes = doc.get("nodes") if isinstance(doc, dict) else None
        for raw in raw_nodes if isinstance(raw_nodes, list) else ():
            if not isinstance(raw, dict):
                continue
            counted[0] += 1
            if counted[0] > _MAX_NODES:
                raise ResticError(f"restic repository: more than {_MAX_NODES} files")
            path = f"{prefix}/{node_name(str(raw.get('name', '')))}"
            node = tree.node_from_json({**raw, "path": path})
            content = raw.get("content") if node.type == "file" else None
            ids = tuple(str(c) for c in content) if isinstance(content, list) else ()
            yield node, ids
            if node.type == "dir" and isinstance(raw.get("subtree"), str):
                yield from self._walk(path, raw["subtree"], depth + 1, counted)

    def read_file(self, content: tuple[str, ...], cap: int) -> Read:
        """The first ``cap`` bytes of a file whose content is these blobs."""
        chunks: list[bytes] = []
        size = 0
        try:
            for blob_id in content:
                if size > cap:
                    break
                data = self.blob(blob_id)
                chunks.append(data)
                size += len(data)
        except ResticError as exc:
            return Read(b"".join(chunks)[:cap], truncated=False, error=str(exc))
        data = b"".join(chunks)
        return Read(data[:cap], truncated=len(data) > cap)
