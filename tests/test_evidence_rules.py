"""DESIGN §3.6 Evidence, the rules: a school's chain recomputed from stored bytes finds the first
altered, removed, inserted or reordered event and the checkpoint it breaks; only checkpoints
signed by a trusted key within its validity count."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service.domain.evidence import (
    CHECKPOINT_AFTER,
    CHECKPOINT_EVERY,
    CHECKPOINT_MARGIN,
    EXPORT_FORMAT,
    Checkpoint,
    PublicKey,
    b64,
    genesis,
    kept_checkpoints,
    key_id_of,
    next_link,
    raw_public_key,
    record_digest,
    verify_export,
    verify_proof,
)

SCHOOL, OTHER = "school-a", "school-b"
FROM, ROTATED, LATER = "2026-11-23T08:00:00+00:00", "2026-11-23T09:00:00+00:00", "2026-11-23T10:00:00+00:00"


@dataclass(frozen=True)
class Row:
    """A stored record as the recorder holds it."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


def a_log(events: int = 250) -> tuple[list[Row], dict[int, str]]:
    """Stored rows of two schools interleaved (every third row the other school's), with
    random bytes for states as an encrypted store has; and the school of each position."""
    rows, schools = [], {}
    for position in range(1, events + 1):
        school = OTHER if position % 3 == 0 else SCHOOL
        rows.append(Row(position, str(uuid.uuid4()), 1 + position % 4, f"service.domain.x:E{position % 5}",
                        os.urandom(40 + position % 17)))
        schools[position] = school
    return rows, schools


@dataclass
class Recorded:
    """What the service recorded while the log was written: each position's school, seq, link."""

    placed: dict[int, tuple[str, int, str]]
    by_seq: dict[tuple[str, int], tuple[int, str]]


def chain_of(rows: list[Row], schools: dict[int, str]) -> Recorded:
    heads: dict[str, tuple[int, bytes]] = {}
    placed, by_seq = {}, {}
    for r in rows:
        school = schools[r.position]
        seq, previous = heads.get(school, (0, genesis(school)))
        link = next_link(previous, record_digest(r.position, r.originator_id, r.originator_version,
                                                 r.topic, r.state))
        heads[school] = (seq + 1, link)
        placed[r.position] = (school, seq + 1, link.hex())
        by_seq[(school, seq + 1)] = (r.position, link.hex())
    return Recorded(placed, by_seq)


class Signer:
    def __init__(self, school: str = SCHOOL, valid_from: str = FROM, valid_until: str | None = None) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.public = PublicKey(school, raw_public_key(self.private.public_key()), valid_from, valid_until)

    def sign(self, recorded: Recorded, seq: int, at: str = FROM, school: str = SCHOOL) -> Checkpoint:
        position, link = recorded.by_seq[(school, seq)]
        return Checkpoint(school, seq, position, link, at, self.public.key_id).signed(self.private)


def export(rows: list[Row], recorded: Recorded, checkpoints: list[Checkpoint],
           keys: list[PublicKey], school: str = SCHOOL, exported_at: str = LATER) -> list[str]:
    """The export as the service writes it (service.reports.evidence.export_lines), from rows
    as they are now and the chain as it was recorded."""
    count = max(seq for (s, seq) in recorded.by_seq if s == school)
    lines = [{"kind": "export", "format": EXPORT_FORMAT, "school_id": school,
              "exported_at": exported_at, "position": max(recorded.placed), "events": count}]
    lines += [{"kind": "key", **k.to_json()} for k in keys]
    lines += [{"kind": "checkpoint", **c.to_json()} for c in checkpoints]
    expected = 1

    def missing_until(seq: int) -> None:
        nonlocal expected
        while expected < seq:
            position, link = recorded.by_seq[(school, expected)]
            lines.append({"kind": "missing", "seq": expected, "position": position, "link": link})
            expected += 1

    for r in sorted(rows, key=lambda r: r.position):
        record = {"position": r.position, "originator_id": r.originator_id,
                  "originator_version": r.originator_version, "topic": r.topic, "state": b64(r.state)}
        if r.position not in recorded.placed:
            lines.append({"kind": "unchained", **record})
            continue
        placed_school, seq, link = recorded.placed[r.position]
        if placed_school != school:
            continue
        missing_until(seq)
        lines.append({"kind": "event", "seq": seq, **record, "link": link})
        expected = max(expected, seq + 1)
    missing_until(count + 1)
    return [json.dumps(line) for line in lines]


