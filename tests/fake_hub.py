"""A recording stand-in for the Hugging Face Hub API on 127.0.0.1, for the few endpoints imax calls.

It speaks the Hub's wire format as huggingface_hub 1.x sends it (repo create/info/settings/tree,
validate-yaml, preupload, NDJSON commit with inline base64 files), keeps repos in memory and records
every request, so tests assert the exact files, paths, repo types and PR flags that would be sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml


@dataclass
class Repo:
    repo_type: str
    private: bool
    gated: object = False
    files: dict[str, bytes] = field(default_factory=dict)
    prs: list[dict] = field(default_factory=list)  # {"num", "files", "message"}
    commits: list[dict] = field(default_factory=list)


@dataclass
class Request:
    method: str
    path: str
    query: dict
    authorization: str | None
    body: bytes


class FakeHub:
    def __init__(self):
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Request(self.command, parts.path, parse_qs(parts.query), self.headers.get("Authorization"), body)
                with hub.lock:
                    hub.requests.append(req)
                    status, payload, headers = hub.route(req)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what the tests look at

    def uploads(self) -> list[Request]:
        return [r for r in self.requests if r.method in ("POST", "PUT", "DELETE")]

    def sent_bytes(self) -> bytes:
        """Every byte sent to the server (bodies, decoded inline files included)."""
        out = []
        for r in self.requests:
            out.append(r.body)
            if "/commit/" in r.path:
                for op in _ndjson(r.body):
                    if op["key"] == "file":
                        out.append(base64.b64decode(op["value"]["content"]))
        return b"\n".join(out)

    # --- the API

    def route(self, req: Request):
        not_found = (404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        if req.method == "POST" and req.path == "/api/repos/create":
            body = json.loads(req.body)
            repo_id = f"{body['organization']}/{body['name']}" if body.get("organization") else body["name"]
            key = (body.get("type") or "model", repo_id)
            if key in self.repos:
                return 409, {"error": "You already created this repo", "url": self._url(*key)}, {}
            self.repos[key] = Repo(key[0], private=body.get("visibility") == "private" or bool(body.get("private")))
            return 200, {"url": self._url(*key), "name": repo_id}, {}
        if req.method == "POST" and req.path == "/api/validate-yaml":
            content = json.loads(req.body)["content"]
            match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
            try:
                meta = yaml.safe_load(match.group(1)) if match else {}
            except yaml.YAMLError as exc:
                return 400, {"errors": [{"message": str(exc)}]}, {}
            return (200, {"errors": [], "warnings": []}, {}) if isinstance(meta, dict) else \
                (400, {"errors": [{"message": "metadata is not a mapping"}]}, {})
        m = re.fullmatch(r"/api/(model|dataset)s/([^/]+/[^/]+)(/.*)?", req.path)
        if not m:
            return 404, {"error": f"no route {req.method} {req.path}"}, {}
        repo_type, repo_id, rest = m.group(1), m.group(2), m.group(3) or ""
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            return not_found
        if req.method == "GET" and (rest == "" or rest.startswith("/revision/")):
            return 200, {"id": repo_id, "private": repo.private, "gated": repo.gated, "sha": "0" * 40,
                         "siblings": [{"rfilename": p} for p in repo.files]}, {}
        if req.method == "PUT" and rest == "/settings":
            body = json.loads(req.body)
            if "gated" in body:
                repo.gated = body["gated"]
            if "visibility" in body:
                repo.private = body["visibility"] == "private"
            return 200, {}, {}
        if req.method == "GET" and rest.startswith("/tree/"):
            return 200, [{"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                         for p, b in sorted(repo.files.items())], {}
        if req.method == "POST" and rest.startswith("/preupload/"):
            files = json.loads(req.body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}, {}
        if req.method == "POST" and rest.startswith("/commit/"):
            ops = _ndjson(req.body)
            header = next(o["value"] for o in ops if o["key"] == "header")
            added = {o["value"]["path"]: base64.b64decode(o["value"]["content"]) for o in ops if o["key"] == "file"}
            deleted = [o["value"]["path"] for o in ops if o["key"] == "deletedFile"]
            oid = hashlib.sha1(req.body).hexdigest()
            url = self._url(repo_type, repo_id)
            if req.query.get("create_pr") == ["1"]:
                num = len(repo.prs) + 1
                repo.prs.append({"num": num, "files": added, "deleted": deleted, "message": header["summary"],
                                 "description": header.get("description", "")})
                return 200, {"commitUrl": f"{url}/commit/{oid}", "commitOid": oid,
                             "pullRequestUrl": f"{url}/discussions/{num}"}, {}
            for p in deleted:
                repo.files.pop(p, None)
            repo.files.update(added)
            repo.commits.append({"files": added, "deleted": deleted, "message": header["summary"]})
            return 200, {"commitUrl": f"{url}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}, {}
        return 404, {"error": f"no route {req.method} {req.path}"}, {}

    def _url(self, repo_type: str, repo_id: str) -> str:
        return f"{self.endpoint}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"


def _ndjson(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]
