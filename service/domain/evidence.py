"""Tamper evidence: each school's hash chain over its stored events, signed checkpoints, and the
offline verifier of an export (no database, no decryption key).

A stored record is hashed exactly as the recorder holds it (its state as stored: compressed or
encrypted if the store is), with its log position, so a state copied from one row into another,
a row removed, inserted or moved all change the chain. docs/evidence-export.md is the format.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from eventsourcing.domain import Aggregate, event

CHAIN_FORMAT = "handover-evidence/1"
CHECKPOINT_FORMAT = "handover-checkpoint/1"
EXPORT_FORMAT = "handover-evidence-export/1"
SERVICE_CHAIN = "service"  # the chain of records that belong to no school (pairing tries)
CHECKPOINT_EVERY = 100  # events of a school between two checkpoints, at most
CHECKPOINT_AFTER = 300.0  # seconds an unsigned event waits for a checkpoint, at most
CHECKPOINT_MARGIN = 60.0  # seconds a verifier allows beyond CHECKPOINT_AFTER (clocks, rounds)

ROTATION_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/evidence-key-rotation")

_HEAD = struct.Struct(">QI")
_MID = struct.Struct(">QI")


# -- the chain ------------------------------------------------------------------------------------

def genesis(school_id: str) -> bytes:
    """The link before a school's first event: its chain cannot be passed off as another's."""
    return hashlib.sha256(CHAIN_FORMAT.encode() + b"\x00" + school_id.encode()).digest()


def record_digest(position: int, originator_id: str, originator_version: int, topic: str,
                  state: bytes) -> bytes:
    """SHA-256 of one stored record's canonical encoding (big-endian, UTF-8 text): position
    u64, len u32 + originator id, version u64, len u32 + topic, SHA-256 of the state as stored."""
    return digest_of(position, originator_id, originator_version, topic, hashlib.sha256(state).digest())


def digest_of(position: int, originator_id: str, originator_version: int, topic: str,
              state_sha256: bytes) -> bytes:
    """The record's digest from its state's hash: an export may carry the hash for a state its
    reader may not see (a store kept unencrypted), and the chain is the same."""
    oid, top = originator_id.encode(), topic.encode()
    return hashlib.sha256(b"".join((
        _HEAD.pack(position, len(oid)), oid, _MID.pack(originator_version, len(top)), top,
        state_sha256))).digest()


def next_link(previous: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(previous + digest).digest()


# -- keys and checkpoints -------------------------------------------------------------------------

def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(public_key: bytes) -> str:
    """A key's id is derived from the key itself: it cannot be claimed for another key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


@dataclass(frozen=True)
class PublicKey:
    """A school's public key and the interval it signs in: [valid_from, valid_until)."""

    school_id: str
    public_key: bytes
    valid_from: str
    valid_until: str | None = None

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    def valid_at(self, at: str) -> bool:
        moment = _moment(at)
        if moment is None or moment < _moment(self.valid_from):  # type: ignore[operator]
            return False
        until = _moment(self.valid_until) if self.valid_until else None
        return until is None or moment < until

    def to_json(self) -> dict[str, Any]:
        return {"school_id": self.school_id, "key_id": self.key_id, "public_key": b64(self.public_key),
                "valid_from": self.valid_from, "valid_until": self.valid_until}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PublicKey:
        key = cls(str(doc["school_id"]), unb64(str(doc["public_key"])), str(doc["valid_from"]),
                  None if doc.get("valid_until") is None else str(doc["valid_until"]))
        if doc.get("key_id") not in (None, key.key_id):
            raise ValueError(f"key id {doc.get('key_id')} is not the id of its key ({key.key_id})")
        return key


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@dataclass(frozen=True)
class Checkpoint:
    """A school's chain as it stood after its ``seq``-th event (at log ``position``), signed."""

    school_id: str
    seq: int
    position: int
    link: str  # hex
    at: str  # ISO 8601 with offset
    key_id: str
    signature: str = ""  # base64 Ed25519 over payload()

    def payload(self) -> bytes:
        """The signed bytes: canonical JSON (sorted keys, no spaces, ASCII)."""
        return json.dumps({"format": CHECKPOINT_FORMAT, "school_id": self.school_id, "seq": self.seq,
                           "position": self.position, "link": self.link, "at": self.at,
                           "key_id": self.key_id}, sort_keys=True, separators=(",", ":")).encode()

    def signed(self, key: Ed25519PrivateKey) -> Checkpoint:
        return Checkpoint(self.school_id, self.seq, self.position, self.link, self.at, self.key_id,
                          b64(key.sign(self.payload())))

    def to_json(self) -> dict[str, Any]:
        return {"school_id": self.school_id, "seq": self.seq, "position": self.position,
                "link": self.link, "at": self.at, "key_id": self.key_id, "signature": self.signature}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Checkpoint:
        return cls(str(doc["school_id"]), int(doc["seq"]), int(doc["position"]), str(doc["link"]),
                   str(doc["at"]), str(doc["key_id"]), str(doc.get("signature", "")))


