"""The inspector's evidence and the admin's keys in a real browser: the inspector finds an incident in
the audit trail, opens a pupil's evidence pack (another pupil named in it redacted) and downloads
it as JSON whose proofs verify with the keys alone and as a PDF with the pupil's name, sees the
school's log verified with its last checkpoint and key, and finds their own read in the access
record, sending nothing that writes; the admin sees the keys with their validity and the recent
checkpoints, and rotates the key."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect
from pypdf import PdfReader

from service.domain.evidence import verify_proof
from service.reports.evidence_pack import trusted_of
from tests.browser.conftest import LANDSCAPE, Served
from tests.browser.test_board_screens import (
    ADMIN,
    INSPECTOR,
    ok,
    serious_violations,
    sign_in,
)

CATALOGUE_KEY = re.compile(r"\b[a-z_]+\.[a-z_.-]+\b")


@pytest.fixture
def desk(browser: Browser) -> Any:
    ctx = browser.new_context(viewport=LANDSCAPE, locale="zh-CN", timezone_id="Asia/Shanghai",
                              accept_downloads=True)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def injured(served: Served) -> dict[str, Any]:
    """An incident naming two pupils, its description naming the second; signed into a checkpoint."""
    admin = served.client(ADMIN)
    pupils = ok(admin.get("/v1/pupils"))["pupils"]
    first, second = pupils[0], pupils[1]
    incident = ok(admin.post("/v1/incidents", json={
        "kind": "injury", "severity": "minor", "description": f"课间与{second['name']}相撞，额头红肿",
        "pupil_ids": [first["pupil_id"], second["pupil_id"]], "where": "二楼走廊", "first_aid": "冰敷"}), 201)
    deadline = time.monotonic() + 90  # the chain view follows the demo's log, then is signed
    while not ok(admin.get("/v1/evidence/checkpoints"))["checkpoints"]:
        assert time.monotonic() < deadline, "no checkpoint signed"
        time.sleep(0.5)
    return {"first": first, "second": second, "incident": incident}


def words_untranslated(text: str) -> set[str]:
    return set(CATALOGUE_KEY.findall(text))


def test_the_inspector_searches_the_trail_takes_a_pack_sees_the_log_verified_and_the_access_record(
        desk: BrowserContext, served: Served, injured: dict[str, Any], artifacts: Path) -> None:
    page = desk.new_page()
    writes: list[str] = []

    def record(request: Request) -> None:
        if request.method != "GET" and not request.url.endswith("/v1/stream/tickets"):
            writes.append(f"{request.method} {request.url}")

    page.on("request", record)
    first, second = injured["first"], injured["second"]
    sign_in(page, served, INSPECTOR)

    page.get_by_test_id("tab-audit").click()
    page.get_by_test_id("audit-pupil").fill(first["name"])
    page.get_by_test_id("audit-pick").first.click()
    page.get_by_test_id("audit-type").select_option("Incident")
    started = time.monotonic()
    page.get_by_test_id("audit-run").click()
    hit = page.locator("[data-testid=audit-hit][data-event='Incident.Reported']")
    expect(hit.first).to_be_visible(timeout=20000)
    print(f"audit search (one pupil, incidents) shown in {time.monotonic() - started:.2f} s")
    expect(hit.first).to_contain_text(ADMIN)
    assert not words_untranslated(page.get_by_test_id("audit-search").inner_text())
    page.screenshot(path=artifacts / "60-inspector-audit-search.png", full_page=True)

    page.get_by_test_id("tab-pack").click()
    page.get_by_test_id("pack-pupil").fill(first["name"])
    page.get_by_test_id("pack-pick").first.click()
    page.get_by_test_id("pack-open").click()
    shown = page.get_by_test_id("pack-shown")
    expect(shown).to_contain_text(first["name"], timeout=20000)
    expect(page.get_by_test_id("pack-incident")).to_contain_text("（其他学生）")
    expect(shown).not_to_contain_text(second["name"])
    page.screenshot(path=artifacts / "61-inspector-evidence-pack.png", full_page=True)
    with page.expect_download() as as_json:
        page.get_by_test_id("pack-json").click()
    pack = json.loads(Path(as_json.value.path()).read_text())
    assert pack["pupil"]["name"] == first["name"] and second["name"] not in json.dumps(pack, ensure_ascii=False)
    keys = trusted_of(pack)
    events = [*pack["custody"], *(e for i in pack["incidents"] for e in i["events"]),
              *(e for a in pack["alerts"] for e in a["events"])]
    proved = [e for e in events if e["proof"] is not None]
    assert all(verify_proof(e["proof"], keys) is None for e in proved)
    print(f"evidence pack: {len(events)} events, {len(proved)} with a proof that verifies, "
          f"{len(events) - len(proved)} awaiting the next checkpoint")
    with page.expect_download() as as_pdf:
        page.get_by_test_id("pack-pdf").click()
    assert as_pdf.value.suggested_filename.endswith(".pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(Path(as_pdf.value.path()).read_bytes())).pages)
    assert first["name"] in text and second["name"] not in text and "监护链" in text

    page.get_by_test_id("tab-verify").click()
    result = page.get_by_test_id("verification-result")
    expect(result).to_have_attribute("data-ok", "true", timeout=30000)
    expect(page.get_by_test_id("verification-checkpoint")).to_contain_text("日志位置")
    expect(page.get_by_test_id("verification-key")).to_contain_text("有效期")
    page.screenshot(path=artifacts / "62-inspector-log-verified.png", full_page=True)

    page.get_by_test_id("tab-access").click()
    page.get_by_test_id("access-pupil").fill(first["name"])
    page.get_by_test_id("access-pick").first.click()
    page.get_by_test_id("access-run").click()
    expect(page.get_by_test_id("access-read").filter(has_text="证据包").first).to_contain_text(INSPECTOR, timeout=20000)
    page.screenshot(path=artifacts / "63-inspector-access-record.png", full_page=True)
    assert [v["id"] for v in serious_violations(page)] == []
    assert writes == [], writes


def test_the_admin_sees_the_keys_and_checkpoints_and_rotates_the_key(
        desk: BrowserContext, served: Served, artifacts: Path) -> None:
    page: Page = desk.new_page()
    page.goto(f"{served.base}/app/")
    page.get_by_test_id("token").fill(served.tokens[ADMIN])
    page.get_by_test_id("signin").click()
    page.get_by_test_id("admin-tab-keys").click()  # on the admin's desk
    rows = page.get_by_test_id("key-row")
    expect(rows.first).to_be_visible(timeout=20000)
    before = rows.count()
    expect(page.get_by_test_id("checkpoint-row").first).to_be_visible()
    expect(page.get_by_test_id("chain-head")).to_contain_text("日志位置")
    expect(page.get_by_test_id("verification-result")).to_have_attribute("data-ok", "true", timeout=30000)
    page.screenshot(path=artifacts / "64-admin-keys.png", full_page=True)
    page.get_by_test_id("keys-rotate").click()
    page.get_by_test_id("keys-rotate-confirm").click()
    expect(page.get_by_test_id("keys-said")).to_contain_text("已更换")
    expect(rows).to_have_count(before + 1)
    expect(page.locator("[data-testid=key-row][data-current=true]")).to_have_count(1)
    keys = ok(served.client(ADMIN).get("/v1/evidence/keys"))["keys"]
    assert len(keys) == before + 1 and sum(k["valid_until"] is None for k in keys) == 1
    page.screenshot(path=artifacts / "65-admin-key-rotated.png", full_page=True)
