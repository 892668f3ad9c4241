"""The screens' files: served at /app/ when built, a page saying how to build them when not."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api import web
from service.api.app import create_app
from service.settings import Settings


def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dist: Path) -> TestClient:
    monkeypatch.setattr(web, "DIST", dist)
    return TestClient(create_app(Settings(store="memory", data_dir=tmp_path)))


def test_without_a_build_app_says_how_to_build_and_health_is_untouched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with client(tmp_path, monkeypatch, tmp_path / "no-dist") as c:
        r = c.get("/app/")
        assert r.status_code == 503
        assert "make web" in r.text and "make demo" in r.text
        assert c.get("/app/gate").status_code == 503
        assert c.get("/health").status_code == 200
        r = c.get("/", follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == "/app/"


def test_a_build_is_served_and_any_screen_path_is_the_app(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>app</title>", encoding="utf-8")
    (dist / "assets" / "index-abc.js").write_text("console.log(1)", encoding="utf-8")
    with client(tmp_path, monkeypatch, dist) as c:
        r = c.get("/app/")
        assert r.status_code == 200 and "<title>app</title>" in r.text
        assert r.headers["cache-control"] == "no-cache"
        r = c.get("/app/gate/anything")
        assert r.status_code == 200 and "<title>app</title>" in r.text
        r = c.get("/app/assets/index-abc.js")
        assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
        assert c.get("/app/assets/index-old.js").status_code == 404  # never the page as a script
        assert c.get("/v1/nothing-here").status_code == 404  # the API's own 404, not the app


def test_the_icon_is_the_apps_whether_asked_of_the_page_or_of_the_site_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = Path(__file__).resolve().parents[1] / "web"
    assert '<link rel="icon" href="/app/favicon.svg"' in (sources / "index.html").read_text("utf-8")
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>app</title>", encoding="utf-8")
    (dist / "favicon.svg").write_bytes((sources / "public" / "favicon.svg").read_bytes())
    with client(tmp_path, monkeypatch, dist) as c:
        r = c.get("/favicon.ico")
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")


def test_the_api_docs_load_from_the_service_itself_never_a_cdn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with client(tmp_path, monkeypatch, tmp_path / "no-dist") as c:
        assert c.get("/docs").status_code == 503  # not built: says how, like /app/
        assert c.get("/redoc").status_code == 404
    dist = tmp_path / "dist"
    (dist / "api-docs").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>app</title>", encoding="utf-8")
    (dist / "api-docs" / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle={}", encoding="utf-8")
    with client(tmp_path, monkeypatch, dist) as c:
        r = c.get("/docs")
        assert r.status_code == 200 and "/app/api-docs/swagger-ui-bundle.js" in r.text
        assert "cdn" not in r.text.lower() and "//" not in r.text.replace("http://", "").replace("https://", "")
        assert c.get("/app/api-docs/swagger-ui-bundle.js").text == "window.SwaggerUIBundle={}"