class KeyRotation(Aggregate):
    """An admin's rotation of the school's signing key, in the log: who and when, and the
    public key it brought in (the private key stays in its file). Its id is fixed by the
    command (the admin and their Idempotency-Key): a repeat finds it and rotates nothing."""

    class Rotated(Aggregate.Created):
        school_id: str
        command: str
        key_id: str
        public_key: str  # the raw Ed25519 public key, base64
        by: dict[str, Any]

    @staticmethod
    def create_id(school_id: str, command: str) -> UUID:
        return uuid5(ROTATION_NAMESPACE, f"{school_id}/{command}")

    @event(Rotated)
    def __init__(self, school_id: str, command: str, key_id: str, public_key: str,
                 by: dict[str, Any]) -> None:
        if key_id != key_id_of(unb64(public_key)):
            raise ValueError("a rotation's key id is its public key's")
        self.school_id = school_id
        self.command = command
        self.key_id = key_id
        self.public_key = public_key
        self.by = by


def rejection(checkpoint: Checkpoint, keys: Mapping[str, PublicKey]) -> str | None:
    """Why a checkpoint cannot be trusted (None: its signature holds, by a trusted key, in the
    key's validity, for the key's school)."""
    key = keys.get(checkpoint.key_id)
    if key is None:
        return f"signed with key {checkpoint.key_id}, which is not a trusted public key"
    if key.school_id != checkpoint.school_id:
        return f"signed with key {checkpoint.key_id} of another school"
    try:
        Ed25519PublicKey.from_public_bytes(key.public_key).verify(
            unb64(checkpoint.signature), checkpoint.payload())
    except (InvalidSignature, ValueError):
        return "its signature does not verify: it was altered or forged"
    if not key.valid_at(checkpoint.at):
        return (f"signed at {checkpoint.at}, outside the validity of key {key.key_id} "
                f"({key.valid_from} to {key.valid_until or 'now'})")
    return None


def trusted_keys(text: str, school_id: str | None = None,
                 exported: Iterable[PublicKey] = ()) -> dict[str, PublicKey]:
    """The public keys a verifier trusts, from a key file: the JSON of GET /v1/evidence/keys
    (keys with their validity), or one PEM public key (its validity then as the export says,
    unbounded if the export does not have it)."""
    if "-----BEGIN PUBLIC KEY-----" in text:
        loaded = load_pem_public_key(text.encode())
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("the PEM key is not an Ed25519 public key")
        raw = raw_public_key(loaded)
        for key in exported:
            if key.public_key == raw:
                return {key.key_id: key}
        return {key_id_of(raw): PublicKey(school_id or "", raw, "0001-01-01T00:00:00+00:00")}
    doc = json.loads(text)
    entries = doc["keys"] if isinstance(doc, dict) else doc
    keys = [PublicKey.from_json(e) for e in entries]
    return {k.key_id: k for k in keys}


# -- the verifier ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fault:
    """The first thing found wrong at one place of a school's chain."""

    kind: str  # altered, removed, inserted, reordered, cut, uncovered
    school_id: str
    position: int | None
    seq: int | None
    detail: str


@dataclass(frozen=True)
class Header:
    """What an export's first line claims: the log position it covers, the school's events in
    it, and when it was taken."""

    school_id: str
    position: int
    events: int
    exported_at: datetime

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Header:
        try:
            header = cls(str(doc["school_id"]), int(doc["position"]), int(doc["events"]),
                         datetime.fromisoformat(str(doc["exported_at"])))
        except (KeyError, TypeError, ValueError):
            raise ValueError("the header needs school_id, position and events (integers) and "
                             "exported_at (ISO 8601 with an offset)") from None
        if header.exported_at.tzinfo is None:
            raise ValueError("the header's exported_at needs a time zone offset")
        return header


