"""A webhook receiver for the alert tests, run as its own process: it listens on a free port of
127.0.0.1 (written to ``PORT_FILE``), appends every request (method, path, headers, body) as a
JSON line to ``RECORD_FILE``, and answers each request with the next of ``ANSWERS`` (the last
one repeats): a status code (``200``, ``500``, ``400``) or ``slow:SECONDS`` (wait, then 200).

    python receiver.py PORT_FILE RECORD_FILE 500 500 200
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PORT_FILE, RECORD_FILE, *ANSWERS = sys.argv[1:]
_LOCK = threading.Lock()
_SEEN = [0]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with _LOCK:
            answer = ANSWERS[min(_SEEN[0], len(ANSWERS) - 1)] if ANSWERS else "200"
            _SEEN[0] += 1
            with open(RECORD_FILE, "a", encoding="utf-8") as out:
                out.write(json.dumps({"method": "POST", "path": self.path, "t": time.time(),
                                      "headers": dict(self.headers.items()),
                                      "body": body.decode("utf-8"), "answer": answer}) + "\n")
        if answer.startswith("slow:"):
            time.sleep(float(answer.split(":", 1)[1]))
            answer = "200"
        payload = b'{"ok": true}' if answer == "200" else b'{"error": "refused"}'
        try:
            self.send_response(int(answer))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timed out) first

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = Path(PORT_FILE + ".tmp")
    tmp.write_text(str(server.server_address[1]))
    tmp.replace(PORT_FILE)
    server.serve_forever()


if __name__ == "__main__":
    main()
