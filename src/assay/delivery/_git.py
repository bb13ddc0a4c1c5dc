"""When a git commit was made, asked of the project's own repository."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path

_COMMIT = re.compile(r"^[0-9a-fA-F]{4,64}$")


def commit_times(root: Path | None) -> Callable[[str], float | None]:
    """A function giving a commit's time (``git log -1 --format=%ct``) in the repository at
    ``root``, or None when there is no repository, no git, or no such commit; each commit is
    asked once."""

    @cache
    def commit_time(commit: str) -> float | None:
        if root is None or not _COMMIT.match(commit):
            return None
        try:
            done = subprocess.run(
                ["git", "log", "-1", "--format=%ct", commit, "--"], cwd=root,
                capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        text = done.stdout.strip()
        return float(text) if done.returncode == 0 and text.isdigit() else None

    return commit_time