@dataclass
class Report:
    """What the verification of one school's chain found."""

    school_id: str
    events: int = 0
    checkpoints: int = 0  # verified against the recomputed chain
    keys: int = 0
    faults: list[Fault] = field(default_factory=list)
    rejected: list[tuple[Checkpoint, str]] = field(default_factory=list)
    broken: Checkpoint | None = None  # the first checkpoint the recomputed chain does not reach
    last_checkpoint: Checkpoint | None = None

    @property
    def ok(self) -> bool:
        return not self.faults and not self.rejected and self.broken is None

    @property
    def first(self) -> Fault | None:
        return self.faults[0] if self.faults else None

    def lines(self) -> list[str]:
        """The report as an inspector reads it."""
        if self.ok:
            covered = (f"up to position {self.last_checkpoint.position} (checkpoint of "
                       f"{self.last_checkpoint.at})" if self.last_checkpoint else "no checkpoint yet")
            return [(f"school {self.school_id}: OK: {self.events} events, {self.checkpoints} "
                    f"signed checkpoints verified with {self.keys} key(s), {covered}")]
        out: list[str] = []
        for checkpoint, why in self.rejected:
            out.append(f"school {self.school_id}: REJECTED checkpoint at position "
                       f"{checkpoint.position} (seq {checkpoint.seq}, {checkpoint.at}): {why}")
        first = self.first
        if first is not None:
            if first.position is None and first.kind != "altered":
                out.append(f"school {self.school_id}: FAILED: {first.kind}: {first.detail}")
            else:
                where = f"position {first.position}" if first.position is not None else "an unknown position"
                out.append(f"school {self.school_id}: FAILED: first {first.kind} event at {where}"
                           f"{'' if first.seq is None else f' (event {first.seq} of the school)'}: "
                           f"{first.detail}")
        if self.broken is not None:
            out.append(f"school {self.school_id}: it breaks the checkpoint at position "
                       f"{self.broken.position} (seq {self.broken.seq}, signed {self.broken.at})")
        elif first is not None and first.kind != "uncovered":
            out.append(f"school {self.school_id}: no signed checkpoint covers it yet")
        if len(self.faults) > 1:
            out.append(f"school {self.school_id}: {len(self.faults) - 1} more fault(s) after it")
        return out


