"""A command channel for the alert tests: writes its stdin to the file named by its first
argument, then exits with the code given as its second (default 0)."""

from __future__ import annotations

import sys
from pathlib import Path

Path(sys.argv[1]).write_bytes(sys.stdin.buffer.read())
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
