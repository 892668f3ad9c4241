"""Each school's hash chain over the stored log, and the signed checkpoints and keys beside it.

The chain view follows the log exactly once, like every view, from the stored bytes of each
record (not its decoded event). Which school a record belongs to is not readable from its
bytes when the store is encrypted, so the view records it: ``agg/<originator>`` (the school
of each aggregate, from its first event), ``pos/<position>`` (the school, the record's number in
that school's chain and its link), ``e/<school>/<seq>`` (the position and link of the school's
seq-th record) and ``head/<school>`` (the chain's last link). A verifier needs none of this
but the position lists an export carries; it recomputes every link from the stored bytes.

Checkpoints and public keys live in a view of their own that no rebuild resets: they were
published, and the chain view rebuilt from the log gives the same links again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.persistence import Notification

from service.adapters.signing_keys import KeyFiles
from service.domain.errors import NotFoundError
from service.domain.evidence import (
    CHECKPOINT_AFTER,
    CHECKPOINT_EVERY,
    SERVICE_CHAIN,
    Checkpoint,
    PublicKey,
    genesis,
    next_link,
    record_digest,
)
from service.domain.school import School
from service.projections.docstore import Doc, DocView
from service.projections.failures import Deferred, Undecodable
from service.projections.runtime import Batch, DocProjection

CHAIN = "evidence"
SIGNED = "evidence-signed"


def _seq_key(school_id: str, seq: int) -> str:
    return f"e/{school_id}/{seq:012d}"


def pos_key(position: int) -> str:
    return f"pos/{position:012d}"


def school_of_event(notification: Notification, event: Any) -> str:
    """The school a record's event names (a school's own founding: the school itself)."""
    school = getattr(event, "school_id", None)
    if school is None and isinstance(event, School.Founded):
        school = notification.originator_id
    return SERVICE_CHAIN if school is None else str(school)


class Chain(DocProjection):
    """Links every stored record into its school's chain, in log order."""

    name = CHAIN
    decodes = False  # the school of an aggregate is read from its first event only

    def prefetch(self, notifications: Sequence[Notification], batch: Batch) -> None:
        aggregates = [f"agg/{n.originator_id}" for n in notifications]
        batch.load(aggregates)
        batch.load([f"head/{doc['s']}" for key in aggregates if (doc := batch.loaded[key]) is not None])

    def apply_recorded(self, notification: Notification, event: Any, batch: Batch) -> None:
        agg_key = f"agg/{notification.originator_id}"
        known = batch.get(agg_key)
        if known is not None:
            school = str(known["s"])
        else:  # an aggregate's first record: its event names the school
            if isinstance(event, Deferred):
                event = event.decoded()
            if isinstance(event, Undecodable):
                raise event.error
            school = school_of_event(notification, event)
            batch.put(agg_key, {"s": school})
        head = batch.get(f"head/{school}")
        seq = (head["seq"] if head else 0) + 1
        previous = bytes.fromhex(head["link"]) if head else genesis(school)
        link = next_link(previous, record_digest(
            notification.id, str(notification.originator_id), notification.originator_version,
            notification.topic, notification.state)).hex()
        batch.put(f"head/{school}", {"school_id": school, "seq": seq, "position": notification.id,
                                     "link": link})
        batch.put(_seq_key(school, seq), {"p": notification.id, "h": link})
        batch.put(pos_key(notification.id), {"s": school, "n": seq, "h": link})


def _not_before(at: datetime, key: PublicKey | None) -> datetime:
    """A moment no earlier than the key's start: a clock set back never signs outside it."""
    if key is None:
        return at
    start = datetime.fromisoformat(key.valid_from)
    return max(at, start)


