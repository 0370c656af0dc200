"""A stand-in for physionet.org/files/ on 127.0.0.1: a synthetic tree in PhysioNet's URL layout behind basic auth.

``/files/<project>/<version>/<path>`` serves ``<root>/<project>/<version>/<path>`` with Range support. Open-access
projects need no credentials; credentialed ones answer 401 to wrong or missing credentials and 403 to a user
without that project's agreement. ``faults`` injects what real transfers do: a connection cut after N bytes
(once), a 503 (once), wrong bytes (always). Every GET is recorded.
"""

from __future__ import annotations

import base64
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from imax_hub.sources import layout


class PhysioNetStandIn:
    def __init__(self, root: Path, users: dict[str, tuple[str, set[str] | None]], latency: float = 0.0):
        self.root, self.users = Path(root), users  # user -> (password, project slugs allowed; None = all)
        self.faults: dict[str, dict] = {}  # url path -> {"cut_after": n} | {"status": 503[, "times": k]} | {"corrupt": True}
        self.gets: list[tuple[str, str | None]] = []  # (path, Range header)
        self.latency = latency  # seconds before each answer: a wide-area round trip (benchmarks)
        self.open = {p.slug for p in layout.PROJECTS if p.access == "open"}
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    server_state: PhysioNetStandIn
    protocol_version = "HTTP/1.1"
    # headers and body leave in two writes: with Nagle's algorithm and the client's delayed ACK each keep-alive
    # response would stall 40 ms (measured: 44 ms per small file)
    disable_nagle_algorithm = True

    def log_message(self, *args):  # quiet
        pass

    def _auth(self, slug: str) -> int | None:
        state = self.server_state
        if slug in state.open:
            return None
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return 401
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        if user not in state.users or state.users[user][0] != password:
            return 401
        allowed = state.users[user][1]
        return None if allowed is None or slug in allowed else 403

    def _send_status(self, status: int) -> None:
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="PhysioNet"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _resolve(self):
        path = unquote(self.path.split("?")[0])
        if not path.startswith("/files/"):
            return path, None, 404
        rel = path[len("/files/"):]
        slug = rel.split("/", 1)[0]
        refused = self._auth(slug)
        if refused:
            return path, None, refused
        file = self.server_state.root / rel
        if ".." in Path(rel).parts or not file.is_file():
            return path, None, 404
        return path, file, None

    def do_HEAD(self):
        path, file, status = self._resolve()
        if status:
            return self._send_status(status)
        self.send_response(200)
        self.send_header("Content-Length", str(file.stat().st_size))
        self.end_headers()

    def do_GET(self):
        if self.server_state.latency:
            time.sleep(self.server_state.latency)
        path, file, status = self._resolve()
        rng = self.headers.get("Range")
        self.server_state.gets.append((path, rng))
        if status:
            return self._send_status(status)
        fault = self.server_state.faults.get(path, {})
        if fault.get("status"):
            fault["times"] = fault.get("times", 1) - 1  # answered this many times, then the file
            if fault["times"] <= 0:
                self.server_state.faults.pop(path)
            return self._send_status(fault["status"])
        data = file.read_bytes()
        if fault.get("corrupt"):
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if "cut_after" in fault:
            self.server_state.faults.pop(path)
            self.wfile.write(body[:fault["cut_after"]])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)
