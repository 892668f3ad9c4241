"""The roster import and the enrolment steps on the admin's desk, in a browser: a file with bad
cells is refused whole, each problem shown at its row and column; the corrected file is checked
first, then imported, and the report says what was created and skipped; a class goes through
the enrolment steps, a step out of order refused for each pupil and said so."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import Served
from tests.browser.test_admin_screen import ADMIN, signed_in
from tests.browser.test_board_screens import serious_violations, small_targets
from tests.browser.test_gate_screen import untranslated

HEADER = "姓名,性别,班级,班主任,家长姓名,联系电话"
CLASS = "三年级(8)班"  # a class of its own: the demo's classes are at the gate in other tests
GOOD = [f"周一帆,男,{CLASS},吴老师,周建国,13811112222", f"周一诺,女,{CLASS},吴老师,周建国,13811112222"]
BAD = [f"周一帆,X,{CLASS},吴老师,周建国,13811112222", f"周一诺,女,{CLASS},吴老师,周建国,12345"]


def upload(page: Page, rows: list[str], *, dry_run: bool) -> None:
    data = ("\ufeff" + "\n".join([HEADER, *rows])).encode("utf-8")
    page.get_by_test_id("roster-file").set_input_files(
        {"name": "名单.csv", "mimeType": "text/csv", "buffer": data})
    dry = page.get_by_test_id("roster-dry-run")
    if dry.is_checked() != dry_run:
        dry.click()
    page.get_by_test_id("roster-upload").click()


def test_an_admin_imports_a_roster_sees_each_bad_cell_then_enrols_the_class_step_by_step(
        context: BrowserContext, served: Served, artifacts: Path) -> None:
    admin = served.client(ADMIN)
    before = admin.get("/v1/pupils").json()["total"]
    page = context.new_page()
    signed_in(page, served)
    page.get_by_test_id("admin-tab-roster").click()

    upload(page, BAD, dry_run=False)
    errors = page.get_by_test_id("roster-error")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("第 2 行")
    expect(errors.nth(0)).to_contain_text("性别")
    expect(errors.nth(0)).to_contain_text("性别应为“男”或“女”")
    expect(errors.nth(1)).to_contain_text("第 3 行")
    expect(errors.nth(1)).to_contain_text("联系电话")
    expect(page.get_by_role("status").first).to_contain_text("2 处问题，整份未导入")
    expect(page.get_by_test_id("roster-form")).to_contain_text("名单.csv")
    assert not untranslated(page) - {"csv"}, untranslated(page)  # the file's own name aside
    assert small_targets(page) == [], small_targets(page)
    assert serious_violations(page) == [], serious_violations(page)
    page.screenshot(path=artifacts / "56-admin-roster-errors.png", full_page=True)
    page.get_by_role("button", name="English").click()  # the importer's reasons in the reader's language
    expect(errors.nth(0)).to_contain_text("gender must be 男 or 女")
    expect(page.get_by_test_id("roster-errors")).to_contain_text("Row")
    page.get_by_role("button", name="中文").click()
    expect(errors.nth(0)).to_contain_text("性别应为“男”或“女”")
    assert admin.get("/v1/pupils").json()["total"] == before  # nothing imported

    upload(page, GOOD, dry_run=True)
    report = page.get_by_test_id("roster-report")
    expect(report).to_contain_text("检查结果（未保存）")
    expect(report.locator("div").filter(has_text="新建学生")).to_contain_text("2")
    expect(page.get_by_test_id("roster-errors")).to_have_count(0)
    assert admin.get("/v1/pupils").json()["total"] == before

    upload(page, GOOD, dry_run=False)
    expect(report).to_contain_text("导入结果")
    expect(report.locator("div").filter(has_text="新建学生")).to_contain_text("2")
    expect(report.locator("div").filter(has_text="新建班级")).to_contain_text("1")
    upload(page, GOOD, dry_run=False)  # the same file again creates nothing
    expect(report.locator("div").filter(has_text="已有学生")).to_contain_text("2")
    expect(report.locator("div").filter(has_text="新建学生")).to_contain_text("0")
    page.screenshot(path=artifacts / "57-admin-roster-report.png", full_page=True)
    assert admin.get("/v1/pupils").json()["total"] == before + 2

    page.reload()
    page.get_by_test_id("admin-tab-roster").click()
    bulk = page.get_by_test_id("bulk-form")
    bulk.get_by_test_id("bulk-class").select_option(label=CLASS)
    starts = date.today() + timedelta(days=40)
    bulk.get_by_test_id("bulk-step").select_option("school_approved")
    bulk.get_by_test_id("bulk-submit").click()
    result = page.get_by_test_id("bulk-pupil")
    expect(result).to_have_count(2)
    expect(result.first).to_contain_text("未能办理")
    expect(page.get_by_test_id("bulk-enrolment").get_by_role("status")).to_contain_text("未能办理 2 人")

    bulk.get_by_test_id("bulk-step").select_option("applied")
    bulk.get_by_test_id("bulk-term").fill("2027春")
    bulk.get_by_test_id("bulk-starts").fill(starts.isoformat())
    bulk.get_by_test_id("bulk-ends").fill((starts + timedelta(days=120)).isoformat())
    bulk.get_by_test_id("bulk-submit").click()
    expect(result.filter(has_text="已办理")).to_have_count(2)
    expect(result.first).to_contain_text("已申请")
    for step, now in (("class_reviewed", "班级已审核"), ("school_approved", "学校已核准"), ("signed", "已签协议")):
        bulk.get_by_test_id("bulk-step").select_option(step)
        bulk.get_by_test_id("bulk-submit").click()
        expect(result.filter(has_text=now)).to_have_count(2)
    bulk.get_by_test_id("bulk-submit").click()  # signed again: nothing to do
    expect(result.filter(has_text="此前已办")).to_have_count(2)
    assert not untranslated(page), untranslated(page)
    page.screenshot(path=artifacts / "58-admin-bulk-enrolment.png", full_page=True)
    mine = [p for p in admin.get("/v1/pupils", params={"limit": 500}).json()["pupils"] if p["class_label"] == CLASS]
    assert sorted(p["enrolment_status"] for p in mine) == ["signed", "signed"]
