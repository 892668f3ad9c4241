"""A school's evidence export (JSON lines), the live store verified against its checkpoints, and
the inclusion proof that ties one stored event to the next signed checkpoint.

The export is read from the store as it is now: each stored record the chain view placed in
the school's chain, in log order, with the link the chain recorded for it; a position the chain
recorded but the store no longer holds as ``missing``; a stored record no chain holds as
``unchained``. The verifier (service.domain.evidence) recomputes every link from the bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from service.domain.errors import NotFoundError
from service.domain.evidence import (
    EXPORT_FORMAT,
    Checkpoint,
    PublicKey,
    Report,
    b64,
    genesis,
    record_digest,
    verify_export,
)
from service.projections.evidence import Evidence, school_of_event

PAGE = 1000


def _line(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def _record(n: Notification, *, with_state: bool = True) -> dict[str, Any]:
    """A stored record as the export carries it: its state as stored, or (a store kept
    unencrypted, whose states are children's data in clear) only the state's SHA-256."""
    state = {"state": b64(n.state)} if with_state else {"state_sha256": hashlib.sha256(n.state).hexdigest()}
    return {"position": n.id, "originator_id": str(n.originator_id),
            "originator_version": n.originator_version, "topic": n.topic, **state}


def states_shown(app: Application[Any]) -> bool:
    """Whether an export may carry the states themselves: only when the store encrypts them."""
    return app.mapper.cipher is not None


def _school_of_unchained(app: Application[Any], evidence: Evidence, n: Notification) -> str | None:
    """The school of a record the chain does not hold (None: it cannot be told)."""
    known = evidence.school_known(str(n.originator_id))
    if known is not None:
        return known
    try:
        return school_of_event(n, app.mapper.to_domain_event(n))
    except Exception:  # noqa: BLE001 - a record that does not decode is reported, not skipped
        return None


def export_lines(app: Application[Any], evidence: Evidence, school_id: str,
                 exported_at: datetime) -> Iterator[str]:
    """The school's export, line by line (docs/evidence-export.md), with the checkpoints its
    time makes due signed first and none past the position it covers."""
    evidence.sign_for_export(school_id, exported_at)
    position = evidence.chain.max_tracking_id(app.name) or 0
    shown = states_shown(app)
    head = evidence.head(school_id)
    count = int(head["seq"]) if head else 0
    yield _line({"kind": "export", "format": EXPORT_FORMAT, "school_id": school_id,
                 "exported_at": exported_at.isoformat(), "position": position, "events": count})
    for key in evidence.keys(school_id):
        yield _line({"kind": "key", **key.to_json()})
    for checkpoint in evidence.checkpoints(school_id):
        if checkpoint.position > position:
            break
        yield _line({"kind": "checkpoint", **checkpoint.to_json()})
    expected = 1

    def missing_until(seq: int) -> Iterator[str]:
        nonlocal expected
        while expected < seq:
            entry = evidence.entry(school_id, expected)
            if entry is not None:
                yield _line({"kind": "missing", "seq": expected, "position": entry["p"], "link": entry["h"]})
            expected += 1

    start = 1
    while start <= position:
        page = app.recorder.select_notifications(start=start, limit=PAGE, stop=position)
        if not page:
            break
        placed = evidence.at_positions([n.id for n in page])
        for n in page:
            entry = placed.get(n.id)
            if entry is None:
                if _school_of_unchained(app, evidence, n) in (school_id, None):
                    yield _line({"kind": "unchained", **_record(n, with_state=shown)})
                continue
            if entry["s"] != school_id:
                continue
            yield from missing_until(int(entry["n"]))
            yield _line({"kind": "event", "seq": entry["n"], **_record(n, with_state=shown),
                         "link": entry["h"]})
            expected = max(expected, int(entry["n"]) + 1)
        start = page[-1].id + 1
    yield from missing_until(count + 1)


def verify_live(app: Application[Any], evidence: Evidence, now: datetime,
                keys: Mapping[str, PublicKey] | None = None,
                kept: Sequence[Checkpoint] = ()) -> list[Report]:
    """Every chain of the live store against its published checkpoints and any ``kept``
    (with the keys given, or the published ones)."""
    trusted = dict(keys) if keys is not None else evidence.all_keys()
    return [verify_export(export_lines(app, evidence, school_id, now), keys=trusted, kept=kept)
            for school_id in sorted(evidence.heads())]


def inclusion_proof(app: Application[Any], evidence: Evidence, school_id: str,
                    position: int) -> dict[str, Any]:
    """The stored event at ``position`` and the links from it to the school's next signed
    checkpoint: the previous link, and the digests (not the content) of the records between."""
    placed = evidence.at_positions([position]).get(position)
    if placed is None or placed["s"] != school_id:
        raise NotFoundError("event", position)
    seq = int(placed["n"])
    checkpoint = next(iter(evidence.checkpoints(school_id, after_seq=seq - 1, limit=1)), None)
    if checkpoint is None:
        raise NotFoundError("signed checkpoint after event", position)
    previous = evidence.entry(school_id, seq - 1)
    records: dict[int, Notification] = {}
    start = position
    while start <= checkpoint.position:
        page = app.recorder.select_notifications(start=start, limit=PAGE, stop=checkpoint.position)
        if not page:
            break
        records.update((n.id, n) for n in page)
        start = page[-1].id + 1
    if position not in records:
        raise NotFoundError("stored event", position)
    path: list[dict[str, Any]] = []
    for later in range(seq + 1, checkpoint.seq + 1):
        entry = evidence.entry(school_id, later)
        n = records.get(int(entry["p"])) if entry else None
        if entry is None or n is None:
            raise NotFoundError("stored event of the chain", entry["p"] if entry else later)
        path.append({"seq": later, "position": n.id, "digest": record_digest(
            n.id, str(n.originator_id), n.originator_version, n.topic, n.state).hex()})
    record = _record(records[position], with_state=states_shown(app))
    del record["position"]
    return {"school_id": school_id, "seq": seq, "position": position, "record": record,
            "previous_link": previous["h"] if previous else genesis(school_id).hex(),
            "path": path, "checkpoint": checkpoint.to_json()}
