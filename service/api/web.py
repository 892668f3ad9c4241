"""The screens: the built single-page app (``web/dist``) served at ``/app/``, ``/`` leading there.

The app is built by ``make web`` (``npm ci`` and ``npm run build`` in ``web/``). When the build is
missing, ``/app/`` answers a page saying how to make it; the API and ``/health`` do not depend on it.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

DIST = Path(os.environ.get("HANDOVER_WEB_DIST", Path(__file__).resolve().parents[2] / "web" / "dist"))

MISSING = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Handover 界面尚未构建</title></head>
<body style="font: 18px/1.6 sans-serif; max-width: 40em; margin: 3em auto">
<h1>界面尚未构建 · The screens are not built</h1>
<p>请在项目目录运行 <code>make web</code>（或 <code>make demo</code>），然后刷新本页。</p>
<p>Run <code>make web</code> (or <code>make demo</code>) in the project directory, then reload this page.</p>
<p>API 仍可使用 · The API still works: <a href="/docs">/docs</a>, <a href="/health">/health</a>.</p>
</body></html>
"""

router = APIRouter(include_in_schema=False)


def _a_screen(path: str) -> bool:
    """A path of the app's own (a screen), not a file: no extension, not under assets/."""
    return not path.startswith("assets/") and "." not in path.rsplit("/", 1)[-1]


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=307)


@router.get("/favicon.ico")
def favicon() -> RedirectResponse:
    """A browser that asks the site root for its icon is sent to the app's."""
    return RedirectResponse("/app/favicon.svg", status_code=308)


DOCS_ASSETS = "/app/api-docs"  # Swagger UI from the npm registry, copied into the build


@router.get("/docs")
def docs() -> HTMLResponse:
    """The API documentation, browsable with no network but this service's."""
    if not (DIST / "api-docs" / "swagger-ui-bundle.js").is_file():
        return HTMLResponse(MISSING, status_code=503, headers={"Cache-Control": "no-store"})
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="Handover 课后服务安全交接 · API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        oauth2_redirect_url=f"{DOCS_ASSETS}/oauth2-redirect.html")


class AppFiles(StaticFiles):
    """The build's files; any other path under /app/ is a screen of the app: its index page.
    The service worker and the index page are never cached by the browser, so an update is
    picked up on the next visit; the hashed assets are cached for good."""

    def __init__(self, dist: Path) -> None:
        super().__init__(directory=dist, html=True, check_dir=False)
        self.dist = dist

    async def check_config(self) -> None:
        if self.dist.is_dir():  # a missing build is answered per request (see get_response)
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not (self.dist / "index.html").is_file():  # not built (yet): say how to build it
            return HTMLResponse(MISSING, status_code=503, headers={"Cache-Control": "no-store"})
        try:
            response = await super().get_response(path, scope)
        except StarletteHTTPException as e:
            if e.status_code != 404 or not _a_screen(path):
                raise  # a missing asset is a 404, never the index page cached as that asset
            response = await super().get_response("index.html", scope)
        if path.startswith("assets/"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response


def mount(api: FastAPI, dist: Path | None = None) -> None:
    """Serve the built app at /app/ (or the page saying to build it) and send / there."""
    api.include_router(router)
    api.mount("/app", AppFiles(dist or DIST), name="app")