def key_file(*keys: PublicKey) -> str:
    return json.dumps({"school_id": SCHOOL, "keys": [k.to_json() for k in keys]})


def school_positions(schools: dict[int, str], school: str = SCHOOL) -> list[int]:
    return [p for p, s in sorted(schools.items()) if s == school]


def flip_a_byte(rows: list[Row], at: int) -> list[Row]:
    return [replace(r, state=r.state[:5] + bytes([r.state[5] ^ 1]) + r.state[6:]) if r.position == at else r
            for r in rows]


def edit_the_version(rows: list[Row], at: int) -> list[Row]:
    return [replace(r, originator_version=r.originator_version + 1) if r.position == at else r for r in rows]


def delete(rows: list[Row], at: int) -> list[Row]:
    return [r for r in rows if r.position != at]


def with_neighbour(at: int, schools: dict[int, str]) -> tuple[int, int]:
    mine = school_positions(schools)
    i = mine.index(at)
    return (at, mine[i + 1]) if i + 1 < len(mine) else (mine[i - 1], at)


def swap_states(rows: list[Row], a: int, b: int) -> list[Row]:
    state = {r.position: r.state for r in rows}
    return [replace(r, state=state[b]) if r.position == a else replace(r, state=state[a])
            if r.position == b else r for r in rows]


def reorder(rows: list[Row], a: int, b: int) -> list[Row]:
    by = {r.position: r for r in rows}
    return [replace(by[b], position=a) if r.position == a else replace(by[a], position=b)
            if r.position == b else r for r in rows]


def insert_forged(rows: list[Row], at: int) -> list[Row]:
    """A forged row put in before ``at``: every row from there moves one position on."""
    forged = Row(at, str(uuid.uuid4()), 1, "service.domain.x:E1", os.urandom(48))
    return [r if r.position < at else replace(r, position=r.position + 1) for r in rows] + [forged]


def copy_state_from_another(rows: list[Row], at: int) -> list[Row]:
    donor = next(r for r in rows if r.position != at)
    return [replace(r, state=donor.state) if r.position == at else r for r in rows]


def cut_from(rows: list[Row], at: int) -> list[Row]:
    return [r for r in rows if r.position < at]


TAMPERINGS: dict[str, Callable[[list[Row], int, dict[int, str]], tuple[list[Row], int]]] = {
    "a byte of a state flipped": lambda rows, at, s: (flip_a_byte(rows, at), at),
    "a field edited": lambda rows, at, s: (edit_the_version(rows, at), at),
    "a row deleted": lambda rows, at, s: (delete(rows, at), at),
    "two rows' states swapped": lambda rows, at, s: (swap_states(rows, *with_neighbour(at, s)),
                                                     with_neighbour(at, s)[0]),
    "two rows reordered": lambda rows, at, s: (reorder(rows, *with_neighbour(at, s)), with_neighbour(at, s)[0]),
    "a forged row inserted": lambda rows, at, s: (insert_forged(rows, at), at),
    "the tail cut off": lambda rows, at, s: (cut_from(rows, at), at),
    "another pupil's encrypted state copied in": lambda rows, at, s: (copy_state_from_another(rows, at), at),
}


