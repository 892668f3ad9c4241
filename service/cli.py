"""The ``handover`` command line: init, serve, demo, worker, rebuild, verify, route, bench."""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from service.settings import Settings, StoreKeyError

if TYPE_CHECKING:
    from service.application import HandoverApp


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "store", None):
        overrides["store"] = args.store
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    return Settings(**overrides)  # type: ignore[arg-type]


def _add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="where the SQLite store lives (default ./data)")
    p.add_argument("--store", choices=["sqlite", "postgres", "memory"],
                   help="event store (default sqlite, or HANDOVER_STORE)")


def _add_server_args(p: argparse.ArgumentParser) -> None:
    _add_store_args(p)
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8000)")


def cmd_init(args: argparse.Namespace) -> int:
    from service.domain.school import STAGES
    from service.workers.bootstrap import open_application

    settings = _settings(args)
    app = open_application(settings)
    try:
        created = app.init_school(args.name, args.timezone, args.admin, args.grades)
    finally:
        app.close()
    print(f"School:      {args.name} ({created['school_id']})")
    print(f"Grades:      {args.grades} ({', '.join(map(str, STAGES[args.grades]))})")
    print(f"Admin:       {args.admin} ({created['admin_id']})")
    print(f"Admin token: {created['token']}")
    print("The token is shown only now; only its hash is stored.")
    return 0


