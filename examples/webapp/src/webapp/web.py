"""The HTTP side: routes for /health, /, /version, /notes and /metrics on a ThreadingHTTPServer."""

from __future__ import annotations

import html
import json
import sqlite3
import threading
from collections import Counter
from contextlib import AbstractContextManager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from webapp import store
from webapp.release import Release

MAX_BODY = 64 * 1024
GET_ROUTES = {
    "/health": "health",
    "/": "index",
    "/version": "version",
    "/notes": "list_notes",
    "/metrics": "metrics",
}
POST_ROUTES = {"/notes": "add_note"}


class HttpError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its release and database."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], release: Release, db: Path) -> None:
        self.release = release
        self.db = db
        self.answered: Counter[int] = Counter()
        """Responses sent since the server started, by status code (/metrics)."""
        self.counting = threading.Lock()
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    """Routes requests; every request is logged to stderr by BaseHTTPRequestHandler."""

    server: Server
    sys_version = ""

    @property
    def release(self) -> Release:
        return self.server.release

    def version_string(self) -> str:
        return f"webapp/{self.release.version}"

    def do_GET(self) -> None:
        self._dispatch(GET_ROUTES, POST_ROUTES)

    def do_POST(self) -> None:
        self._dispatch(POST_ROUTES, GET_ROUTES)

    def _dispatch(self, routes: dict[str, str], others: dict[str, str]) -> None:
        path = urlsplit(self.path).path
        try:
            if path in routes:
                getattr(self, "route_" + routes[path])()
            elif path in others:
                raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} not allowed")
            else:
                raise HttpError(HTTPStatus.NOT_FOUND, f"no route {path}")
        except HttpError as exc:
            self._json(exc.status, {"error": str(exc)})
        except sqlite3.Error as exc:
            self.log_error("database error: %s", exc)
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"database error: {exc}"})

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        with self.server.counting:
            self.server.answered[int(status)] += 1
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        body = json.dumps(data, indent=1).encode() + b"\n"
        self._send(status, body, "application/json")

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return store.connect(self.server.db)

    def _read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY} bytes")
        try:
            data = json.loads(self.rfile.read(length) or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "expected a JSON object")
        return data

    def route_health(self) -> None:
        info: dict[str, Any] = {"status": "ok", "version": self.release.version}
        status = HTTPStatus.OK
        try:
            with self._db() as con:
                info["schema"] = store.schema_version(con)
        except sqlite3.Error as exc:
            info.update(status="db-error", schema=None, error=str(exc))
            status = HTTPStatus.SERVICE_UNAVAILABLE
        if status is HTTPStatus.OK and info["schema"] < self.release.schema:
            info.update(status="needs-migration", required_schema=self.release.schema)
            status = HTTPStatus.SERVICE_UNAVAILABLE
        if not self.release.healthy:
            info["status"] = "broken"
            status = HTTPStatus.INTERNAL_SERVER_ERROR
        self._json(status, info)

    def route_version(self) -> None:
        self._send(HTTPStatus.OK, f"{self.release.version}\n".encode(), "text/plain; charset=utf-8")

    def route_index(self) -> None:
        with self._db() as con:
            notes = store.list_notes(con, with_author=self.release.has("authors"))
        items = "".join(
            f"<li>{html.escape(n['body'])}"
            + (f" <em>({html.escape(n['author'] or 'unknown')})</em>" if "author" in n else "")
            + "</li>"
            for n in notes
        )
        version = html.escape(self.release.version)
        page = (
            f"<!doctype html>\n<html><head><meta charset='utf-8'><title>webapp {version}</title>"
            f"</head>\n<body><h1>webapp <span id='version'>{version}</span></h1>\n"
            f"<p>{len(notes)} note(s)</p><ul>{items}</ul></body></html>\n"
        )
        self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")

    def route_metrics(self) -> None:
        """Prometheus text format: responses by status code, server errors, the release."""
        with self.server.counting:
            answered = dict(self.server.answered)
        version = self.release.version
        lines = [
            "# HELP webapp_http_responses_total HTTP responses sent, by status code.",
            "# TYPE webapp_http_responses_total counter",
            *(f'webapp_http_responses_total{{code="{code}"}} {n}' for code, n in sorted(answered.items())),
            "# HELP webapp_http_errors_total HTTP responses with a 5xx status.",
            "# TYPE webapp_http_errors_total counter",
            f"webapp_http_errors_total {sum(n for code, n in answered.items() if code >= 500)}",
            "# HELP webapp_release_info The release serving.",
            "# TYPE webapp_release_info gauge",
            f'webapp_release_info{{version="{version}"}} 1',
        ]
        self._send(HTTPStatus.OK, ("\n".join(lines) + "\n").encode(), "text/plain; version=0.0.4")

    def route_list_notes(self) -> None:
        if self.release.has("notes-bug"):  # a release whose /notes fails while /health stays fine
            raise HttpError(HTTPStatus.INTERNAL_SERVER_ERROR, "notes are broken in this release")
        with_author = self.release.has("authors")
        author = parse_qs(urlsplit(self.path).query).get("author", [None])[0]
        with self._db() as con:
            notes = store.list_notes(con, with_author=with_author, author=author)
        self._json(HTTPStatus.OK, notes)

    def route_add_note(self) -> None:
        data = self._read_json()
        body = data.get("body")
        if not isinstance(body, str) or not body.strip() or len(body) > 10_000:
            raise HttpError(HTTPStatus.BAD_REQUEST, "'body' must be a non-empty string")
        author = None
        if self.release.has("authors"):
            author = data.get("author", "unknown")
            if not isinstance(author, str) or not author.strip() or len(author) > 200:
                raise HttpError(HTTPStatus.BAD_REQUEST, "'author' must be a non-empty string")
        with self._db() as con:
            note = store.add_note(con, body, author)
        self._json(HTTPStatus.CREATED, note)
