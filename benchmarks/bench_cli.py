"""Command-line start-up (issue 13): ``assay --help`` side by side with ``dvc --help``.

Each command runs as a whole process, median of RUNS, in two settings:

1. into a pipe with no terminal anywhere (CI logs, ``| less``, scripts): the case the console
   script answers from the generated help text (target: <= 100 ms);
2. in a terminal (a pseudo-terminal on stdin, stdout and stderr, 80 columns): what Typer
   rendered the first time in such a terminal, remembered under ``$XDG_CACHE_HOME/assay/help``
   (target: <= 100 ms);
3. the same, the first time (nothing remembered: each call gets an empty cache folder), when
   Typer renders it.

Work files (the cache folders) go to ``benchmarks/.work/cli`` and are deleted at the end.

``python -c pass`` is shown for scale. DVC (``dvc==3.67.*``) lives only in ``.venv-bench``,
created and filled here on first use. Bytecode is compiled first, as an installed package has it.

Run: .venv/bin/python benchmarks/bench_cli.py
"""

from __future__ import annotations

import compileall
import os
import pty
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / ".venv-bench"
DVC_SPEC = "dvc==3.67.*"
RUNS = 15
_script = ROOT / ".venv" / "bin" / "assay"
ASSAY = [str(_script)] if _script.exists() else [sys.executable, "-m", "assay"]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if _script.exists() else sys.executable
ENV = {k: v for k, v in os.environ.items()
       if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "PYTHONDONTWRITEBYTECODE")}
WORK = ROOT / "benchmarks" / ".work" / "cli"
ENV.update({"DVC_NO_ANALYTICS": "1", "XDG_CACHE_HOME": str(WORK / "cache"),
            # the assay of this checkout, whichever environment runs the benchmark
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                        os.environ.get("PYTHONPATH")]))})


def dvc_bin() -> Path | None:
    """``.venv-bench/bin/dvc``, installed there on first use (None: DVC skipped)."""
    exe = BENCH_VENV / "bin" / "dvc"
    if exe.exists():
        return exe
    try:
        if not (BENCH_VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", DVC_SPEC], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"  (dvc unavailable: {exc}; DVC skipped)")
        return None
    return exe if exe.exists() else None


def piped(cmd: list[str]) -> float:
    """Seconds for ``cmd`` with stdin from /dev/null and its output into pipes."""
    started = time.perf_counter()
    subprocess.run(cmd, env=ENV, stdin=subprocess.DEVNULL, capture_output=True, check=True,
                   start_new_session=True)
    return time.perf_counter() - started


def in_terminal(cmd: list[str]) -> float:
    """Seconds for ``cmd`` on a pseudo-terminal (80 x 25), its output read to the end."""
    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 25, 80, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**ENV, "TERM": "xterm-256color"}, stdin=follower,
                            stdout=follower, stderr=follower, start_new_session=True)
    os.close(follower)
    while True:
        try:
            if not os.read(leader, 65536):
                break
        except OSError:  # EIO: the terminal's last writer is gone
            break
    proc.wait()
    elapsed = time.perf_counter() - started
    os.close(leader)
    return elapsed


def first_in_terminal(cmd: list[str]) -> float:
    """:func:`in_terminal` with nothing remembered from an earlier call."""
    shutil.rmtree(WORK / "cache", ignore_errors=True)
    return in_terminal(cmd)


def median_ms(measure: object, cmd: list[str]) -> float:
    assert callable(measure)
    measure(cmd)  # warm the page cache
    return statistics.median(measure(cmd) for _ in range(RUNS)) * 1000


def main() -> None:
    compileall.compile_dir(str(ROOT / "src" / "assay"), quiet=1)
    dvc = dvc_bin()
    print(f"start-up, whole process, median of {RUNS}:")
    shutil.rmtree(WORK, ignore_errors=True)
    for label, measure in (("into a pipe (no terminal)", piped),
                           ("in a terminal (pty, 80 columns)", in_terminal),
                           ("in a terminal, the first time", first_in_terminal)):
        assay_ms = median_ms(measure, [*ASSAY, "--help"])
        line = f"  {label:<32} assay --help {assay_ms:6.1f} ms"
        if dvc is not None:
            dvc_ms = median_ms(measure, [str(dvc), "--help"])
            line += f"   dvc --help {dvc_ms:6.1f} ms   assay/dvc {assay_ms / dvc_ms:.2f}x"
        if measure is not first_in_terminal:
            line += "   (target <= 100 ms)"
        print(line)
    print(f"  python -c pass                   {median_ms(piped, [PYTHON, '-c', 'pass']):6.1f} ms")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
