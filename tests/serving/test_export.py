"""``assay serve REF --export DIR``: a Docker build context whose requirements install into a
fresh virtual environment and whose entrypoint command serves (no Docker daemon here)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.serving.worlds import World, env, free_port


def _export(world: World, target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assay", "serve", "toy@production",
                           "--export", str(target)], cwd=world.root, env=env(),
                          capture_output=True, text=True, timeout=120)


def test_export_writes_a_build_context(world: World, tmp_path: Path) -> None:
    target = tmp_path / "image"
    done = _export(world, target)
    assert done.returncode == 0, done.stderr
    context = json.loads((target / "context.json").read_text())
    assert context["name"] == "toy" and context["version"] == "1"
    dockerfile = (target / "Dockerfile").read_text()
    assert f"FROM python:{platform.python_version()}-slim" in dockerfile
    assert 'ENTRYPOINT ["python", "-m", "assay", "serve", "/app/model"' in dockerfile
    pins = (target / "requirements.txt").read_text().split()
    names = {p.split("==")[0] for p in pins}
    assert {"scikit-learn", "polars", "skops", "fastapi", "uvicorn"} <= names
    assert all("==" in p for p in pins)
    assert (target / "model" / "model.json").is_file()
    assert (target / "app" / "assay" / "serving" / "__init__.py").is_file()
    assert not list(target.rglob("__pycache__"))
    again = _export(world, target)
    assert again.returncode == 2 and "not empty" in again.stderr


@pytest.mark.slow
def test_the_exported_requirements_install_and_the_entrypoint_serves(
        world: World, tmp_path: Path) -> None:
    target = tmp_path / "image"
    assert _export(world, target).returncode == 0
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r",
                                str(target / "requirements.txt")], capture_output=True,
                               text=True, timeout=1200)
    assert installed.returncode == 0, installed.stderr[-3000:]
    context = json.loads((target / "context.json").read_text())
    port = free_port()
    command = [str(python) if part == "python" else part for part in context["entrypoint"]]
    command = [str(target / "model") if part == "/app/model" else part for part in command]
    command[command.index("--port") + 1] = str(port)
    clean = {k: v for k, v in env().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    clean["PYTHONPATH"] = str(target / "app")
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=clean, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        answer = httpx.post(f"http://127.0.0.1:{port}/predict",
                            json={"records": [{"a": 1.0, "b": 2, "c": 3.0}]})
    finally:
        process.terminate()
        process.wait(30)
    assert answer.status_code == 200, log.read_text()
    assert answer.json()["model"] == "toy"