class ChainCheck:
    """Recomputes one school's chain from its records, in log order, against the links the
    service recorded and the signed checkpoints. Feed it checkpoints before the records."""

    def __init__(self, school_id: str, keys: Mapping[str, PublicKey], header: Header | None = None) -> None:
        self.report = Report(school_id, keys=sum(k.school_id == school_id for k in keys.values()))
        self.keys = keys
        self.header = header
        self.covered = 0  # the last event a verified checkpoint covers
        self.covered_at: datetime | None = None
        self.tail: tuple[int, int] | None = None  # the first event after it: (seq, position)
        self.uncovered = False  # the run after the last verified checkpoint is reported
        self.past_header = False
        self.checkpoints: dict[int, list[Checkpoint]] = {}
        self.pure: bytes | None = genesis(school_id)  # from the stored bytes alone
        self.located: bytes = genesis(school_id)  # follows the recorded links after a fault
        self.seq = 0
        self.position = 0

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        why = rejection(checkpoint, self.keys)
        if checkpoint.school_id != self.report.school_id:
            why = why or f"it is a checkpoint of school {checkpoint.school_id}"
        if why is not None:
            self.report.rejected.append((checkpoint, why))
        elif checkpoint.seq <= self.seq:
            raise ValueError("checkpoints come before the records they cover")
        elif checkpoint not in (known := self.checkpoints.setdefault(checkpoint.seq, [])):
            known.append(checkpoint)  # a kept copy that differs from the export's is checked too

    def _fault(self, kind: str, position: int | None, seq: int | None, detail: str) -> None:
        self.report.faults.append(Fault(kind, self.report.school_id, position, seq, detail))

    def event(self, seq: int, position: int, originator_id: str, originator_version: int,
              topic: str, state_sha256: bytes, link: str | None) -> None:
        self._order(seq, position)
        digest = digest_of(position, originator_id, originator_version, topic, state_sha256)
        pure = None if self.pure is None else next_link(self.pure, digest)
        located = pure if pure is not None and self.located == self.pure else next_link(self.located, digest)
        if link is not None and located.hex() != link:
            self._fault("altered", position, seq, "its stored bytes (id, version, topic, state or "
                        "place in the log) are not those the chain recorded")
            located = bytes.fromhex(link)
        self.pure, self.located = pure, located
        self._reached(seq, position)

    def missing(self, seq: int, position: int, link: str) -> None:
        self._order(seq, position)
        self._fault("removed", position, seq, "the chain recorded an event here; the store has none")
        self.pure, self.located = None, bytes.fromhex(link)
        self._reached(seq, position)

    def unchained(self, position: int) -> None:
        self._fault("inserted", position, None, "a stored record that no chain recorded")

    def _order(self, seq: int, position: int) -> None:
        if seq != self.seq + 1:
            self._fault("removed" if seq > self.seq + 1 else "reordered", position, seq,
                        f"event {seq} of the school follows event {self.seq}")
            self.pure = None
        if position <= self.position:
            self._fault("reordered", position, seq, f"position {position} follows position {self.position}")
            self.pure = None
        if self.header is not None and not self.past_header and (
                seq > self.header.events or position > self.header.position):
            self.past_header = True
            self._fault("inserted", position, seq, f"the header counts {self.header.events} events "
                        f"of the school up to position {self.header.position}; this is event {seq} "
                        f"at position {position}")
        self.seq, self.position = seq, position
        self.report.events += 1
        if self.tail is None:
            self.tail = (seq, position)

    def _reached(self, seq: int, position: int) -> None:
        for checkpoint in self.checkpoints.pop(seq, []):
            self._against(checkpoint, position)
        if seq - self.covered > CHECKPOINT_EVERY and not self.uncovered:
            self.uncovered = True
            self._fault("uncovered", position, seq, f"{seq - self.covered} events of the school "
                        f"follow {self._covered_text()} with no signed checkpoint over them; the "
                        f"service signs one at least every {CHECKPOINT_EVERY} events")

    def _covered_text(self) -> str:
        return (f"the checkpoint over event {self.covered} ({self.covered_at.isoformat()})"
                if self.covered_at is not None else "the chain's start")

    def _against(self, checkpoint: Checkpoint, position: int) -> None:
        if self.pure is not None and checkpoint.position == position and self.pure.hex() == checkpoint.link:
            self.report.checkpoints += 1
            self.report.last_checkpoint = checkpoint
            signed_at = datetime.fromisoformat(checkpoint.at)
            if checkpoint.seq > self.covered or self.covered_at is None or signed_at > self.covered_at:
                self.covered, self.covered_at = checkpoint.seq, signed_at
            self.tail, self.uncovered = None, False
        elif self.report.broken is None:
            self.report.broken = checkpoint
            if not self.report.faults:  # the recorded links were rewritten along with the records
                self._fault("altered", None, None, f"the records after position "
                            f"{self.report.last_checkpoint.position if self.report.last_checkpoint else 0}"
                            f" up to {checkpoint.position} do not give the signed chain")

    def finish(self) -> Report:
        for checkpoint in sorted((c for cs in self.checkpoints.values() for c in cs), key=lambda c: c.seq):
            if self.report.broken is None:
                self.report.broken = checkpoint
            self._fault("cut", checkpoint.position, checkpoint.seq,
                        f"the signed chain goes on to event {checkpoint.seq}; the export ends at "
                        f"event {self.seq} (position {self.position})")
            break
        self._against_header()
        return self.report

    def _against_header(self) -> None:
        """The header's counts against the lines, and the coverage the service promises at the
        export's time: no more than CHECKPOINT_EVERY events, none waiting longer than
        CHECKPOINT_AFTER (+ CHECKPOINT_MARGIN), without a signed checkpoint over them."""
        header = self.header
        if header is None:
            return
        if self.seq < header.events:
            self._fault("cut", None, None, f"the header counts {header.events} events of the "
                        f"school; the export ends at event {self.seq}"
                        f"{f' (position {self.position})' if self.seq else ''}")
        if self.tail is None or self.uncovered:
            return
        waited = (None if self.covered_at is None
                  else (header.exported_at - self.covered_at).total_seconds())
        if waited is None or waited > CHECKPOINT_AFTER + CHECKPOINT_MARGIN:
            seq, position = self.tail
            since = "" if waited is None else f", {waited / 60:.0f} minutes before"
            self._fault("uncovered", position, seq, f"{self.seq - self.covered} events of the school "
                        f"follow {self._covered_text()}{since} the export of "
                        f"{header.exported_at.isoformat()}, with no signed checkpoint over them; the "
                        f"service signs one once an event has waited {CHECKPOINT_AFTER / 60:.0f} minutes")


def state_hash(doc: Mapping[str, Any]) -> bytes:
    """A record's state hash: of its ``state`` (base64), or its ``state_sha256`` (hex)."""
    if "state" in doc:
        return hashlib.sha256(unb64(str(doc["state"]))).digest()
    return bytes.fromhex(str(doc["state_sha256"]))


