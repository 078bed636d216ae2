"""GraphiQL, served entirely from the package: the page, its script and the pinned npm builds of
GraphiQL and React under static/graphiql/ (see tools/graphiql/vendor.py and the licences in
static/graphiql/vendor/THIRD-PARTY-LICENSES.txt). Nothing is loaded from a CDN; the page's
Content-Security-Policy allows this origin only.
"""

from __future__ import annotations

import functools
import hashlib
import json
from html import escape
from pathlib import Path
from string import Template
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from portal.web.csrf import CSRF_TOKEN_PATH
from portal.web.error_bodies import error_body, json_response

STATIC = Path(__file__).parent / "static" / "graphiql"
ASSETS_PATH = "/graphiql/"
GRAPHQL_PATH = "/graphql"
OWN_FILES = ("portal-graphiql.js", "portal-graphiql.css", "vendor/THIRD-PARTY-LICENSES.txt")
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        # Strict: GraphiQL's dialogs (settings, short keys) inject one <style> element to lock
        # the page's scrolling; the browser refuses it (logged once), which changes nothing here
        # because the page never scrolls. Everything else works without inline styles.
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",  # GraphiQL's CSS embeds its fonts as data: URLs
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@functools.cache
def vendor_files() -> dict[str, dict[str, Any]]:
    """The vendored files by path (`vendor/graphiql-3.8.3/graphiql.min.js`), from the manifest."""
    manifest = json.loads((STATIC / "vendor" / "manifest.json").read_text())
    return {entry["path"]: entry for entry in manifest["files"]}


def _vendor(package: str, suffix: str) -> dict[str, Any]:
    return next(
        e for e in vendor_files().values() if e["package"] == package and e["path"].endswith(suffix)
    )


@functools.cache
def _asset(path: str) -> tuple[bytes, str]:
    """The bytes and digest of a servable file; KeyError for anything else."""
    if path not in vendor_files() and path not in OWN_FILES:
        raise KeyError(path)
    body = (STATIC / path).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:32]


def _url(path: str) -> str:
    if path in OWN_FILES:  # changes with the package: the URL names its version
        return f"{ASSETS_PATH}{path}?v={_asset(path)[1][:12]}"
    return ASSETS_PATH + path


class GraphiQLPage:
    def __init__(
        self, login_document_id: str | None = None, logout_document_id: str | None = None
    ) -> None:
        fields = {
            "endpoint": GRAPHQL_PATH,
            "csrf_endpoint": CSRF_TOKEN_PATH,
            "login_document_id": login_document_id or "",
            "logout_document_id": logout_document_id or "",
            "page_css": _url("portal-graphiql.css"),
            "page_js": _url("portal-graphiql.js"),
            "licences_url": _url("vendor/THIRD-PARTY-LICENSES.txt"),
        }
        for name, package, suffix in (
            ("react_js", "react", ".js"),
            ("react_dom_js", "react-dom", ".js"),
            ("graphiql_js", "graphiql", ".js"),
            ("graphiql_css", "graphiql", ".css"),
        ):
            entry = _vendor(package, suffix)
            fields[name] = _url(entry["path"])
            fields[f"{name}_integrity"] = entry["integrity"]
        template = Template((STATIC / "index.html").read_text(encoding="utf-8"))
        self.html = template.substitute({k: escape(v, quote=True) for k, v in fields.items()})

    def response(self) -> Response:
        return HTMLResponse(
            self.html,
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-store",
            },
        )


async def graphiql_asset(request: Request) -> Response:
    """GET /graphiql/<file>: only the files of the manifest and the page's own files."""
    path = request.path_params["path"]
    try:
        body, digest = _asset(path)
    except KeyError:
        return json_response(error_body("no such file", "NOT_FOUND"), 404)
    cache = (
        "public, max-age=31536000, immutable"  # versioned paths (vendor/graphiql-3.8.3/…, ?v=)
        if path in vendor_files() or request.query_params.get("v")
        else "no-cache"
    )
    etag = f'"{digest}"'
    headers = {"ETag": etag, "Cache-Control": cache}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPES[Path(path).suffix], headers=headers)
