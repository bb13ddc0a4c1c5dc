"""Who is acting, in local mode: ``ASSAY_USER``, else git's user.email, else the OS user."""

from __future__ import annotations

import functools
import getpass
import os
import subprocess


@functools.lru_cache(maxsize=1)
def _git_email() -> str | None:
    try:
        out = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    email = out.stdout.strip()
    return email or None


def current_user() -> str:
    """Return the acting identity (never empty)."""
    env = os.environ.get("ASSAY_USER", "").strip()
    if env:
        return env
    email = _git_email()
    if email:
        return email
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