def where(schools: dict[int, str], place: str) -> int:
    mine = school_positions(schools)
    return {"first": mine[0], "middle": mine[len(mine) // 2], "last": mine[-1]}[place]


# -- an untouched log ------------------------------------------------------------------------

def test_an_untouched_log_verifies_with_every_checkpoint_and_no_false_alarm() -> None:
    rows, schools = a_log()
    recorded = chain_of(rows, schools)
    signer = Signer()
    count = len(school_positions(schools))
    checkpoints = [signer.sign(recorded, seq) for seq in (100, count)]

    report = verify_export(export(rows, recorded, checkpoints, [signer.public]), key_file(signer.public))

    assert report.ok, report.lines()
    assert (report.events, report.checkpoints) == (count, 2)
    assert report.lines()[0].startswith(f"school {SCHOOL}: OK: {count} events, 2 signed checkpoints")


@pytest.mark.parametrize("place", ["first", "middle", "last"])
@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_each_tampering_is_found_at_its_school_and_first_position(tampering: str, place: str) -> None:
    rows, schools = a_log()
    recorded = chain_of(rows, schools)
    signer = Signer()
    count = len(school_positions(schools))
    checkpoints = [signer.sign(recorded, seq) for seq in (50, 100, 150, count)]
    at = where(schools, place)

    tampered, first = TAMPERINGS[tampering](rows, at, schools)
    report = verify_export(export(tampered, recorded, checkpoints, [signer.public]), key_file(signer.public))

    assert not report.ok
    assert report.first is not None
    assert (report.first.school_id, report.first.position) == (SCHOOL, first), report.lines()
    seq = recorded.placed[first][1]
    broken = next(c for c in checkpoints if c.seq >= seq)
    assert report.broken == broken, report.lines()
    assert f"position {first}" in report.lines()[0]
    assert f"checkpoint at position {broken.position}" in "\n".join(report.lines())


def test_a_chain_rewritten_with_the_records_still_breaks_the_signed_checkpoint() -> None:
    rows, schools = a_log()
    recorded = chain_of(rows, schools)
    signer = Signer()
    checkpoints = [signer.sign(recorded, seq) for seq in (50, 100)]
    at = school_positions(schools)[70]

    tampered = flip_a_byte(rows, at)
    rewritten = chain_of(tampered, schools)  # the links recorded again over the altered bytes
    report = verify_export(export(tampered, rewritten, checkpoints, [signer.public]), key_file(signer.public))

    assert report.broken == checkpoints[1]
    assert report.first is not None and report.first.kind == "altered"
    assert f"after position {checkpoints[0].position} up to {checkpoints[1].position}" in report.first.detail


def test_a_history_rewritten_and_re_signed_by_the_key_holder_breaks_a_checkpoint_kept_elsewhere() -> None:
    rows, schools = a_log()
    recorded = chain_of(rows, schools)
    signer = Signer()
    kept = [signer.sign(recorded, seq) for seq in (50, 100)]  # the inspector saved these last month
    at = school_positions(schools)[70]

    tampered = flip_a_byte(rows, at)
    rewritten = chain_of(tampered, schools)
    resigned = [signer.sign(rewritten, seq, at=LATER) for seq in (50, 100)]  # the school's own key
    lines = export(tampered, rewritten, resigned, [signer.public])

    assert verify_export(lines, key_file(signer.public)).ok  # alone, the export cannot tell
    report = verify_export(lines, key_file(signer.public), kept=kept)
    assert report.broken == kept[1] and not report.ok
    assert report.checkpoints == 3  # the export's two and the kept one before the change


def test_kept_checkpoints_are_read_from_saved_pages_lists_or_json_lines() -> None:
    rows, schools = a_log(60)
    recorded = chain_of(rows, schools)
    signer = Signer()
    cps = [signer.sign(recorded, seq) for seq in (10, 20)]
    page = {"school_id": SCHOOL, "checkpoints": [c.to_json() for c in cps], "next_after_seq": None}
    for text in (json.dumps(page), json.dumps([page, page]), json.dumps([c.to_json() for c in cps]),
                 "\n".join(json.dumps(c.to_json()) for c in cps)):
        assert set(kept_checkpoints(text)) == set(cps)


def test_a_tail_cut_with_its_chain_is_found_by_the_checkpoint_past_the_end() -> None:
    rows, schools = a_log()
    recorded = chain_of(rows, schools)
    signer = Signer()
    checkpoints = [signer.sign(recorded, seq) for seq in (100, 150)]
    mine = school_positions(schools)

    kept = cut_from(rows, mine[120])
    report = verify_export(export(kept, chain_of(kept, schools), checkpoints, [signer.public]),
                           key_file(signer.public))

    assert report.first is not None and report.first.kind == "cut"
    assert report.broken == checkpoints[1]
    assert report.checkpoints == 1


# -- what the checkpoints must cover, and what the header claims -----------------------------------

def minutes_before(at: str, minutes: float) -> str:
    return (datetime.fromisoformat(at) - timedelta(minutes=minutes)).isoformat()


def with_header(lines: list[str], **claims: Any) -> list[str]:
    return [json.dumps({**json.loads(lines[0]), **claims}), *lines[1:]]


def test_a_rewritten_chain_with_its_checkpoints_stripped_is_not_covered() -> None:
    rows, schools = a_log()
    mine = school_positions(schools)
    tampered = flip_a_byte(rows, mine[70])
    rewritten = chain_of(tampered, schools)
    signer = Signer()

    report = verify_export(export(tampered, rewritten, [], [signer.public]), key_file(signer.public))

    assert not report.ok and report.checkpoints == 0
    assert report.first is not None and report.first.kind == "uncovered"
    assert (report.first.seq, report.first.position) == (CHECKPOINT_EVERY + 1, mine[CHECKPOINT_EVERY])
    assert report.lines()[0].startswith(f"school {SCHOOL}: FAILED: first uncovered event at position "
                                        f"{mine[CHECKPOINT_EVERY]}")


def test_a_short_chain_with_no_checkpoint_at_all_is_not_covered() -> None:
    rows, schools = a_log(60)
    tampered = flip_a_byte(rows, school_positions(schools)[3])
    signer = Signer()

    report = verify_export(export(tampered, chain_of(tampered, schools), [], [signer.public]),
                           key_file(signer.public))

    assert report.first is not None and report.first.kind == "uncovered"
    assert report.first.position == school_positions(schools)[0]


def test_checkpoints_stripped_after_the_first_leave_the_rest_uncovered() -> None:
    rows, schools = a_log()
    recorded = chain_of(rows, schools)
    signer = Signer()
    first = signer.sign(recorded, 50, at=minutes_before(LATER, 30))
    mine = school_positions(schools)

    report = verify_export(export(rows, recorded, [first], [signer.public]), key_file(signer.public))

    assert report.first is not None and report.first.kind == "uncovered"
    assert (report.first.seq, report.first.position) == (50 + CHECKPOINT_EVERY + 1, mine[150])


def test_a_header_alone_or_one_counting_other_than_its_lines_fails() -> None:
    rows, schools = a_log()
    recorded = chain_of(rows, schools)
    signer = Signer()
    count = len(school_positions(schools))
    lines = export(rows, recorded, [signer.sign(recorded, seq, at=LATER) for seq in (100, count)],
                   [signer.public])
    keys = key_file(signer.public)
    assert verify_export(lines, keys).ok

    alone = verify_export(lines[:1], keys)
    assert alone.first is not None and alone.first.kind == "cut" and not alone.ok
    assert f"counts {count} events" in alone.lines()[0]

    fewer = verify_export(with_header(lines, events=5), keys)
    assert fewer.first is not None and (fewer.first.kind, fewer.first.seq) == ("inserted", 6)
    assert fewer.first.position == school_positions(schools)[5]

    short = verify_export(with_header(lines, position=school_positions(schools)[9]), keys)
    assert short.first is not None and (short.first.kind, short.first.seq) == ("inserted", 11)

    with pytest.raises(ValueError, match="exported_at"):
        verify_export(with_header(lines, exported_at="yesterday"), keys)


def test_the_unsigned_tail_cut_off_is_found_by_the_header() -> None:
    rows, schools = a_log()
    recorded = chain_of(rows, schools)
    signer = Signer()
    count = len(school_positions(schools))
    lines = export(rows, recorded, [signer.sign(recorded, 100, at=minutes_before(LATER, 1))],
                   [signer.public])
    keys = key_file(signer.public)
    assert verify_export(lines, keys).ok  # the tail waits for its checkpoint

    cut = [line for line in lines if json.loads(line).get("seq", 0) <= 100]
    report = verify_export(cut, keys)

    assert not report.ok and report.first is not None and report.first.kind == "cut"
    assert f"counts {count} events of the school; the export ends at event 100" in report.lines()[0]


def test_an_export_right_after_a_burst_verifies_until_its_tail_has_waited_too_long() -> None:
    rows, schools = a_log()
    recorded = chain_of(rows, schools)
    signer = Signer()
    mine = school_positions(schools)
    checkpoint = signer.sign(recorded, 100, at=minutes_before(LATER, 4))
    keys = key_file(signer.public)

    fresh = verify_export(export(rows, recorded, [checkpoint], [signer.public]), keys)
    assert fresh.ok, fresh.lines()
    assert (fresh.events, fresh.checkpoints) == (len(mine), 1)

    late = datetime.fromisoformat(LATER) + timedelta(seconds=CHECKPOINT_AFTER + CHECKPOINT_MARGIN)
    stale = verify_export(export(rows, recorded, [checkpoint], [signer.public], exported_at=late.isoformat()),
                          keys)
    assert stale.first is not None and (stale.first.kind, stale.first.seq) == ("uncovered", 101)
    assert stale.first.position == mine[100]
    assert "with no signed checkpoint over them" in stale.lines()[0]


def test_states_given_as_their_hashes_verify_the_same_and_a_changed_one_is_found() -> None:
    rows, schools = a_log(90)
    recorded = chain_of(rows, schools)
    signer = Signer()
    checkpoint = signer.sign(recorded, len(school_positions(schools)))
    lines = [json.loads(line) for line in export(rows, recorded, [checkpoint], [signer.public])]
    for line in lines:
        if "state" in line:
            line["state_sha256"] = hashlib.sha256(base64.b64decode(line.pop("state"))).hexdigest()
    assert verify_export(map(json.dumps, lines), key_file(signer.public)).ok

    at = school_positions(schools)[7]
    [target] = [line for line in lines if line.get("position") == at and line["kind"] == "event"]
    target["state_sha256"] = hashlib.sha256(b"another state").hexdigest()
    report = verify_export(map(json.dumps, lines), key_file(signer.public))
    assert report.first is not None and report.first.position == at and report.broken == checkpoint


def test_a_stored_record_no_chain_holds_is_reported_as_inserted() -> None:
    rows, schools = a_log(30)
    recorded = chain_of(rows, schools)
    signer = Signer()
    forged = Row(31, str(uuid.uuid4()), 1, "service.domain.x:E1", os.urandom(30))
    recorded.placed[32] = recorded.placed.pop(30)  # the chain's last position is past the forged row
    rows = [r if r.position != 30 else replace(r, position=32) for r in rows] + [forged]
    recorded.by_seq = {k: ((32, v[1]) if v[0] == 30 else v) for k, v in recorded.by_seq.items()}

    report = verify_export(export(rows, recorded, [], [signer.public]), key_file(signer.public))

    assert report.first is not None and (report.first.kind, report.first.position) == ("inserted", 31)


# -- checkpoints that cannot be trusted -----------------------------------------------------------

def verified(checkpoint: Checkpoint, *trusted: PublicKey, exported: list[PublicKey] | None = None) -> Any:
    rows, schools = a_log(60)
    recorded = chain_of(rows, schools)
    return verify_export(export(rows, recorded, [checkpoint], exported or list(trusted)), key_file(*trusted))


def test_a_checkpoint_whose_link_or_signature_was_altered_is_rejected() -> None:
    rows, schools = a_log(60)
    recorded = chain_of(rows, schools)
    signer = Signer()
    good = signer.sign(recorded, 20)
    forged_link = replace(good, link="00" * 32)
    bad_signature = replace(good, signature=b64(bytes(64)))

    for checkpoint in (forged_link, bad_signature):
        report = verify_export(export(rows, recorded, [checkpoint], [signer.public]), key_file(signer.public))
        assert not report.ok
        [(rejected, why)] = report.rejected
        assert rejected == checkpoint and "does not verify" in why
        assert "REJECTED checkpoint at position" in report.lines()[0]


def test_a_checkpoint_re_signed_with_a_key_not_trusted_is_rejected_even_if_the_export_lists_it() -> None:
    rows, schools = a_log(60)
    recorded = chain_of(rows, schools)
    school_key, forger = Signer(), Signer()
    resigned = forger.sign(recorded, 20)

    report = verify_export(export(rows, recorded, [resigned], [forger.public]), key_file(school_key.public))

    [(_, why)] = report.rejected
    assert "not a trusted public key" in why and not report.ok


def test_a_checkpoint_signed_outside_its_keys_validity_is_rejected() -> None:
    rows, schools = a_log(60)
    recorded = chain_of(rows, schools)
    retired = Signer(valid_until=ROTATED)
    late = retired.sign(recorded, 20, at=LATER)  # the old key, after it was rotated out
    early = retired.sign(recorded, 20, at="2026-11-22T08:00:00+00:00")

    for checkpoint in (late, early):
        report = verify_export(export(rows, recorded, [checkpoint], [retired.public]), key_file(retired.public))
        [(_, why)] = report.rejected
        assert "outside the validity" in why


def test_a_checkpoint_of_another_school_or_signed_by_its_key_is_rejected() -> None:
    rows, schools = a_log(60)
    recorded = chain_of(rows, schools)
    mine, theirs = Signer(), Signer(OTHER)
    other_school = theirs.sign(recorded, 5, school=OTHER)
    mine_by_their_key = Checkpoint(SCHOOL, 5, *recorded.by_seq[(SCHOOL, 5)], FROM,
                                   theirs.public.key_id).signed(theirs.private)

    for checkpoint in (other_school, mine_by_their_key):
        report = verify_export(export(rows, recorded, [checkpoint], [mine.public]),
                               key_file(mine.public, theirs.public))
        assert len(report.rejected) == 1 and not report.ok


def test_a_pem_public_key_is_a_trusted_key_with_the_validity_the_export_gives() -> None:
    rows, schools = a_log(60)
    recorded = chain_of(rows, schools)
    signer = Signer()
    pem = signer.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    count = len(school_positions(schools))
    report = verify_export(export(rows, recorded, [signer.sign(recorded, count)], [signer.public]), pem)

    assert report.ok and report.checkpoints == 1


def test_a_key_id_is_the_keys_own_and_cannot_be_claimed_for_another() -> None:
    signer = Signer()
    doc = {**signer.public.to_json(), "key_id": key_id_of(b"another key" * 3)}
    with pytest.raises(ValueError, match="is not the id of its key"):
        PublicKey.from_json(doc)


# -- inclusion proofs ----------------------------------------------------------------------------

def proof_for(rows: list[Row], recorded: Recorded, position: int, checkpoint: Checkpoint) -> dict[str, Any]:
    _, seq, _ = recorded.placed[position]
    by_position = {r.position: r for r in rows}
    r = by_position[position]
    previous = recorded.by_seq[(SCHOOL, seq - 1)][1] if seq > 1 else genesis(SCHOOL).hex()
    path = []
    for later in range(seq + 1, checkpoint.seq + 1):
        p, _ = recorded.by_seq[(SCHOOL, later)]
        n = by_position[p]
        path.append({"seq": later, "position": p, "digest": record_digest(
            p, n.originator_id, n.originator_version, n.topic, n.state).hex()})
    return {"school_id": SCHOOL, "seq": seq, "position": position, "previous_link": previous,
            "record": {"originator_id": r.originator_id, "originator_version": r.originator_version,
                       "topic": r.topic, "state": b64(r.state)},
            "path": path, "checkpoint": checkpoint.to_json()}


def test_an_inclusion_proof_ties_one_event_to_the_next_checkpoint_and_nothing_else_does() -> None:
    rows, schools = a_log(120)
    recorded = chain_of(rows, schools)
    signer = Signer()
    checkpoint = signer.sign(recorded, 60)
    keys = {signer.public.key_id: signer.public}
    position = school_positions(schools)[41]
    proof = proof_for(rows, recorded, position, checkpoint)

    assert verify_proof(proof, keys) is None
    altered = {**proof, "record": {**proof["record"], "state": b64(os.urandom(40))}}
    assert verify_proof(altered, keys) == "the event's stored record does not lead to the checkpoint's link"
    skipped = {**proof, "path": proof["path"][1:]}
    assert verify_proof(skipped, keys) is not None
    moved = {**proof, "position": position + 1}
    assert verify_proof(moved, keys) is not None
    assert verify_proof(proof, {}) is not None  # a checkpoint by no trusted key proves nothing