class Evidence:
    """The chain view read, and the checkpoints and keys signed over it."""

    def __init__(self, chain: DocView, signed: DocView, keys: KeyFiles) -> None:
        self.chain, self.signed, self.key_files = chain, signed, keys
        self._unsigned_since: dict[str, datetime] = {}
        self._lock = threading.Lock()

    # -- the chain ----------------------------------------------------------------------------
    def head(self, school_id: str) -> Doc | None:
        return self.chain.get(f"head/{school_id}")

    def heads(self) -> dict[str, Doc]:
        return {doc["school_id"]: doc for doc in self.chain.scan("head/").values()}

    def entry(self, school_id: str, seq: int) -> Doc | None:
        return self.chain.get(_seq_key(school_id, seq))

    def at_positions(self, positions: list[int]) -> dict[int, Doc]:
        docs = self.chain.get_many(pos_key(p) for p in positions)
        return {int(k.removeprefix("pos/")): d for k, d in docs.items()}

    def school_known(self, originator_id: str) -> str | None:
        doc = self.chain.get(f"agg/{originator_id}")
        return None if doc is None else str(doc["s"])

    # -- keys -----------------------------------------------------------------------------------
    def keys(self, school_id: str) -> list[PublicKey]:
        docs = self.signed.scan(f"key/{school_id}/").values()
        return sorted((PublicKey.from_json(d) for d in docs), key=lambda k: k.valid_from)

    def all_keys(self) -> dict[str, PublicKey]:
        return {k.key_id: k for k in (PublicKey.from_json(d) for d in self.signed.scan("key/").values())}

    def current_key(self, school_id: str) -> PublicKey | None:
        current = [k for k in self.keys(school_id) if k.valid_until is None]
        return current[-1] if current else None

    def rotations(self, school_id: str) -> dict[str, str]:
        """The id of the rotation (a KeyRotation in the log) that brought in each key that one did."""
        return {str(d["key_id"]): str(d["rotation"]) for d in self.signed.scan(f"key/{school_id}/").values()
                if d.get("rotation")}

    def rotate(self, school_id: str, at: datetime, *, new: tuple[str, bytes] | None = None,
               rotation: str | None = None) -> PublicKey:
        """A new signing key from ``at`` on (``new``: one already made, its id and public key;
        ``rotation``: the recorded rotation that brought it in); the current one stays valid up
        to ``at``. A key already published is not brought in again."""
        with self._lock:
            if new is not None and (done := self.signed.get(f"key/{school_id}/{new[0]}")) is not None:
                return PublicKey.from_json(done)
            return self._new_key(school_id, at, new, rotation)

    def _new_key(self, school_id: str, at: datetime, new: tuple[str, bytes] | None = None,
                 rotation: str | None = None) -> PublicKey:
        old = self.current_key(school_id)
        moment = _not_before(at, old)
        if old is not None:  # every checkpoint the old key signed stays inside its interval
            signed = [datetime.fromisoformat(c.at) for c in self.checkpoints(school_id)
                      if c.key_id == old.key_id]
            moment = max([moment, *(t + timedelta(microseconds=1) for t in signed)])
        moment_text = moment.isoformat()
        key_id, public = new or self.key_files.create(school_id)
        key = PublicKey(school_id, public, moment_text)
        self.signed.replace(f"key/{school_id}/{key_id}",
                            {**key.to_json(), **({"rotation": rotation} if rotation else {})})
        if old is not None:
            retired = PublicKey(old.school_id, old.public_key, old.valid_from, moment_text)
            kept = self.signed.get(f"key/{school_id}/{old.key_id}") or {}
            self.signed.replace(f"key/{school_id}/{old.key_id}", {**kept, **retired.to_json()})
        return key

    # -- checkpoints ----------------------------------------------------------------------------
    def checkpoints(self, school_id: str, after_seq: int = 0, limit: int | None = None) -> list[Checkpoint]:
        docs = self.signed.scan(f"cp/{school_id}/")
        found = [Checkpoint.from_json(docs[k]) for k in sorted(docs)]
        found = [c for c in found if c.seq > after_seq]
        return found if limit is None else found[:limit]

    def last_checkpoint(self, school_id: str) -> Checkpoint | None:
        doc = self.signed.get(f"last/{school_id}")
        return None if doc is None else Checkpoint.from_json(doc)

    def sign(self, school_id: str, seq: int, at: datetime) -> Checkpoint:
        """Sign the school's chain as it stood after its ``seq``-th record."""
        entry = self.entry(school_id, seq)
        if entry is None:
            raise NotFoundError("chain entry", f"{school_id}/{seq}")
        with self._lock:
            key = self.current_key(school_id) or self._new_key(school_id, at)
        private = self.key_files.load(school_id, key.key_id)
        checkpoint = Checkpoint(school_id, seq, int(entry["p"]), str(entry["h"]),
                                _not_before(at, key).isoformat(), key.key_id).signed(private)
        if self.signed.add(f"cp/{school_id}/{seq:012d}", checkpoint.to_json()):
            last = self.last_checkpoint(school_id)
            if last is None or last.seq < seq:
                self.signed.replace(f"last/{school_id}", checkpoint.to_json())
            return checkpoint
        stored = self.signed.get(f"cp/{school_id}/{seq:012d}")  # another process signed it first
        assert stored is not None
        return Checkpoint.from_json(stored)

    def sign_due(self, now: datetime, *, force: bool = False) -> list[Checkpoint]:
        """Checkpoints every school is due: one per ``CHECKPOINT_EVERY`` records, and one at the
        head once a record has waited ``CHECKPOINT_AFTER`` seconds unsigned (``force``: now)."""
        made: list[Checkpoint] = []
        for school_id, head in self.heads().items():
            made += self._sign_school(school_id, head, now, force=force)
        return made

    def sign_for_export(self, school_id: str, now: datetime) -> list[Checkpoint]:
        """What an export taken ``now`` must hold for the verifier to accept it: every
        ``CHECKPOINT_EVERY`` records signed, and the head signed when the last checkpoint is
        ``CHECKPOINT_AFTER`` seconds old (the records after it may have waited that long)."""
        head = self.head(school_id)
        if head is None:
            return []
        last = self.last_checkpoint(school_id)
        stale = last is None or (now - datetime.fromisoformat(last.at)).total_seconds() >= CHECKPOINT_AFTER
        return self._sign_school(school_id, head, now, force=stale)

    def _sign_school(self, school_id: str, head: Doc, now: datetime, *, force: bool) -> list[Checkpoint]:
        made: list[Checkpoint] = []
        last = self.last_checkpoint(school_id)
        signed = last.seq if last else 0
        while head["seq"] - signed >= CHECKPOINT_EVERY:
            signed += CHECKPOINT_EVERY
            made.append(self.sign(school_id, signed, now))
        if head["seq"] > signed:
            since = self._unsigned_since.setdefault(school_id, now)
            if force or (now - since).total_seconds() >= CHECKPOINT_AFTER:
                made.append(self.sign(school_id, int(head["seq"]), now))
                self._unsigned_since.pop(school_id, None)
        else:
            self._unsigned_since.pop(school_id, None)
        return made
