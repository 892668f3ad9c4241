"""``make bench-verify``: the offline verifier over a million stored records, against a raw chain.

1. write N synthetic stored records (random bytes for states, as an encrypted store holds them;
   three schools interleaved) straight into a SQLite file shaped as the library's table;
2. compute each school's chain over them as the service does, sign a checkpoint every 100
   records of a school, and write the school exports (JSON lines, docs/evidence-export.md);
3. measure (a) a raw SHA-256 chain over the same records read from the same file (each state
   hashed onto the previous digest: the least any verifier must do) and (b) ``verify_export``
   over the exports of every school, as ``handover verify`` runs it; print both and the ratio.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.domain.evidence import (
    CHECKPOINT_EVERY,
    EXPORT_FORMAT,
    Checkpoint,
    PublicKey,
    genesis,
    next_link,
    raw_public_key,
    record_digest,
    verify_export,
)

SCHOOLS = ("school-a", "school-b", "school-c")
AT = "2026-11-23T08:00:00+00:00"
TOPICS = ("service.domain.pupil_day:PupilDay.Released", "service.domain.pupil_day:PupilDay.SignedIn",
          "service.domain.handover:Handover.Confirmed", "service.domain.pupil:Pupil.Registered")


def write_records(path: Path, count: int) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
               "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))")
    aggregates = [uuid.uuid4().hex for _ in range(count // 8 + 1)]
    versions = [0] * len(aggregates)
    rows = []
    for i in range(count):
        a = i % len(aggregates)
        versions[a] += 1
        rows.append((aggregates[a], versions[a], TOPICS[i % len(TOPICS)], os.urandom(180 + i % 160)))
        if len(rows) == 50_000:
            db.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", rows)
            rows.clear()
    db.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def records(path: Path) -> Iterator[tuple[int, str, int, str, bytes]]:
    db = sqlite3.connect(path)
    try:
        for position, oid, version, topic, state in db.execute(
                "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events ORDER BY rowid"):
            yield position, str(uuid.UUID(oid)), version, topic, state
    finally:
        db.close()


def school_of(position: int) -> str:
    return SCHOOLS[position % len(SCHOOLS)]


def write_exports(path: Path, out: Path) -> tuple[dict[str, Path], str]:
    """Each school's export, and the trusted key file's text."""
    signers = {s: Ed25519PrivateKey.generate() for s in SCHOOLS}
    keys = {s: PublicKey(s, raw_public_key(k.public_key()), AT) for s, k in signers.items()}
    heads = {s: (0, genesis(s)) for s in SCHOOLS}
    last_position = dict.fromkeys(SCHOOLS, 0)
    checkpoints: dict[str, list[Checkpoint]] = {s: [] for s in SCHOOLS}

    def sign(school: str, seq: int, position: int, link: bytes) -> None:
        checkpoints[school].append(Checkpoint(school, seq, position, link.hex(), AT,
                                              keys[school].key_id).signed(signers[school]))

    for position, oid, version, topic, state in records(path):  # the chain, as the service follows it
        school = school_of(position)
        seq, link = heads[school]
        seq, link = seq + 1, next_link(link, record_digest(position, oid, version, topic, state))
        heads[school], last_position[school] = (seq, link), position
        if seq % CHECKPOINT_EVERY == 0:
            sign(school, seq, position, link)
    for school, (seq, link) in heads.items():  # the tail after the last hundred
        if seq and (not checkpoints[school] or checkpoints[school][-1].seq != seq):
            sign(school, seq, last_position[school], link)
    files: dict[str, Path] = {}
    handles = {}
    for school in SCHOOLS:
        files[school] = out / f"evidence-{school}.jsonl"
        f = handles[school] = files[school].open("w", encoding="utf-8")
        f.write(json.dumps({"kind": "export", "format": EXPORT_FORMAT, "school_id": school,
                            "exported_at": AT, "position": 0, "events": heads[school][0]}) + "\n")
        f.write(json.dumps({"kind": "key", **keys[school].to_json()}) + "\n")
        for checkpoint in checkpoints[school]:
            f.write(json.dumps({"kind": "checkpoint", **checkpoint.to_json()}) + "\n")
    heads = {s: (0, genesis(s)) for s in SCHOOLS}
    for position, oid, version, topic, state in records(path):
        school = school_of(position)
        seq, link = heads[school]
        seq, link = seq + 1, next_link(link, record_digest(position, oid, version, topic, state))
        heads[school] = (seq, link)
        handles[school].write(json.dumps({
            "kind": "event", "seq": seq, "position": position, "originator_id": oid,
            "originator_version": version, "topic": topic,
            "state": base64.b64encode(state).decode(), "link": link.hex()}, separators=(",", ":")) + "\n")
    for f in handles.values():
        f.close()
    return files, json.dumps({"keys": [k.to_json() for k in keys.values()]})


def raw_chain(path: Path) -> tuple[int, bytes]:
    """Each record's id, topic and state hashed onto the previous digest, read in log order."""
    digest = b"\x00" * 32
    n = 0
    db = sqlite3.connect(path)
    try:
        for oid, topic, state in db.execute(
                "SELECT originator_id, topic, state FROM stored_events ORDER BY rowid"):
            digest = hashlib.sha256(digest + oid.encode() + topic.encode() + state).digest()
            n += 1
    finally:
        db.close()
    return n, digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--dir", default=None, help="scratch directory (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        root = Path(scratch)
        store = root / "records.sqlite3"
        t0 = time.perf_counter()
        write_records(store, args.events)
        t1 = time.perf_counter()
        files, key_text = write_exports(store, root)
        t2 = time.perf_counter()
        size = store.stat().st_size + sum(f.stat().st_size for f in files.values())
        print(f"{args.events:,} stored records written in {t1 - t0:.1f}s; chains, checkpoints and "
              f"exports in {t2 - t1:.1f}s ({size / 1e6:.0f} MB on disk)")

        t3, c3 = time.perf_counter(), time.process_time()
        n, _ = raw_chain(store)
        raw, raw_cpu = time.perf_counter() - t3, time.process_time() - c3
        print(f"(a) raw SHA-256 chain over the same {n:,} records: {raw:.1f}s "
              f"(CPU {raw_cpu:.1f}s; {n / raw:,.0f} records/s)")

        t4, c4 = time.perf_counter(), time.process_time()
        reports = []
        for f in files.values():
            with f.open("rb") as lines:
                reports.append(verify_export(lines, key_text))
        verified, verified_cpu = time.perf_counter() - t4, time.process_time() - c4
        events = sum(r.events for r in reports)
        checkpoints = sum(r.checkpoints for r in reports)
        print(f"(b) handover verify over {len(files)} school exports: {events:,} events, "
              f"{checkpoints:,} signed checkpoints: {verified:.1f}s (CPU {verified_cpu:.1f}s; "
              f"{events / verified:,.0f} events/s)")
        print(f"verifier / raw chain: {verified / raw:.1f}x (CPU {verified_cpu / raw_cpu:.1f}x)")
        ok = all(r.ok for r in reports) and events == args.events
        for r in reports:
            if not r.ok:
                print("\n".join(r.lines()))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
