"""A refused clearing that names many blockers (a whole class still held, an afternoon's alerts)
still prints: its blockers go on as many rows as they need, never one row taller than a page."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from pypdf import PdfReader

from service.reports.duty_log import duty_tables
from service.reports.pdf import pdf_bytes


def a_log(blockers: int) -> dict[str, Any]:
    leader = {"staff_name": "赵主任"}
    return {
        "timezone": "Asia/Shanghai", "roster": None, "shifts": [], "patrols": [], "incidents": [],
        "alerts": [], "cleared": None,
        "clearing_refused": [{"at": "2026-12-01T09:40:00+00:00", "by": leader, "blockers": [
            {"kind": "pupil", "name": f"学生{n:03d}", "detail": "仍在五六年级混合作业组看护中"}
            for n in range(blockers)]}],
    }


def test_a_clearing_refused_for_two_hundred_pupils_prints_every_one_of_them() -> None:
    log = a_log(200)
    [clearing] = [t for t in duty_tables(log) if t.title == "清校"]
    assert clearing.rows[0][:2] == ["17:40", "赵主任"] and str(clearing.rows[0][2]).startswith("未能清校：")
    assert all(row[:2] == ["", ""] for row in clearing.rows[1:])
    body = pdf_bytes(title="值班记录", heading="值班记录", lines=[], tables=duty_tables(log),
                     signatures=["值班领导"], footer="")
    text = "".join(p.extract_text() for p in PdfReader(BytesIO(body)).pages)
    assert all(f"学生{n:03d}" in text for n in range(200))
