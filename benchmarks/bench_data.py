"""Data versioning benchmarks: ``assay data add/status`` side by side with ``dvc add``.

Workloads (issue 2): a 2 GiB file (copy mode vs ``cp`` + ``sync``; hardlink mode vs raw BLAKE3),
10,000 files of 10 KB, re-runs on unchanged data, and ``assay --help`` start-up time. DVC is
installed only in ``.venv-bench`` (created here on first use), never in assay's own venv.
Work files live in ``benchmarks/.work/data`` and are deleted at the end.

Copy mode is compared with ``cp`` + ``sync`` in pairs that start from the same disk state (a
fresh copy of the file, then a settle) and alternate which goes first: on this VM a 2 GiB write
costs 1.7 to 7 s depending on what the previous writes and deletions left behind. Hardlink mode
is compared with raw BLAKE3 of the very file being added (a freshly copied file hashes ~10%
slower than the generated one, whose page cache is laid out differently).

Run: .venv/bin/python benchmarks/bench_data.py  [--small]  (``--small``: 256 MiB / 2,000 files)
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work" / "data"
BENCH_VENV = ROOT / ".venv-bench"
ASSAY = [str(ROOT / ".venv" / "bin" / "python"), "-m", "assay"]
SMALL = "--small" in sys.argv
BIG_BYTES = (256 if SMALL else 2048) * 1024 * 1024
NFILES = 2000 if SMALL else 10_000
ENV = {**os.environ, "ASSAY_USER": "bench@example.com", "DVC_NO_ANALYTICS": "1",
       "CI": "1"}
SETTLE_S = 5
PAIRS = 3
ENV.pop("ASSAY_STORE_URL", None)


DVC_SPEC = "dvc==3.67.*"  # the version the DVC figures were measured with


def dvc_version(exe: Path) -> str | None:
    """What ``dvc --version`` prints (None if it does not run)."""
    try:
        out = subprocess.run([str(exe), "--version"], env=ENV, capture_output=True, text=True,
                             timeout=120, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def dvc_bin() -> Path | None:
    """``.venv-bench/bin/dvc`` at 3.67.*, installing it there when missing or another version.

    Returns None (DVC columns skipped) if it cannot be installed.
    """
    exe = BENCH_VENV / "bin" / "dvc"
    if exe.exists() and (dvc_version(exe) or "").startswith("3.67."):
        return exe
    try:
        if not (BENCH_VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", DVC_SPEC], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"  (dvc unavailable: {exc}; DVC columns skipped)")
        return None
    return exe if exe.exists() else None


def timed(cmd: list[str], cwd: Path, *, check: bool = True) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def sync() -> None:
    os.sync()


def settle() -> None:
    """Sync, then give the disk a few seconds: on a VM disk mounted with ``discard``, the
    deletions of the previous workload keep the filesystem slow for a while, and whichever tool
    ran next would pay for them."""
    os.sync()
    time.sleep(SETTLE_S)


def make_big(path: Path) -> None:
    chunk = os.urandom(64 * 1024 * 1024)
    with open(path, "wb") as handle:
        written = 0
        while written < BIG_BYTES:
            handle.write(chunk[: BIG_BYTES - written])
            # vary the content so no two 64 MiB blocks are equal
            chunk = chunk[1:] + chunk[:1]
            written += len(chunk)
    sync()


def make_small_files(folder: Path) -> None:
    folder.mkdir(parents=True)
    for i in range(NFILES):
        (folder / f"part-{i:05}.bin").write_bytes(os.urandom(10 * 1024))
    sync()


def assay_project(folder: Path, cache_type: list[str]) -> Path:
    folder.mkdir(parents=True)
    types = ", ".join(cache_type)
    (folder / "assay.yaml").write_text(f"project: bench\ncache:\n  type: [{types}]\n")
    (folder / "warmup.txt").write_text("warm up the store (migrations) before timing\n")
    timed([*ASSAY, "data", "add", "warmup.txt"], folder)
    return folder


def dvc_project(folder: Path, dvc: Path) -> Path:
    folder.mkdir(parents=True)
    timed([str(dvc), "init", "--no-scm", "-q"], folder)
    return folder


def copy_in(src: Path, dest: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        shutil.copyfile(src, dest)
    settle()


def in_process_noop(project: Path, target: str) -> tuple[float, float]:
    """Library calls (no interpreter start-up): re-add and status on unchanged data."""
    from assay.config import Project
    from assay.data import Workspace

    with Workspace(Project.load(project)) as ws:
        started = time.perf_counter()
        result = ws.add(project / target)
        add_s = time.perf_counter() - started
        assert not result.changed
        started = time.perf_counter()
        ws.status([target])
        status_s = time.perf_counter() - started
    return add_s, status_s


def raw_blake3(path: Path) -> float:
    import blake3

    started = time.perf_counter()
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(os.fspath(path))
    hasher.hexdigest()
    return time.perf_counter() - started


def row(label: str, value: float | None, note: str = "") -> None:
    shown = f"{value:8.2f} s" if value is not None else "       n/a"
    print(f"  {label:<52}{shown}  {note}")


def main() -> None:
    # assay runs with its bytecode compiled, as an installed package has it (this sandbox sets
    # PYTHONDONTWRITEBYTECODE: stale bytecode would be recompiled by every process).
    subprocess.run([ASSAY[0], "-m", "compileall", "-q", str(ROOT / "src" / "assay")], check=True)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    dvc = dvc_bin()
    try:
        run(dvc)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


def run(dvc: Path | None) -> None:
    gib = BIG_BYTES / 1024**3
    print(f"assay data benchmarks ({os.cpu_count()} cores; big file {gib:.2f} GiB, "
          f"{NFILES:,} x 10 KB files)")
    print(f"DVC: {dvc_version(dvc) if dvc else 'not available'} ({DVC_SPEC}, in {BENCH_VENV})")
    source = WORK / "source"
    source.mkdir()
    big = source / "big.bin"
    make_big(big)
    make_small_files(source / "many")

    print(f"\n[{gib:.2f} GiB file]")
    b3_source = min(raw_blake3(big) for _ in range(3))
    row("raw BLAKE3 of the generated file (best of 3, warm)", b3_source)

    # Copy mode against cp + sync. On this VM disk a 2 GiB write costs what the previous
    # write and deletion left behind, so each pair starts from the same state (a fresh
    # copy of the file, then settle) and the pairs alternate which goes first.
    ratios = []
    for pair in range(PAIRS):
        order = ["assay", "cp"] if pair % 2 else ["cp", "assay"]
        took = {}
        for who in order:
            proj = assay_project(WORK / f"assay-copy-{who}", ["copy"])
            copy_in(big, proj / "big.bin")
            if who == "cp":
                started = time.perf_counter()
                subprocess.run(["cp", "big.bin", "cp-copy.bin"], cwd=proj, check=True)
                sync()
                took[who] = time.perf_counter() - started
                shutil.rmtree(proj)
            else:
                took[who] = timed([*ASSAY, "data", "add", "big.bin"], proj)
                copy_proj = proj
            sync()
        ratios.append(took["assay"] / took["cp"])
        print(f"  pair {pair + 1} ({' then '.join(order)}): cp + sync {took['cp']:.2f} s, "
              f"assay data add (copy mode, durable) {took['assay']:.2f} s "
              f"= {ratios[-1]:.2f}x")
        if pair < PAIRS - 1:
            shutil.rmtree(copy_proj)
    t_copy = took["assay"]
    print(f"  {'assay data add, copy mode / cp + sync, median of pairs':<52}"
          f"{statistics.median(ratios):8.2f} x  (target <= 1.3x)")

    link_proj = assay_project(WORK / "assay-link", ["hardlink", "copy"])
    copy_in(big, link_proj / "big.bin")
    link_times = [raw_blake3(link_proj / "big.bin") for _ in range(3)]
    b3 = statistics.median(link_times)
    row("raw BLAKE3 of the file being added (median of 3)", b3,
        f"(best {min(link_times):.2f} s)")
    t_link = timed([*ASSAY, "data", "add", "big.bin"], link_proj)
    row("assay data add, hardlink mode (cold cache)", t_link, f"= {t_link / b3:.2f}x BLAKE3 "
        f"(target <= 1.5x; {t_link / b3_source:.2f}x the generated file's best)")
    t_readd = timed([*ASSAY, "data", "add", "big.bin"], copy_proj)
    t_status = timed([*ASSAY, "data", "status"], copy_proj)
    lib_add, lib_status = in_process_noop(copy_proj, "big.bin")
    row("assay data add again, unchanged (CLI process)", t_readd)
    row("assay data status, unchanged (CLI process)", t_status)
    row("  same, in-process: add / status", lib_add, f"/ {lib_status:.3f} s")
    shutil.rmtree(copy_proj)
    shutil.rmtree(link_proj, ignore_errors=True)
    sync()
    if dvc:
        dvc_proj = dvc_project(WORK / "dvc-big", dvc)
        copy_in(big, dvc_proj / "big.bin")
        t_dvc = timed([str(dvc), "add", "-q", "big.bin"], dvc_proj)
        t_dvc_again = timed([str(dvc), "add", "-q", "big.bin"], dvc_proj)
        t_dvc_status = timed([str(dvc), "status", "-q"], dvc_proj, check=False)
        row("dvc add (cold cache)", t_dvc, f"assay copy mode is {t_dvc / t_copy:.1f}x faster")
        row("dvc add again, unchanged", t_dvc_again)
        row("dvc status, unchanged", t_dvc_status)
        shutil.rmtree(dvc_proj)
    big.unlink()
    sync()

    print(f"\n[{NFILES:,} files of 10 KB]")
    settle()
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(source / "many"), str(WORK / "cp-many")], check=True)
    sync()
    row("cp -r + sync (for scale)", time.perf_counter() - started)
    shutil.rmtree(WORK / "cp-many")
    many_proj = assay_project(WORK / "assay-many", ["copy"])
    copy_in(source / "many", many_proj / "many")
    t_many = timed([*ASSAY, "data", "add", "many"], many_proj)
    row("assay data add (copy mode, one sync, cold cache)", t_many)
    t_many_again = timed([*ASSAY, "data", "add", "many"], many_proj)
    t_many_status = timed([*ASSAY, "data", "status"], many_proj)
    lib_add, lib_status = in_process_noop(many_proj, "many")
    row("assay data add again, unchanged (CLI process)", t_many_again)
    row("assay data status, unchanged (CLI process)", t_many_status)
    row("  same, in-process: add / status", lib_add, f"/ {lib_status:.3f} s")
    shutil.rmtree(many_proj)
    if dvc:
        dvc_proj = dvc_project(WORK / "dvc-many", dvc)
        copy_in(source / "many", dvc_proj / "many")
        t_dvc = timed([str(dvc), "add", "-q", "many"], dvc_proj)
        t_dvc_again = timed([str(dvc), "add", "-q", "many"], dvc_proj)
        t_dvc_status = timed([str(dvc), "status", "-q"], dvc_proj, check=False)
        row("dvc add (cold cache)", t_dvc, f"assay is {t_dvc / t_many:.1f}x faster")
        row("dvc add again, unchanged", t_dvc_again)
        row("dvc status, unchanged", t_dvc_status)
        shutil.rmtree(dvc_proj)

    # `assay --help` start-up: benchmarks/bench_cli.py

if __name__ == "__main__":
    main()
