"""``assay serve REF --export DIR``: a Docker build context that serves one model version.

The context holds the model package (checked out of the cache with every hash verified), the
assay package itself (``app/assay``), ``requirements.txt`` pinned to the versions the training
run recorded (this machine's versions where the run recorded none), a ``Dockerfile`` on the
Python version the run recorded, and ``context.json`` (what was exported, the entrypoint).
"""

from __future__ import annotations

import json
import platform
import re
import shutil
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path
from typing import Any

from assay.errors import ServingError
from assay.serving._model import find_project, resolve
from assay.serving._options import ServeOptions

#: Besides assay's own requirements: the serve extra, and what each flavor needs.
SERVE_PACKAGES = ("fastapi", "uvicorn", "uvloop", "httptools", "prometheus-client", "httpx",
                  "orjson")
FLAVOR_PACKAGES = {"xgboost": ("xgboost",), "lightgbm": ("lightgbm",),
                   "onnx": ("onnxruntime",)}


def _recorded_environment(target: Any, project: Any) -> dict[str, Any] | None:
    """The environment the version's training run recorded, if it can be found."""
    from assay.errors import AssayError

    if project is None or target.version == "unregistered":
        return None
    try:
        from assay.registry import get_version
        from assay.store import open_store
        from assay.tracking import get_runs, run_environment

        with open_store(project.store_url) as store:
            mv = get_version(store, f"{target.name}:{target.version}")
        if not mv.stage_run_id:
            return None
        rows = get_runs(project.store_url, [mv.stage_run_id])
        return run_environment(rows[0], project.cache_dir) if rows else None
    except (AssayError, OSError, ValueError, IndexError):
        return None


def _requirement_names(flavor: str | None) -> list[str]:
    names = []
    for line in requires("assay") or []:
        if "extra ==" in line:
            continue
        names.append(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0])
    names += SERVE_PACKAGES
    names += FLAVOR_PACKAGES.get(flavor or "", ())
    return sorted({n.lower().replace("_", "-") for n in names})


def export_context(options: ServeOptions, directory: Path, *, port: int = 8080) -> Path:
    """Write the build context for ``options.refs[0]`` into ``directory`` (new or empty).

    Raises:
        ServingError: more than one reference, a non-empty folder, a model that cannot be
            served.
    """
    from assay.models import check_package, materialize

    if len(options.refs) != 1:
        raise ServingError("--export writes one model's image; give one REF")
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise ServingError(f"{directory} is not empty; --export writes into a new or empty "
                           "folder")
    project = find_project(options.root)
    target = resolve(options.refs[0], project)
    if target.flavor == "pyfunc":
        raise ServingError("--export does not package pickled (pyfunc) models")
    if target.path is not None:
        package_dir = target.path
    else:
        assert project is not None and target.oid is not None
        package_dir = materialize(target.oid, cache_dir=project.cache_dir,
                                  state_dir=project.state_dir)
    package = check_package(package_dir)
    recorded = _recorded_environment(target, project)
    recorded_packages = {k.lower().replace("_", "-"): v
                         for k, v in ((recorded or {}).get("packages") or {}).items()}
    pins = []
    for name in _requirement_names(package.flavor):
        pinned = recorded_packages.get(name)
        if pinned is None:
            try:
                pinned = version(name)
            except PackageNotFoundError:
                pins.append(name)
                continue
        pins.append(f"{name}=={pinned}")
    python = str((recorded or {}).get("python") or platform.python_version())
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(package_dir, directory / "model")
    import assay

    shutil.copytree(Path(assay.__file__).parent, directory / "app" / "assay",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (directory / "requirements.txt").write_text("\n".join(pins) + "\n")
    entrypoint = ["python", "-m", "assay", "serve", "/app/model", "--host", "0.0.0.0",
                  "--port", str(port)]
    (directory / "Dockerfile").write_text(
        f"# assay serve {options.refs[0]} ({target.name}:{target.version}, "
        f"{(target.oid or '')[:16]})\n"
        f"FROM python:{python}-slim\n"
        "WORKDIR /app\n"
        "COPY requirements.txt /app/requirements.txt\n"
        "RUN pip install --no-cache-dir -r /app/requirements.txt\n"
        "COPY app/ /app/\n"
        "COPY model/ /app/model/\n"
        "ENV PYTHONPATH=/app\n"
        f"EXPOSE {port}\n"
        f"ENTRYPOINT {json.dumps(entrypoint)}\n")
    (directory / "context.json").write_text(json.dumps({
        "ref": options.refs[0], "name": target.name, "version": target.version,
        "oid": target.oid, "python": python,
        "environment": "recorded by the training run" if recorded else "this machine",
        "entrypoint": entrypoint, "workdir": "/app", "pythonpath": "/app",
    }, indent=2) + "\n")
    return directory
