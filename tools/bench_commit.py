"""Group commit: commands per second when concurrent saves share a transaction, against one
transaction per save, measured in the same run on the same store.

    PYTHONPATH=. python -m tools.bench_commit --store postgres --threads 16 --seconds 4

Each command is what a release costs the store: the pupil's chain gains an event and the
command's idempotency record is created, in one transaction (``AppCore.execute``), from
``--threads`` threads at once. "one per save" is the same code with batches of one. Not a test:
it prints the figures and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime

from eventsourcing.domain import Aggregate, event

from service.domain.common import Actor
from service.use_cases.application import HandoverApp
from service.use_cases.core import Decision
from tools.bench_setup import scratch_store


class Chain(Aggregate):
    """A stand-in for a pupil's chain of custody: one event per command."""

    @event("Opened")
    def __init__(self, n: int) -> None:
        self.n = n

    @event("Stepped")
    def step(self, at: str) -> None:
        self.n += 1


def drive(app: HandoverApp, threads: int, seconds: float, batch: int) -> tuple[float, list[float], float]:
    """Commands/s, their latencies (ms), and saves per transaction."""
    app.group_commit.max_batch = batch
    chains = [Chain(i) for i in range(threads)]
    app.save(*chains)
    b0, s0 = app.group_commit.batches, app.group_commit.saves
    stop = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def worker(w: int) -> None:
        actor = Actor(school_id="bench", staff_id=f"guard-{w}", staff_name="门卫", role="guard",
                      at=datetime.now(UTC))
        while time.monotonic() < stop:
            keyed = Actor(**{**actor.__dict__, "command_id": uuid.uuid4().hex, "fingerprint": "f"})

            def decide() -> Decision:
                chain: Chain = app.repository.get(chains[w].id)
                chain.step(datetime.now(UTC).isoformat())
                return Decision([chain], {"n": chain.n})
            t0 = time.perf_counter()
            app.execute(keyed, decide)
            latencies[w].append((time.perf_counter() - t0) * 1000)
    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    took = time.monotonic() - started
    flat = sorted(x for xs in latencies for x in xs)
    per_tx = (app.group_commit.saves - s0) / max(1, app.group_commit.batches - b0)
    return len(flat) / took, flat, per_tx


def pct(xs: list[float], p: float) -> float:
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    with scratch_store(args.store, None) as settings:
        app = HandoverApp(env=settings.eventsourcing_env())
        try:
            drive(app, args.threads, 1.0, 64)  # warm up: connections, caches
            alone, alone_ms, _ = drive(app, args.threads, args.seconds, 1)
            grouped, grouped_ms, per_tx = drive(app, args.threads, args.seconds, 64)
        finally:
            app.close()
    print(f"store {args.store}, {args.threads} concurrent commands, {args.seconds:.0f}s each")
    print(f"  one transaction per save : {alone:7.0f} commands/s  p50 {statistics.median(alone_ms):6.1f} ms"
          f"  p99 {pct(alone_ms, 0.99):6.1f} ms")
    print(f"  group commit             : {grouped:7.0f} commands/s  p50 {statistics.median(grouped_ms):6.1f} ms"
          f"  p99 {pct(grouped_ms, 0.99):6.1f} ms  ({per_tx:.1f} saves per transaction)")
    print(f"  ratio group / one-per-save: {grouped / alone:.2f}x")


if __name__ == "__main__":
    main()
