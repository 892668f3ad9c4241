"""An incident's photos and scanned notes: checked for what they are, kept by content hash in the
blob store (a file under the data directory, a PostgreSQL row, encrypted at rest with the
events), size-limited, and read only by those whose role reads incidents, every read logged."""

from __future__ import annotations

import hashlib
import os
import stat
from io import BytesIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfWriter

from service.adapters.attachments import MAX_ATTACHMENT_BYTES, detected_type, inspect_attachment
from service.adapters.blobs import FileBlobs, PostgresBlobs
from service.application import HandoverApp
from service.domain.errors import ConflictError, RuleError, TooLargeError, UnsupportedMediaError
from service.domain.incident import MAX_ATTACHMENTS, Attachment, Incident
from service.settings import Settings
from tests.builders import Staff, World, a_school, add_staff, key
from tests.pg import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.refs import TEACHER, by, staff
from tests.stores import every_store


def a_photo(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), colour: str = "red") -> bytes:
    out = BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def a_scanned_note(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def an_incident(world: World) -> str:
    r = world.post(world.teacher, "/v1/incidents", {
        "kind": "injury", "severity": "minor", "description": "跑步时摔倒，膝盖擦伤",
        "pupil_ids": [world.pupil(0)], "place_id": world.group_id, "first_aid": "冰敷"})
    assert r.status_code == 201, r.text
    return str(r.json()["incident_id"])


def attach(world: World, who: Staff, incident_id: str, data: bytes, name: str = "knee.jpg",
           media_type: str = "image/jpeg", **form: str) -> Any:
    return world.client.post(f"/v1/incidents/{incident_id}/attachments",
                             files={"file": (name, data, media_type)}, data=form,
                             headers=who.h(**key()))


def incident(world: World, incident_id: str, who: Staff | None = None) -> dict[str, Any]:
    r = world.client.get(f"/v1/incidents/{incident_id}", headers=(who or world.admin).h())
    assert r.status_code == 200, r.text
    return dict(r.json())


# -- on the aggregate ---------------------------------------------------------------------------

def a_file(n: int = 1, media_type: str = "image/jpeg") -> Attachment:
    return {"sha256": f"{n:064x}", "size": 1000 + n, "media_type": media_type, "file_name": f" 照片{n}.jpg ",
            "width": 640, "height": 480, "pages": None, "caption": " 膝盖 "}


def test_an_attachment_is_an_event_naming_its_hash_kind_and_who_and_a_closed_incident_still_takes_one() -> None:
    safety = staff("s9", "孙安全")
    incident = Incident.report(
        school_id="s1", cause="report/1", day="2026-11-23", session="after_school", kind="property",
        severity="minor", pupil_ids=[], place=None, where="教室", description="窗玻璃破裂",
        witnesses=[], first_aid=None, by=by(TEACHER))
    incident.attach(a_file(1), by(TEACHER))
    incident.close("已更换玻璃", by(safety))
    incident.attach(a_file(2, "application/pdf"), by(safety))  # the repair note, signed later
    events = incident.collect_events()
    attached = [e for e in events if isinstance(e, Incident.Attached)]
    assert [e.attachment["sha256"] for e in attached] == [f"{1:064x}", f"{2:064x}"]
    assert attached[0].attachment["file_name"] == "照片1.jpg" and attached[0].attachment["caption"] == "膝盖"
    assert attached[0].by["staff_id"] == TEACHER["staff_id"]
    assert [a["seq"] for a in incident.attachments()] == [2, 4]
    with pytest.raises(ConflictError, match="step 2"):
        incident.attach(a_file(1), by(safety))
    with pytest.raises(RuleError):
        incident.attach(a_file(3, "image/gif"), by(safety))
    assert not incident.collect_events()


def test_a_voided_attachment_stays_on_record_and_the_same_file_may_be_attached_again() -> None:
    incident = Incident.report(
        school_id="s1", cause="report/1", day="2026-11-23", session=None, kind="other",
        severity="minor", pupil_ids=[], place=None, where="", description="走廊灯坏",
        witnesses=[], first_aid=None, by=by(TEACHER))
    incident.attach(a_file(1), by(TEACHER))
    incident.correct(2, "拍错了", by(TEACHER))
    assert incident.attachments()[0]["voided"] is True
    incident.attach(a_file(1), by(TEACHER))
    assert [a["voided"] for a in incident.attachments()] == [True, False]
    for n in range(2, MAX_ATTACHMENTS + 1):
        incident.attach(a_file(n), by(TEACHER))
    with pytest.raises(RuleError, match=f"at most {MAX_ATTACHMENTS}"):
        incident.attach(a_file(MAX_ATTACHMENTS + 1), by(TEACHER))


# -- what a file is ---------------------------------------------------------------------------

def test_the_content_decides_the_kind_and_a_file_that_does_not_decode_whole_is_refused() -> None:
    assert detected_type(a_photo("PNG")) == ("image/png", "PNG")
    assert detected_type(a_photo("WEBP")) == ("image/webp", "WEBP")
    assert inspect_attachment(a_photo(size=(640, 480)), "image/jpeg").width == 640
    assert inspect_attachment(a_scanned_note(3), "application/pdf").pages == 3
    with pytest.raises(UnsupportedMediaError):
        inspect_attachment(b"GIF89a....", "image/gif")
    with pytest.raises(UnsupportedMediaError):
        inspect_attachment("家长签字".encode(), "text/plain")
    photo = a_photo(size=(800, 600), colour="blue")
    with pytest.raises(RuleError, match="not a whole JPEG"):
        inspect_attachment(photo[: len(photo) // 2], "image/jpeg")  # cut off on the way
    with pytest.raises(RuleError, match="not a readable PDF"):
        inspect_attachment(b"%PDF-1.7\n" + b"x" * 100, "application/pdf")
    with pytest.raises(RuleError, match="sent as image/png"):
        inspect_attachment(a_photo(), "image/png")
    with pytest.raises(TooLargeError):
        inspect_attachment(b"\xff\xd8\xff" + bytes(MAX_ATTACHMENT_BYTES), "image/jpeg")


# -- over HTTP ----------------------------------------------------------------------------------

def test_a_photo_attached_from_the_phone_is_kept_by_its_hash_and_read_by_the_safety_officer(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    safety = add_staff(client, world.admin, "孙安全", ["safety_officer"])
    incident_id = an_incident(world)
    photo = a_photo(size=(1200, 900))
    r = attach(world, world.teacher, incident_id, photo, "膝盖.jpg", caption="擦伤处")
    assert r.status_code == 201, r.text
    [kept] = r.json()["attachments"]
    assert kept["sha256"] == hashlib.sha256(photo).hexdigest() and kept["size"] == len(photo)
    assert (kept["media_type"], kept["file_name"], kept["width"], kept["height"], kept["caption"]) == (
        "image/jpeg", "膝盖.jpg", 1200, 900, "擦伤处")
    assert kept["by"]["staff_id"] == world.teacher.staff_id and kept["voided"] is False
    assert r.json()["steps"][-1]["step"] == "attached"

    path = f"/v1/incidents/{incident_id}/attachments/{kept['sha256']}"
    r = client.get(path, headers=safety.h())
    assert r.status_code == 200 and r.content == photo
    assert r.headers["content-type"] == "image/jpeg" and r.headers["cache-control"] == "private, no-store"
    assert "filename*=UTF-8''%E8%86%9D%E7%9B%96.jpg" in r.headers["content-disposition"]
    r = client.get(path, params={"thumbnail": "true"}, headers=safety.h())
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    with Image.open(BytesIO(r.content)) as small:
        assert max(small.size) == 320
    assert [a["readable"] for a in incident(world, incident_id, safety)["attachments"]] == [True]

    # The reporter attached it but does not browse it; a guard or another school never sees it.
    assert client.get(path, headers=world.teacher.h()).status_code == 403
    assert client.get(path, headers=world.guard.h()).status_code == 403
    other = a_school(client, app, pupils=1, name="第二小学")
    assert client.get(path, headers=other.admin.h()).status_code == 404
    assert client.get(f"/v1/incidents/{incident_id}/attachments/{'0' * 64}",
                      headers=safety.h()).status_code == 404

    r = client.get("/v1/access-log", params={"staff": safety.staff_id}, headers=world.admin.h())
    reads = [x for x in r.json()["reads"] if x["what"] == "incident_attachment"]
    assert len(reads) == 2 and all(x["pupil_ids"] == [world.pupil(0)] for x in reads)
    assert reads[0]["data"] == ["profile"]


def test_a_scanned_note_is_a_document_read_only_by_those_who_see_a_pupils_documents(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    safety = add_staff(client, world.admin, "孙安全", ["safety_officer"])
    duty = add_staff(client, world.admin, "周值班", ["duty_leader"])
    incident_id = an_incident(world)
    note = a_scanned_note(2)
    r = attach(world, safety, incident_id, note, "家长说明.pdf", "application/pdf")
    assert r.status_code == 201, r.text
    [kept] = r.json()["attachments"]
    assert (kept["media_type"], kept["pages"], kept["width"]) == ("application/pdf", 2, None)
    path = f"/v1/incidents/{incident_id}/attachments/{kept['sha256']}"
    r = client.get(path, headers=safety.h())
    assert r.status_code == 200 and r.content == note
    assert r.headers["content-disposition"].startswith("attachment;")
    assert client.get(path, headers=duty.h()).status_code == 403
    assert client.get(path, headers=world.inspector.h()).status_code == 403
    assert [a["readable"] for a in incident(world, incident_id, duty)["attachments"]] == [False]
    r = client.get(path, params={"thumbnail": "true"}, headers=safety.h())
    assert r.status_code == 422


def test_a_file_that_is_not_what_it_says_too_large_or_attached_twice_changes_nothing(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    incident_id = an_incident(world)
    before = incident(world, incident_id)["version"]
    r = attach(world, world.teacher, incident_id, b"just text", "note.txt", "text/plain")
    assert r.status_code == 415 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "file"
    photo = a_photo(size=(300, 200))
    r = attach(world, world.teacher, incident_id, photo[:-200], "cut.jpg")
    assert r.status_code == 422 and "JPEG" in r.json()["detail"]
    r = attach(world, world.teacher, incident_id, b"\xff\xd8\xff" + bytes(MAX_ATTACHMENT_BYTES), "big.jpg")
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
    r = attach(world, world.teacher, incident_id, bytes(MAX_ATTACHMENT_BYTES + 100 * 1024), "huge.jpg")
    assert r.status_code == 413 and "KB" in r.json()["detail"]  # refused before the body is read
    r = attach(world, world.teacher, incident_id, photo, "gpj.\u202eknee.jpg")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"  # reads otherwise than it is
    r = attach(world, world.guard, incident_id, photo)
    assert r.status_code == 403  # not the reporter, nor one who handles incidents
    r = attach(world, world.guard, incident_id, b"just text", "note.txt", "text/plain")
    assert r.status_code == 403  # who may attach is answered before what the file is
    assert incident(world, incident_id)["version"] == before

    assert attach(world, world.teacher, incident_id, photo).status_code == 201
    r = attach(world, world.teacher, incident_id, photo, "again.jpg")
    assert r.status_code == 409 and "step 2" in r.json()["detail"]
    assert len(incident(world, incident_id)["attachments"]) == 1


def test_a_retried_upload_records_once_and_a_wrong_photo_is_voided_not_deleted(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    safety = add_staff(client, world.admin, "孙安全", ["safety_officer"])
    incident_id = an_incident(world)
    photo = a_photo("PNG")
    headers = world.teacher.h(**key())
    sent = {"files": {"file": ("a.png", photo, "image/png")}}
    first = client.post(f"/v1/incidents/{incident_id}/attachments", headers=headers, **sent)
    again = client.post(f"/v1/incidents/{incident_id}/attachments", headers=headers, **sent)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    seq = first.json()["attachments"][0]["seq"]
    r = world.post(safety, f"/v1/incidents/{incident_id}/steps",
                   {"step": "correct", "corrects": seq, "text": "拍错了学生"})
    assert r.status_code == 200, r.text
    [voided] = r.json()["attachments"]
    assert voided["voided"] is True
    sha = voided["sha256"]
    r = client.get(f"/v1/incidents/{incident_id}/attachments/{sha}", headers=safety.h())
    assert r.status_code == 200 and r.content == photo  # still on record


# -- on every store -------------------------------------------------------------------------------

@every_store
def test_an_attachment_is_kept_encrypted_beside_the_events_and_read_back_whole(
        client: TestClient, app: HandoverApp, settings: Settings, store: str) -> None:
    world = a_school(client, app, pupils=1)
    safety = add_staff(client, world.admin, "孙安全", ["safety_officer"])
    incident_id = an_incident(world)
    photo = a_photo("WEBP", size=(200, 100))
    r = attach(world, world.teacher, incident_id, photo, "伤口.webp", "image/webp")
    assert r.status_code == 201, r.text
    sha = r.json()["attachments"][0]["sha256"]
    if store == "sqlite":
        assert isinstance(app.blobs, FileBlobs)
        path = app.blobs.path(sha)
        assert path.is_relative_to(Path(settings.data_dir))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert photo not in path.read_bytes() and b"WEBP" not in path.read_bytes()
        assert not [p for p in os.listdir(path.parent) if p.startswith(".")]  # no temporary left
    if store == "postgres":
        assert isinstance(app.blobs, PostgresBlobs)
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD,
                             dbname=settings.postgres_dbname) as conn:
            [(content,)] = conn.execute(
                f'SELECT content FROM "{settings.postgres_schema}".blobs WHERE sha256=%s', (sha,)).fetchall()
        assert b"WEBP" not in bytes(content)
    r = client.get(f"/v1/incidents/{incident_id}/attachments/{sha}", headers=safety.h())
    assert r.status_code == 200 and r.content == photo and r.headers["content-type"] == "image/webp"
    # The store read afresh (a new process) finds the same content by its hash.
    fresh = HandoverApp(env=settings.eventsourcing_env()) if store != "memory" else app
    try:
        assert fresh.blobs.get(sha) == photo
    finally:
        if fresh is not app:
            fresh.close()