class RedactSecrets(logging.Filter):
    """Access-log lines never carry a token (anywhere in the path or query, encoded or not) or a
    stream ticket from a URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        from service.api.url_secrets import redact

        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": RedactSecrets}
    config["handlers"]["access"]["filters"] = ["redact"]
    return config


def serve(settings: Settings, banner: str = "", application: HandoverApp | None = None) -> int:
    import uvicorn

    from service.api.app import create_app

    api = create_app(settings, application=application)
    print(f"Handover on http://{settings.host}:{settings.port}  (API docs: /docs, store: {settings.store})")
    if banner:
        print(banner)
    sys.stdout.flush()
    uvicorn.run(api, host=settings.host, port=settings.port, log_level="info",
                log_config=log_config(), **forwarding(settings))
    return 0


def forwarding(settings: Settings) -> dict[str, Any]:
    """Forwarded headers are believed only from the proxies configured: uvicorn's own default
    believes any from 127.0.0.1, and each forged address would be a fresh client to the pairing
    lockout."""
    trusted = ",".join(a.strip() for a in settings.forwarded_allow_ips.split(",") if a.strip())
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or ""}


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.workers > 1:
        return serve_processes(settings, args)
    return serve(settings)


def serve_processes(settings: Settings, args: argparse.Namespace) -> int:
    """Several API processes on one port (uvicorn's workers) over PostgreSQL.

    Each process decides and saves its own commands (the store orders them; an aggregate
    changed by another process is read forward from the log before deciding); the views, the
    alert watcher and the deliverer run once, in ``handover worker``, not in the API processes."""
    import os

    import uvicorn

    if settings.store != "postgres":
        print(f"handover: several API processes need the PostgreSQL store (this is {settings.store}: "
              "one process holds a SQLite file)", file=sys.stderr)
        return 2
    # The processes build their settings from the environment: hand them these.
    os.environ.update({"HANDOVER_STORE": settings.store, "HANDOVER_HOST": settings.host,
                       "HANDOVER_PORT": str(settings.port), "HANDOVER_RUN_PROJECTIONS": "false"})
    if getattr(args, "data_dir", None):
        os.environ["HANDOVER_DATA_DIR"] = str(settings.data_dir)
    print(f"Handover on http://{settings.host}:{settings.port}: {args.workers} API processes on the "
          "PostgreSQL store; run `handover worker` beside them for the views, alerts and deliveries")
    sys.stdout.flush()
    uvicorn.run("service.api.app:create_app", factory=True, workers=args.workers,
                host=settings.host, port=settings.port, log_level="info", log_config=log_config(),
                **forwarding(settings))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.store == "memory":
        print("handover demo needs a store that outlives set-up: use sqlite (default) or postgres",
              file=sys.stderr)
        return 2
    if not getattr(args, "data_dir", None) and "HANDOVER_DATA_DIR" not in os.environ:
        settings = settings.model_copy(update={"data_dir": Path("data/demo")})
    if settings.store == "postgres" and settings.cipher_key is None:
        # The demo keeps its generated key beside its other files, readable by its owner only.
        key = settings.keep_generated_key()
        settings = settings.model_copy(update={"cipher_key": SecretStr(key)})
    from service.demo.today import stage_demo

    banner, live = stage_demo(settings, args.at)
    live.clock.run_on()
    live.player.start()
    try:
        return serve(settings, banner, application=live.app)
    finally:
        live.close()


def _demo_time(text: str) -> time:
    from service.demo.today import parse_at
    try:
        return parse_at(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_worker(args: argparse.Namespace) -> int:
    """Keep every view, the alert watcher and the deliverer going, outside the API process.

    Nothing here exits on a failure: a view that cannot reach the store or apply an event, a
    failed watcher or deliverer round, is printed, retried with back-off and resumes by itself."""
    import signal
    import threading

    from service.workers.bootstrap import Opening, background, beat, open_application

    settings = _settings(args)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    # Started while the database is away: say so and keep trying, as the views do later.
    opening = Opening(lambda: open_application(settings), lambda _: None)
    while not opening.try_once():
        print(f"the store does not answer ({opening.error!r}): trying again", file=sys.stderr)
        sys.stderr.flush()
        if stopping.wait(opening.backoff.delay(opening.attempts)):
            return 0
    assert opening.app is not None
    app = opening.app
    running = background(app, settings)
    running.start()
    print(f"worker running on the {settings.store} store: views {', '.join(running.views.runners)}")
    sys.stdout.flush()
    reported: dict[str, str | None] = {}
    try:
        while True:
            try:
                beat(running, settings)  # the API processes' /health reads it
            except Exception as e:  # noqa: BLE001 - the store away: said, and tried again
                print(f"heartbeat not written (retrying): {e!r}", file=sys.stderr)
            if stopping.wait(5):
                break
            for part, error in running.errors().items():
                now = repr(error) if error else None
                if now != reported.get(part):
                    print(f"{part} failing (retrying): {now}" if now else f"{part} resumed",
                          file=sys.stderr)
                    sys.stderr.flush()
                    reported[part] = now
    finally:
        running.stop()
        app.close()
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Drop a view and rebuild it from the first event, showing progress."""
    from tqdm import tqdm

    from service.projections.views import Views
    from service.workers.bootstrap import open_application

    settings = _settings(args)
    app = open_application(settings)
    try:
        views = Views(app, settings)
        if args.view not in views.runners:
            print(f"no view {args.view!r}; views: {', '.join(views.runners)}", file=sys.stderr)
            return 2
        runner = views.runners[args.view]
        head = app.recorder.max_notification_id() or 0
        runner.view.reset()
        with tqdm(total=head, unit="event", desc=f"rebuild {args.view}") as bar:
            runner.catch_up(progress=bar.update)
        print(f"view {args.view} rebuilt to position {runner.position}")
    finally:
        app.close()
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify an evidence export offline (no database, no decryption key), or the live store
    against its published checkpoints; 0 when everything verifies, 1 when anything does not."""
    from service.domain.evidence import Report, kept_checkpoints, verify_export

    key_text = Path(args.key).read_text(encoding="utf-8") if args.key else None
    kept = [c for path in args.checkpoints or []
            for c in kept_checkpoints(Path(path).read_text(encoding="utf-8"))]
    reports: list[Report]
    if args.live:
        reports = _verify_live(args, key_text, kept)
    else:
        if args.export is None or key_text is None:
            print("handover verify: give an EXPORT and --key PUBLIC_KEY_FILE (or --live)", file=sys.stderr)
            return 2
        try:
            with open(args.export, "rb") as f:
                reports = [verify_export(f, key_text, kept=kept)]
        except (OSError, ValueError, KeyError) as e:
            print(f"handover verify: {args.export} cannot be read as an evidence export: {e}",
                  file=sys.stderr)
            return 2
    if not reports:
        print("no event is recorded yet: nothing to verify")
    for report in reports:
        for line in report.lines():
            print(line)
    return 0 if all(r.ok for r in reports) else 1


def _verify_live(args: argparse.Namespace, key_text: str | None, kept: list[Any]) -> list[Any]:
    from service.domain.evidence import trusted_keys
    from service.projections.views import Views
    from service.reports.evidence import verify_live
    from service.workers.bootstrap import open_application

    settings = _settings(args)
    app = open_application(settings)
    try:
        views = Views(app, settings)
        views.runners["evidence"].catch_up()
        keys = trusted_keys(key_text) if key_text else None
        if keys is None:
            print("(trusting the public keys the service publishes: give --key to trust your own copy)")
        return verify_live(app, views.evidence, app.clock.now(), keys, kept)
    finally:
        app.close()


def cmd_route(args: argparse.Namespace) -> int:
    """One address for a city: each request to the service of its school's district."""
    import uvicorn

    from service.route.proxy import create_router
    from service.route.table import RouteTableError, load_table

    try:
        table = load_table(Path(args.table))
    except RouteTableError as e:
        print(f"handover route: {e}", file=sys.stderr)
        return 2
    settings = _settings(args)
    print(f"Handover router on http://{settings.host}:{settings.port}: "
          + "; ".join(f"{d.name} ({len(d.schools)} schools) -> {', '.join(d.upstreams)}"
                      for d in table.districts))
    sys.stdout.flush()
    # The districts' own Date and Server headers pass through: none of the router's beside them.
    uvicorn.run(create_router(table), host=settings.host, port=settings.port, log_level="info",
                log_config=log_config(), server_header=False, date_header=False,
                **forwarding(settings))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """The bench is a tool of the repository checkout (``tools/``), not of the installed service."""
    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "tools" / "bench.py").is_file():
        print("handover bench runs from a repository checkout: tools/bench.py is not beside "
              f"{checkout / 'service'}", file=sys.stderr)
        return 2
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    from tools.bench import run_bench

    return run_bench(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="handover", description="课后服务安全交接 Handover")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create a school and its first admin; prints the admin token once")
    p.add_argument("--name", required=True, help="the school's name")
    p.add_argument("--timezone", default="Asia/Shanghai")
    p.add_argument("--admin", default="管理员", help="the first admin's name")
    p.add_argument("--grades", choices=["primary", "middle", "nine_year"], default="primary",
                   help="grades taught: primary 1-6 (default), middle 7-9, nine_year 1-9")
    _add_store_args(p)
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", help="run the HTTP API")
    _add_server_args(p)
    p.add_argument("--workers", type=int, default=1, metavar="N", help=(
        "API processes sharing the port (PostgreSQL only; the views then run in `handover worker`)"))
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="run the HTTP API with a demo school (created on first run)")
    _add_server_args(p)
    p.add_argument("--at", type=_demo_time, default=None, metavar="HH:MM", help=(
        "start the demo clock at this time on the nearest service day (it runs on from there); "
        "default: now, with today's afternoon as it would stand by now"))
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("worker", help="keep the views up to date (run beside `serve` in production)")
    _add_store_args(p)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("rebuild", help="drop a view and rebuild it from zero")
    p.add_argument("view", help="the view's name, e.g. roster")
    _add_store_args(p)
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("verify", help="verify an evidence export offline, or the live store (--live)")
    p.add_argument("export", nargs="?", help="the export (JSON lines from GET /v1/evidence/export)")
    p.add_argument("--key", help="the trusted public keys: GET /v1/evidence/keys as JSON, or one PEM key")
    p.add_argument("--checkpoints", action="append", metavar="FILE", help=(
        "checkpoints kept from earlier (GET /v1/evidence/checkpoints saved, or a witness's copy), "
        "checked besides the export's own; may be repeated"))
    p.add_argument("--live", action="store_true",
                   help="verify the live store's chains against their published checkpoints")
    _add_store_args(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("route", help=(
        "pass each request to its school's district service, by a routing table (a city)"))
    p.add_argument("--table", required=True, metavar="ROUTES.toml", help=(
        "[districts.NAME] sections, each with upstreams = [base URLs] and schools = [school ids]"))
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8000)")
    p.set_defaults(func=cmd_route)

    p = sub.add_parser("bench", help=(
        "measure release throughput and latency over HTTP; --scenario rush: a district's dismissal"))
    p.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    p.add_argument("--requests", type=int, default=1500, help="releases per concurrency level")
    p.add_argument("--data-dir", default=None, help="scratch directory for the SQLite store")
    p.add_argument("--scenario", choices=["release", "rush", "all"], default="release", help=(
        "release: the release table per store (default); rush: a district's dismissal replayed "
        "open loop with wrk against PostgreSQL, the API and worker as processes; all: both"))
    p.add_argument("--schools", type=int, default=200, help="rush: schools in the district")
    p.add_argument("--offered-rate", type=float, default=200.0, metavar="PER_S",
                   help="rush: releases offered per second")
    p.add_argument("--seconds", type=float, default=60.0, help="rush: length of the replayed window")
    p.add_argument("--scale", type=float, default=1.0, help="rush: multiplies every school's size")
    p.add_argument("--connections", type=int, default=128, help=(
        "rush: wrk connections, one thread each (a district has hundreds of gate tablets)"))
    p.add_argument("--no-components", dest="components", action="store_false",
                   help="release: only the HTTP tables, not group commit and the watcher at school scale")
    p.set_defaults(func=cmd_bench)

    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            _settings(args).store_cipher_key()  # refuse to start before anything is served
        result: int = args.func(args)
    except StoreKeyError as e:
        print(f"handover: {e}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
