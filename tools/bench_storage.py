"""What the store keeps per command, and per pupil-afternoon: bytes per stored row on PostgreSQL.

    PYTHONPATH=. python -m tools.bench_storage --releases 300
    PYTHONPATH=. python -m tools.bench_storage --demo

On a scratch PostgreSQL database (encrypted, as in production), either ``--releases`` releases
over HTTP (one pupil each, with an Idempotency-Key) at a school built for them, or (``--demo``)
the demo school's whole afternoon played through the use cases. For each table it prints the
rows and ``pg_total_relation_size`` (heap, indexes and TOAST) added, per release or per new row,
and the stored events by topic with their mean state size. The database is dropped at the end.
Not a test: it prints the figures the capacity plan (docs/city.md) rests on.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import psycopg

from service.settings import Settings
from tools.bench import drive, release_bodies
from tools.bench_setup import (
    PG_HOST,
    PG_PASSWORD,
    PG_PORT,
    PG_USER,
    ApiThread,
    build_school,
    scratch_store,
    sign_in_all,
)

Sizes = dict[str, tuple[int, int]]  # table -> (rows, bytes)


def sizes(pg: psycopg.Connection[Any]) -> Sizes:
    out: Sizes = {}
    for (table,) in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
        rows = pg.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        size = pg.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
        assert rows is not None and size is not None
        out[str(table)] = (int(rows[0]), int(size[0]))
    return out


def top(pg: psycopg.Connection[Any]) -> int:
    row = pg.execute("SELECT coalesce(max(notification_id), 0) FROM handover_events").fetchone()
    return int(row[0]) if row else 0


def settle(pg: psycopg.Connection[Any], quiet: float = 2.0, limit: float = 60.0) -> None:
    """Until the views' positions have not moved for ``quiet`` seconds (at most ``limit``)."""
    deadline, last, since = time.monotonic() + limit, None, time.monotonic()
    while time.monotonic() < deadline:
        now = pg.execute("SELECT coalesce(sum(position), 0) FROM sealed_view_tracking").fetchone()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.2)


def report(before: Sizes, after: Sizes, per: int, unit: str) -> None:
    print(f"{'table':<22} {'rows':>15} {'bytes added':>12} {'per ' + unit:>12} {'per new row':>12}")
    for table in sorted(after):
        rows0, bytes0 = before.get(table, (0, 0))
        rows1, bytes1 = after[table]
        added = bytes1 - bytes0
        print(f"{table:<22} {rows0:>6} -> {rows1:>6} {added:>12} {added / per:>12.0f} "
              f"{added / max(1, rows1 - rows0):>12.0f}")


def topics(pg: psycopg.Connection[Any], after_position: int) -> None:
    rows = pg.execute("SELECT split_part(topic, ':', 2), count(*), avg(octet_length(state))::int "
                      "FROM handover_events WHERE notification_id > %s GROUP BY 1 ORDER BY 2 DESC",
                      (after_position,)).fetchall()
    for topic, count, state in rows:
        print(f"  {count:>6} x {topic:<40} state {state:>5} B")


def releases(settings: Settings, count: int) -> None:
    school = build_school(settings, count)
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD,
                         dbname=settings.postgres_dbname, autocommit=True) as pg:
        with ApiThread(settings) as api:
            sign_in_all(api.base_url, school, "storage")
            settle(pg)
            before, position = sizes(pg), top(pg)
            bodies, keys = release_bodies(school, school.pupils, "storage", "release")
            result = drive(api.base_url, school.guard_token, bodies, keys, 4)
            settle(pg)
            after = sizes(pg)
        print(f"{count} releases over HTTP ({result.errors} errors), "
              f"{top(pg) - position} stored events")
        report(before, after, count, "release")
        topics(pg, position)


def demo(settings: Settings) -> None:
    from service.demo.today import stage_demo

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD,
                         dbname=settings.postgres_dbname, autocommit=True) as pg:
        _, live = stage_demo(settings, clock_time(8, 0))  # the school, before the afternoon
        live.app.close()
        before, position = sizes(pg), top(pg)
        _, live = stage_demo(settings, clock_time(19, 30))  # the afternoon, played to its end
        live.app.close()
        after = sizes(pg)
        row = pg.execute("SELECT count(*) FROM handover_events WHERE topic LIKE %s",
                         ("service.domain.pupil:Pupil.Registered%",)).fetchone()
        pupils = int(row[0]) if row else 0
        events = top(pg) - position
        print(f"the demo afternoon: {events} stored events for {pupils} pupils "
              f"({events / max(1, pupils):.1f} a pupil)")
        report(before, after, max(1, events), "event")
        topics(pg, position)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--releases", type=int, default=300)
    parser.add_argument("--demo", action="store_true", help="the demo school's afternoon instead")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="handover-storage-"))
    try:
        with scratch_store("postgres", None) as settings:
            settings = settings.model_copy(update={"data_dir": data_dir})
            if args.demo:
                demo(settings)
            else:
                releases(settings, args.releases)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
