"""A real HTTP server on 127.0.0.1 that serves files like the Quick Draw bucket, for download tests.

`QuickDrawServer(root)` serves `root/<path>` (URL-unquoted) in a background thread:
- mode "range" (default): honours `Range: bytes=a-b` / `bytes=a-` with 206 + Content-Range,
  416 past the end, like Google Cloud Storage;
- mode "ignore_range": always 200 with the whole file;
- `drop_after = k`: the next response announces the full length, sends k body bytes and
  closes the connection (a transfer cut mid-body); later responses are whole again.
Every request's path and Range header are recorded in `.requests`. Use it as a context
manager so the server always shuts down.
"""

from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format, *args):  # keep test output clean
        pass

    def do_GET(self):
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append((self.path, rng))
        path = srv.root / unquote(urlsplit(self.path).path).lstrip("/")
        if not path.is_file() or srv.root not in path.resolve().parents:
            self._send(404, b"not found", {})
            return
        data = path.read_bytes()
        size = len(data)
        status, body, headers = 200, data, {}
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if srv.mode == "range" and m:
            first = int(m.group(1))
            last = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            if first >= size:
                self._send(416, b"", {"Content-Range": f"bytes */{size}"})
                return
            status, body = 206, data[first : last + 1]
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        if srv.drop_after is not None:
            cut, srv.drop_after = srv.drop_after, None
            self._send(status, body[:cut], headers, length=len(body))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(status, body, headers)

    def _send(self, status, body, headers, length=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Accept-Ranges", "bytes")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up early (a cut download) is expected here, not an error


class QuickDrawServer:
    """Serve `root` on a free port of 127.0.0.1; `.base_url` points at it."""

    def __init__(self, root: Path, mode: str = "range"):
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.root = Path(root).resolve()
        self.httpd.mode = mode
        self.httpd.drop_after = None
        self.httpd.requests = []
        serve = lambda: self.httpd.serve_forever(poll_interval=0.05)  # noqa: E731
        self.thread = threading.Thread(target=serve, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list:
        return self.httpd.requests

    def set_mode(self, mode: str) -> None:
        self.httpd.mode = mode

    def drop_next_after(self, n_bytes: int) -> None:
        self.httpd.drop_after = n_bytes

    def __enter__(self) -> "QuickDrawServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