def read_lines(lines: Iterable[str | bytes]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as e:
            raise ValueError(f"line {number} is not JSON: {e}") from None
        if not isinstance(doc, dict) or "kind" not in doc:
            raise ValueError(f"line {number} is not an export line (no kind)")
        yield doc


def verify_export(lines: Iterable[str | bytes], key_text: str | None = None,
                  keys: Mapping[str, PublicKey] | None = None,
                  kept: Iterable[Checkpoint] = ()) -> Report:
    """Verify one school's export (JSON lines, see docs/evidence-export.md) against trusted
    public keys (a key file's text, or keys already loaded) and the checkpoints it holds, with
    any ``kept`` from earlier (an inspector's copies, a witness's): a log rewritten together with
    its chain and checkpoints still breaks a checkpoint kept elsewhere."""
    docs = read_lines(lines)
    header = next(docs, None)
    if header is None or header.get("kind") != "export" or header.get("format") != EXPORT_FORMAT:
        raise ValueError(f"not an evidence export: the first line must be its {EXPORT_FORMAT} header")
    claimed = Header.from_json(header)
    check: ChainCheck | None = None
    exported: list[PublicKey] = []
    for doc in docs:
        kind = doc["kind"]
        if kind == "key":
            exported.append(PublicKey.from_json(doc))
            continue
        if check is None:
            check = _check(claimed, key_text, keys, exported, kept)
        if kind == "checkpoint":
            check.checkpoint(Checkpoint.from_json(doc))
        elif kind == "event":
            check.event(int(doc["seq"]), int(doc["position"]), str(doc["originator_id"]),
                        int(doc["originator_version"]), str(doc["topic"]), state_hash(doc),
                        None if doc.get("link") is None else str(doc["link"]))
        elif kind == "missing":
            check.missing(int(doc["seq"]), int(doc["position"]), str(doc["link"]))
        elif kind == "unchained":
            check.unchained(int(doc["position"]))
        else:
            raise ValueError(f"unknown line kind {kind!r}")
    if check is None:
        check = _check(claimed, key_text, keys, exported, kept)
    return check.finish()


def _check(header: Header, key_text: str | None, keys: Mapping[str, PublicKey] | None,
           exported: list[PublicKey], kept: Iterable[Checkpoint]) -> ChainCheck:
    trusted = dict(keys) if keys is not None else trusted_keys(key_text or "", header.school_id, exported)
    check = ChainCheck(header.school_id, trusted, header)
    for checkpoint in kept:
        if checkpoint.school_id == header.school_id:
            check.checkpoint(checkpoint)
    return check


def kept_checkpoints(text: str) -> list[Checkpoint]:
    """Checkpoints kept from earlier: the JSON of GET /v1/evidence/checkpoints (one page or a
    list of pages), a list of checkpoints, or JSON lines of them."""
    text = text.strip()
    try:
        docs: Any = json.loads(text)
    except ValueError:
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    pages = docs if isinstance(docs, list) else [docs]
    found: list[Checkpoint] = []
    for page in pages:
        entries = page.get("checkpoints", [page]) if isinstance(page, dict) else [page]
        found += [Checkpoint.from_json(e) for e in entries]
    return found


# -- inclusion proofs: one event tied to a signed checkpoint ----------------------------------------

def verify_proof(proof: Mapping[str, Any], keys: Mapping[str, PublicKey]) -> str | None:
    """Why a proof does not tie its event to its checkpoint (None: it does). The proof holds the
    event's stored record, the link before it and the digests of the school's later records up
    to the checkpoint: their content stays private."""
    checkpoint = Checkpoint.from_json(proof["checkpoint"])
    why = rejection(checkpoint, keys)
    if why is not None:
        return f"the checkpoint is rejected: {why}"
    if checkpoint.school_id != proof["school_id"]:
        return "the checkpoint is another school's"
    record = proof["record"]
    link = next_link(bytes.fromhex(str(proof["previous_link"])), digest_of(
        int(proof["position"]), str(record["originator_id"]), int(record["originator_version"]),
        str(record["topic"]), state_hash(record)))
    seq, position = int(proof["seq"]), int(proof["position"])
    for step in proof["path"]:
        if int(step["seq"]) != seq + 1 or int(step["position"]) <= position:
            return f"the path skips or reorders events after event {seq}"
        seq, position = int(step["seq"]), int(step["position"])
        link = next_link(link, bytes.fromhex(str(step["digest"])))
    if seq != checkpoint.seq or position != checkpoint.position:
        return f"the path ends at event {seq}, not at the checkpoint's event {checkpoint.seq}"
    if link.hex() != checkpoint.link:
        return "the event's stored record does not lead to the checkpoint's link"
    return None
