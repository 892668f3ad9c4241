"""A pupil's photo: uploaded by an admin, decoded whole and scaled down by Pillow, kept by its
content hash in the blob store the incidents' photos use (encrypted at rest with the events),
recorded on the pupil's profile as an event, and served only to staff of the school who see the
pupil's profile, every read in the access log. Anything else is refused and changes nothing."""

from __future__ import annotations

import hashlib
from io import BytesIO
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from PIL import Image

from service.adapters.blobs import FileBlobs, PostgresBlobs
from service.adapters.photos import MAX_PHOTO_BYTES, PHOTO_PX
from service.application import HandoverApp
from service.settings import Settings
from tests.builders import World, a_school, key
from tests.pg import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.stores import every_store

ORIENTATION = 0x0112  # EXIF: how the camera was held


def a_photo(fmt: str = "JPEG", size: tuple[int, int] = (1200, 900), turned: int | None = None) -> bytes:
    out = BytesIO()
    image = Image.new("RGB", size, "navy")
    exif = image.getexif()
    if turned is not None:
        exif[ORIENTATION] = turned
    image.save(out, fmt, exif=exif)
    return out.getvalue()


def upload(world: World, pupil_id: str, data: bytes, name: str = "照片.jpg",
           media_type: str = "image/jpeg", who: Any = None) -> Any:
    return world.client.put(f"/v1/pupils/{pupil_id}/photo", files={"file": (name, data, media_type)},
                            headers=(who or world.admin).h(**key()))


def photo_of(world: World, pupil_id: str, who: Any = None) -> Any:
    return world.client.get(f"/v1/pupils/{pupil_id}/photo", headers=(who or world.admin).h())


def test_an_admin_uploads_a_photo_kept_small_by_its_hash_and_the_gate_reads_it(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=2)
    pupil_id = world.pupil(0)
    sent = a_photo("PNG", (1200, 900))
    r = upload(world, pupil_id, sent, "小明.png", "image/png")
    assert r.status_code == 200, r.text
    sha = r.json()["photo_sha256"]

    r = photo_of(world, pupil_id, world.guard)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(r.content).hexdigest() == sha and r.content != sent
    assert r.headers["cache-control"] == "private, no-store" and r.headers["etag"] == f'"{sha}"'
    with Image.open(BytesIO(r.content)) as kept:
        assert (kept.format, kept.size) == ("JPEG", (PHOTO_PX, PHOTO_PX * 3 // 4))
    assert client.get(f"/v1/pupils/{pupil_id}", headers=world.teacher.h()).json()["photo_sha256"] == sha

    pupil = app.pupil(world.school_id, pupil_id, readonly=True)
    [recorded] = [e for e in app.recorder.select_events(pupil.id) if e.topic.endswith("Pupil.PhotoSet")]
    assert recorded.originator_version == pupil.version and pupil.photo_file is not None
    assert (pupil.photo_file["sha256"], pupil.photo_file["sent_type"], pupil.photo_file["width"]) == (
        sha, "image/png", PHOTO_PX)

    # Another pupil has none; another school, or no token, never sees this one.
    assert photo_of(world, world.pupil(1)).status_code == 404
    other = a_school(client, app, pupils=1, name="第二小学")
    assert photo_of(world, pupil_id, other.admin).status_code == 404
    assert client.get(f"/v1/pupils/{pupil_id}/photo").status_code == 401
    assert client.get(f"/v1/pupils/{pupil_id}/photo?access_token={world.admin.token}").status_code in (400, 401)

    r = client.get("/v1/access-log", params={"staff": world.guard.staff_id}, headers=world.admin.h())
    reads = [x for x in r.json()["reads"] if x["what"] == "pupil_photo"]
    assert [(x["pupil_ids"], x["data"]) for x in reads] == [([pupil_id], ["profile"])]


def test_a_photo_taken_on_its_side_is_kept_upright(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    r = upload(world, world.pupil(0), a_photo("JPEG", (800, 400), turned=6))  # held a quarter turn
    assert r.status_code == 200, r.text
    with Image.open(BytesIO(photo_of(world, world.pupil(0)).content)) as kept:
        assert kept.size == (300, 600)
        assert ORIENTATION not in kept.getexif()


def test_what_is_not_a_whole_image_too_large_or_not_an_admins_is_refused_and_changes_nothing(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    pupil_id = world.pupil(0)
    before = client.get(f"/v1/pupils/{pupil_id}", headers=world.admin.h()).json()
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
    photo = a_photo()
    cases = [
        (upload(world, pupil_id, b"GIF89a not a photo", "a.gif", "image/gif"), 415),
        (upload(world, pupil_id, pdf, "a.pdf", "application/pdf"), 415),
        (upload(world, pupil_id, photo[: len(photo) // 2]), 422),  # cut off half way
        (upload(world, pupil_id, photo, "a.png", "image/png"), 422),  # not what it says
        (upload(world, pupil_id, b""), 422),
        (upload(world, pupil_id, b"\xff\xd8\xff" + b"\0" * MAX_PHOTO_BYTES), 413),
        (upload(world, pupil_id, photo, who=world.teacher), 403),
        (upload(world, "no-such-pupil", photo), 404),
    ]
    for r, status in cases:
        assert r.status_code == status, (status, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/v1/pupils/{pupil_id}", headers=world.admin.h()).json() == before
    assert photo_of(world, pupil_id).status_code == 404


@every_store
def test_a_photo_is_kept_encrypted_beside_the_events_and_read_back_by_a_new_process(
        client: TestClient, app: HandoverApp, settings: Settings, store: str) -> None:
    world = a_school(client, app, pupils=1)
    r = upload(world, world.pupil(0), a_photo("WEBP", (640, 640)), "头像.webp", "image/webp")
    assert r.status_code == 200, r.text
    sha = r.json()["photo_sha256"]
    kept = photo_of(world, world.pupil(0)).content
    if store == "sqlite":
        assert isinstance(app.blobs, FileBlobs)
        assert kept not in app.blobs.path(sha).read_bytes()
    if store == "postgres":
        assert isinstance(app.blobs, PostgresBlobs)
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD,
                             dbname=settings.postgres_dbname) as conn:
            [(content,)] = conn.execute(
                f'SELECT content FROM "{settings.postgres_schema}".blobs WHERE sha256=%s', (sha,)).fetchall()
        assert kept not in bytes(content)
    fresh = HandoverApp(env=settings.eventsourcing_env()) if store != "memory" else app
    try:
        assert fresh.blobs.get(sha) == kept
        again = fresh.pupil(world.school_id, world.pupil(0), readonly=True)
        assert again.photo_file is not None and again.photo_file["sha256"] == sha
    finally:
        if fresh is not app:
            fresh.close()
