from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


@dataclass
class Receiver:
    """A webhook receiver process on 127.0.0.1 (tests/alerts/receiver.py)."""

    url: str
    record: Path
    process: subprocess.Popen[bytes]

    def requests(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Callable[..., Receiver]]:
    """Start receivers that answer with the given sequence (``"500", "200"``, ``"slow:2"``)."""
    started: list[Receiver] = []

    def start(*answers: str) -> Receiver:
        n = len(started)
        port_file, record = tmp_path / f"port-{n}", tmp_path / f"requests-{n}.jsonl"
        process = subprocess.Popen([sys.executable, str(HERE / "receiver.py"), str(port_file),
                                    str(record), *answers])
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert process.poll() is None, "the receiver exited"
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.02)
        made = Receiver(url=f"http://127.0.0.1:{port_file.read_text()}/hook", record=record,
                        process=process)
        started.append(made)
        return made

    yield start
    for made in started:
        made.process.terminate()
        made.process.wait(timeout=10)


@pytest.fixture
def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
