"""A small real HTTP server for the comment tests: the GitHub and GitLab endpoints that
``assay ci comment`` uses, and nothing else.

    python api_server.py --token T [--fail STATUS] [--seed N]

prints its port on stdout, then serves on 127.0.0.1 until killed:

- GitHub: ``GET|POST /repos/{owner}/{repo}/issues/{n}/comments`` (paged by ``per_page`` and
  ``page``), ``PATCH /repos/{owner}/{repo}/issues/comments/{id}``; the token comes as
  ``Authorization: Bearer``.
- GitLab: ``GET|POST /api/v4/projects/{id}/merge_requests/{iid}/notes`` (paged),
  ``PUT /api/v4/projects/{id}/merge_requests/{iid}/notes/{note}``; the token comes as
  ``PRIVATE-TOKEN`` or ``JOB-TOKEN``.
- ``GET /_state``: the comments per thread and the requests seen, as JSON.

A wrong or missing token answers 401; ``--fail STATUS`` answers every API request with STATUS;
``--seed N`` starts every thread with N comments by people (no marker).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

GITHUB_LIST = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$")
GITHUB_ITEM = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/comments/(\d+)$")
GITLAB_LIST = re.compile(r"^/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes$")
GITLAB_ITEM = re.compile(r"^/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)$")


class State:
    def __init__(self, token: str, fail: int | None, seed: int) -> None:
        self.token = token
        self.fail = fail
        self.seed = seed
        self.threads: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[dict[str, Any]] = []
        self.next_id = 1000

    def thread(self, key: str) -> list[dict[str, Any]]:
        if key not in self.threads:
            self.threads[key] = []
            for _ in range(self.seed):
                self.add(key, "a person's comment")
        return self.threads[key]

    def add(self, key: str, body: str) -> dict[str, Any]:
        self.next_id += 1
        item = {"id": self.next_id, "body": body,
                "html_url": f"http://example.invalid/{key}#comment-{self.next_id}"}
        self.threads.setdefault(key, []).append(item)
        return item


class Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, data: Any) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(length) or b"{}")
        return data if isinstance(data, dict) else {}

    def _authorized(self, gitlab: bool) -> bool:
        if gitlab:
            given = self.headers.get("PRIVATE-TOKEN") or self.headers.get("JOB-TOKEN")
        else:
            given = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        return given == self.state.token

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        if url.path == "/_state" and method == "GET":
            self._send(200, {"threads": self.state.threads, "requests": self.state.requests})
            return
        query = parse_qs(url.query)
        self.state.requests.append({"method": method, "path": url.path})
        matched = None
        for pattern, gitlab, kind in ((GITHUB_LIST, False, "list"), (GITHUB_ITEM, False, "item"),
                                      (GITLAB_LIST, True, "list"), (GITLAB_ITEM, True, "item")):
            found = pattern.match(url.path)
            if found:
                matched = (found.groups(), gitlab, kind)
                break
        if matched is None:
            self._send(404, {"message": "Not Found"})
            return
        groups, gitlab, kind = matched
        if not self._authorized(gitlab):
            self._send(401, {"message": "Bad credentials"})
            return
        if self.state.fail is not None:
            self._send(self.state.fail, {"message": f"forced {self.state.fail}"})
            return
        allowed = {"list": ("GET", "POST"), "item": ("PATCH",) if not gitlab else ("PUT",)}
        if method not in allowed[kind]:
            self._send(405, {"message": "Method Not Allowed"})
            return
        if kind == "list":
            key = "/".join(groups)
            thread = self.state.thread(key)
            if method == "GET":
                per_page = int(query.get("per_page", ["30"])[0])
                page = int(query.get("page", ["1"])[0])
                self._send(200, thread[(page - 1) * per_page: page * per_page])
            else:
                self._send(201, self.state.add(key, str(self._body().get("body", ""))))
            return
        comment_id = int(groups[-1])
        for thread in self.state.threads.values():
            for item in thread:
                if item["id"] == comment_id:
                    item["body"] = str(self._body().get("body", ""))
                    self._send(200, item)
                    return
        self._send(404, {"message": "Not Found"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", required=True)
    parser.add_argument("--fail", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    Handler.state = State(args.token, args.fail, args.seed)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
