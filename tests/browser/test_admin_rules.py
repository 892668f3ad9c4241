"""The fee and subsidy rules and the alert webhook on the admin's desk, in a browser: a bad amount
and a webhook into the local network are refused at their fields; the rules saved are the ones
the API answers; the webhook's secret is sent once and never shown back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import Served
from tests.browser.test_admin_screen import ADMIN, signed_in
from tests.browser.test_board_screens import serious_violations, small_targets
from tests.browser.test_gate_screen import untranslated

SECRET = "s3cret-that-signs-every-alert"
HOOK = "https://8.8.8.8/handover-alerts"


def rule_body(rule: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rule.items() if k not in ("set_by", "version") and v is not None}


def test_an_admin_sets_the_fee_and_subsidy_rules_and_the_webhook_whose_secret_is_never_shown(
        context: BrowserContext, served: Served, artifacts: Path) -> None:
    admin = served.client(ADMIN)
    fee0, subsidy0 = admin.get("/v1/school/fee-rule").json(), admin.get("/v1/school/subsidy-rule").json()
    page = context.new_page()
    signed_in(page, served)
    page.get_by_test_id("admin-tab-rules").click()
    try:
        fee = page.get_by_test_id("fee-form")
        fee.get_by_test_id("fee-amount").fill("三百")
        fee.get_by_test_id("fee-save").click()
        expect(fee.locator("[data-error-at='amount']")).to_have_text("此项填写有误")
        assert admin.get("/v1/school/fee-rule").json()["version"] == fee0["version"]
        fee.get_by_test_id("fee-basis").select_option("month")
        fee.get_by_test_id("fee-amount").fill("300.00")
        fee.get_by_test_id("fee-daily").fill("15.00")
        fee.get_by_test_id("fee-cut-困难").fill("100")
        fee.get_by_test_id("fee-cut-留守").fill("50")
        fee.get_by_test_id("fee-save").click()
        expect(fee.get_by_role("status")).to_contain_text("收费标准已保存")
        saved = admin.get("/v1/school/fee-rule").json()
        assert (saved["amount"], saved["daily_rate"]) == ("300.00", "15.00")
        assert saved["reductions"] == {"困难": 100, "留守": 50}

        subsidy = page.get_by_test_id("subsidy-form")
        subsidy.get_by_test_id("subsidy-per-session").fill("25.00")
        subsidy.get_by_test_id("subsidy-early_leave-each").fill("20")
        subsidy.get_by_test_id("subsidy-save").click()
        expect(subsidy.get_by_role("status")).to_contain_text("补助标准已保存")
        rule = admin.get("/v1/school/subsidy-rule").json()
        assert (rule["per_session"], rule["deductions"]["early_leave"]["each_pct"]) == ("25.00", 20)

        hook = page.get_by_test_id("webhook-form")
        expect(hook.get_by_test_id("webhook-state")).to_contain_text("尚未设置")
        hook.get_by_test_id("webhook-url").fill("http://127.0.0.1:9/alerts")
        hook.get_by_test_id("webhook-secret").fill(SECRET)
        hook.get_by_test_id("webhook-save").click()
        expect(hook.locator("[data-error-at='url']")).to_have_text("此项填写有误")
        expect(hook.get_by_test_id("webhook-secret")).to_have_value("")  # never kept on the page
        hook.get_by_test_id("webhook-url").fill(HOOK)
        hook.get_by_test_id("webhook-secret").fill(SECRET)
        hook.get_by_test_id("webhook-save").click()
        expect(hook.get_by_test_id("webhook-state")).to_contain_text(f"预警推送到：{HOOK}（已设置签名密钥）")
        expect(hook.get_by_test_id("webhook-secret")).to_have_value("")
        assert SECRET not in page.content()
        answer = admin.get("/v1/school/webhook")
        assert answer.json()["url"] == HOOK and SECRET not in answer.text
        words = untranslated(page) - set(re.findall(r"[A-Za-z]{2,}", HOOK))
        assert not words, words
        assert small_targets(page) == [], small_targets(page)
        assert serious_violations(page) == [], serious_violations(page)
        page.screenshot(path=artifacts / "62-admin-rules.png", full_page=True)
        page.reload()
        page.get_by_test_id("admin-tab-rules").click()
        expect(hook.get_by_test_id("webhook-secret")).to_have_value("")
        hook.get_by_test_id("webhook-remove").click()
        expect(hook.get_by_test_id("webhook-state")).to_contain_text("尚未设置")
        assert admin.get("/v1/school/webhook").json()["active"] is False
    finally:
        admin.delete("/v1/school/webhook", headers={"Idempotency-Key": "restorewebhook"})
        for name, rule in (("fee-rule", fee0), ("subsidy-rule", subsidy0)):
            restored = admin.put(f"/v1/school/{name}", headers={"Idempotency-Key": f"restore{name.replace('-', '')}"},
                                 json=rule_body(rule))
            assert restored.status_code == 200, restored.text
