"""The screens in a real browser: Debian's chromium, driven by Playwright, against a running
``handover serve`` on a demo school in a temporary SQLite store.

The demo school is built in this process (so its staff tokens are at hand), then a server is
started on a free port over the same store. Screenshots go to ``tests/browser/artifacts/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import ViewportSize

from service.demo.school import open_demo
from service.settings import Settings
from service.use_cases.clock import RunningClock

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "web" / "dist"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = os.environ.get("HANDOVER_CHROMIUM", "/usr/bin/chromium")
SESSION = "after_school"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Served:
    """The running service, the demo staff's tokens, and an HTTP client for setting up and checking."""

    base: str
    school_id: str
    tokens: dict[str, str]  # staff name → bearer token
    roles: dict[str, str]  # staff name → role
    gates: dict[str, str]  # gate name → gate_id

    def client(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10.0,
                            headers={"Authorization": f"Bearer {self.tokens[name]}"})

    def token_of_role(self, role: str) -> str:
        return next(self.tokens[n] for n, r in self.roles.items() if r == role)


def _evening() -> datetime:
    """The moment the screens are tried at, whatever the hour the tests run: 21:00 at the school
    of today if it holds after-school care (Monday to Thursday), else of the last day that did,
    so the afternoon is over and every band's dismissal has passed, as a school's evening looks.
    The service and every browser page run on from it together (HANDOVER_CLOCK_START names
    another moment)."""
    if raw := os.environ.get("HANDOVER_CLOCK_START"):
        return datetime.fromisoformat(raw)
    day = datetime.now(SCHOOL_TZ).date()
    while day.isoweekday() > 4:
        day -= timedelta(days=1)
    return datetime.combine(day, clock_time(21, 0), SCHOOL_TZ)


SCHOOL_TZ = ZoneInfo("Asia/Shanghai")
EVENING = _evening()


class OnTheSchoolsClock:
    """The browser, whose every new context runs its pages' clocks from the service's now."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser
        self._clock = RunningClock(EVENING)

    def new_context(self, **options: Any) -> Any:
        context = self._browser.new_context(**options)
        context.clock.install(time=self._clock.now())
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


LANDSCAPE: ViewportSize = {"width": 1280, "height": 800}  # a gate tablet or a board, turned
PORTRAIT: ViewportSize = {"width": 800, "height": 1280}


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A landscape tablet in Chinese, on the school's time zone (and, as every context, its clock)."""
    ctx = browser.new_context(viewport=LANDSCAPE, locale="zh-CN", timezone_id="Asia/Shanghai",
                              accept_downloads=True)
    try:
        yield ctx
    finally:
        ctx.close()


STARTUP = 120.0  # seconds: a busy CI machine starts slowly; a healthy one takes a few


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline, last = time.monotonic() + STARTUP, "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"handover serve exited ({proc.returncode}):\n{log.read_text()}")
        try:
            r = httpx.get(f"{base}/health", timeout=2.0)
            health = r.json() if r.status_code == 200 else {}
            # Healthy, and the watcher's first round is done with the alerts view caught up: the
            # evening's alerts are all raised before a screen counts them.
            if (health.get("watcher") or {}).get("last_ok") and health["views"]["alerts"]["lag"] == 0:
                return
            last = r.text
        except httpx.HTTPError as e:
            last = repr(e)
        time.sleep(0.2)
    raise RuntimeError(f"handover serve was not healthy in {STARTUP:.0f} s ({last}):\n{log.read_text()}")


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not (DIST / "index.html").is_file():
        pytest.fail("The screens are not built: run `make web` (npm ci and npm run build in web/).")
    data = tmp_path_factory.mktemp("browser-demo")
    demo, _ = open_demo(Settings(store="sqlite", data_dir=data), clock=RunningClock(EVENING))
    port = _free_port()
    log = data / "serve.log"
    env = {**os.environ, "HANDOVER_WEB_DIST": str(DIST), "HANDOVER_CLOCK_START": EVENING.isoformat()}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--store", "sqlite", "--data-dir", str(data),
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log)
        tokens = {s.name: s.token or "" for s in demo.staff}
        roles = {s.name: s.role for s in demo.staff}
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['刘保国']}"}) as c:
            gates = {g["name"]: g["gate_id"] for g in c.get("/v1/school").json()["gates"]}
        yield Served(base, demo.school_id, tokens, roles, gates)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"No chromium at {CHROMIUM}: run `bash scripts/ensure-browser.sh` "
                    "(apt-get install -y chromium fonts-noto-cjk) or set HANDOVER_CHROMIUM.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield OnTheSchoolsClock(b)
        finally:
            b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
