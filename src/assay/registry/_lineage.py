"""Lineage (dataset versions -> run -> stage runs -> model version -> aliases and deployments)
and diffs between two versions (params, metrics, data versions, environment)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.registry._refs import ModelRef
from assay.registry._versions import ModelVersion, version_in
from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.store import Connection, Store


def _dataset_entries(conn: Connection, mv: ModelVersion) -> list[dict[str, Any]]:
    """The datasets of the package lineage, each with the recorded versions of its hash.

    Pipeline-trained packages list ``{name, version, hash, path, role, stage}`` (the direct
    inputs and the versioned datasets upstream); older ones ``{name, path, oid}``.
    """
    out = []
    for ds in mv.lineage.get("datasets") or []:
        if not isinstance(ds, dict):
            continue
        oid = ds.get("hash") or ds.get("oid")
        known = [
            {"id": int(row_id), "name": str(name), "version": int(number),
             "created_at": float(created_at), "git_commit": git_commit}
            for row_id, name, created_at, git_commit, number in (
                conn.execute(sql.DATASET_VERSIONS_OF_HASH, {"hash": oid}) if oid else ())
        ]
        version = ds.get("version")
        if version is None:
            version = next((k["version"] for k in known if k["name"] == ds.get("name")), None)
        out.append({
            "name": ds.get("name"), "version": version, "path": ds.get("path"), "oid": oid,
            "role": ds.get("role"), "stage": ds.get("stage"), "versions": known,
        })
    return out


def dataset_label(ds: dict[str, Any]) -> str:
    """``churn v1  data/churn.parquet`` (no version when the hash is not a recorded one, and
    the path only when the name is not the path already)."""
    name = str(ds.get("name") or ds.get("path") or "?")
    label = f"{name} v{ds['version']}" if ds.get("version") is not None else name
    path = ds.get("path")
    return f"{label}  {path}" if path and path != name else label


def lineage(store: Store, ref: ModelRef | str) -> dict[str, Any]:
    """Where a version came from and where it went.

    Returns:
        ``{"model", "datasets", "run", "stage_runs", "evaluation", "code", "aliases",
        "history", "deployments"}``; missing links are ``None`` or empty, never guessed.
    """
    from assay.registry._aliases import history_in

    with store.read() as conn:
        mv = version_in(conn, ref)
        run = None
        stages: list[dict[str, Any]] = []
        run_id = mv.run_id or mv.lineage.get("run_id")
        if run_id:
            row = conn.execute(sql.RUN_SUMMARY, {"id": run_id}).fetchone()
            if row is not None:
                run = dict(zip(("id", "status", "trigger", "actor", "git_commit", "started_at",
                                "profile"), row[:7], strict=True))
                # what started the run, when a trigger did (see assay.triggers)
                run["cause"] = dict(row[7] or {}).get("cause")
            stages = [
                {"id": sid, "stage": stage, "status": status, "cached": bool(cached)}
                for sid, stage, status, cached in conn.execute(
                    sql.STAGE_RUNS_OF_RUN, {"run_id": run_id})
            ]
        deployed = [
            {"id": int(dep_id), "target": target, "state": state, "traffic": float(traffic)}
            for dep_id, target, state, traffic in conn.execute(
                sql.DEPLOYMENTS_OF_VERSION, {"name": mv.name, "version": mv.version})
        ]
        moves = [m.to_dict() for m in history_in(conn, mv.name) if m.version == mv.version]
        evaluation = mv.evaluation
        return {
            "model": {
                "name": mv.name, "version": mv.version, "model_hash": mv.model_hash,
                "author": mv.author, "gates_passed": mv.gates_passed,
                "created_at": mv.created_at, "stage": mv.lineage.get("stage"),
                "stage_run_id": mv.stage_run_id or mv.lineage.get("stage_run_id"),
            },
            "datasets": _dataset_entries(conn, mv),
            "run": run,
            "run_id": run_id,
            "stage_runs": stages,
            "evaluation": {
                "stage": evaluation.get("stage"), "id": mv.evaluation_id,
                "candidate": evaluation.get("candidate"), "passed": evaluation.get("passed"),
            } if evaluation else None,
            "code": {
                "git_commit": mv.lineage.get("git_commit"),
                "env_hash": mv.lineage.get("env_hash"),
                "params": mv.lineage.get("params") or {},
            },
            "aliases": list(mv.aliases),
            "history": moves,
            "deployments": deployed,
        }


def _node(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def lineage_mermaid(graph: dict[str, Any]) -> str:
    """The lineage as a Mermaid flowchart (paste into Markdown, GitHub renders it):
    dataset versions -> run -> stage runs -> model version -> aliases and deployments."""
    model = graph["model"]
    lines = ["flowchart LR"]
    label = "{}:{}".format(model["name"], model["version"])
    lines.append(f"  mv[{_node(label)}]")
    run_id = graph.get("run_id")
    if run_id:
        status = (graph.get("run") or {}).get("status", "not recorded")
        lines.append(f"  run([{_node(f'run {str(run_id)[:8]} ({status})')}])")
    stage_of_model = model.get("stage")
    stage_nodes: dict[str, str] = {}
    for i, st in enumerate(graph["stage_runs"]):
        text = "{} ({})".format(st["stage"], st["status"])
        lines.append(f"  st{i}[{_node(text)}]")
        lines.append(f"  run --> st{i}")
        stage_nodes.setdefault(str(st["stage"]), f"st{i}")
    for i, ds in enumerate(graph["datasets"]):
        text = "{} {}".format(dataset_label(ds), str(ds.get("oid") or "")[:12])
        lines.append(f"  ds{i}[({_node(text)})]")
        reader = ds.get("stage") or stage_of_model
        target = stage_nodes.get(str(reader)) or ("run" if run_id else "mv")
        lines.append(f"  ds{i} --> {target}")
    if stage_of_model in stage_nodes:
        lines.append(f"  {stage_nodes[stage_of_model]} --> mv")
    elif run_id:
        lines.append("  run --> mv")
    evaluation = graph.get("evaluation")
    if evaluation:
        verdict = "passed" if evaluation.get("passed") else "failed"
        text = "{}: gates {}".format(evaluation.get("stage"), verdict)
        lines.append("  ev{{" + _node(text) + "}}")
        evaluated = stage_nodes.get(str(evaluation.get("stage")))
        lines.append(f"  {evaluated} --> ev" if evaluated else "  ev --> mv")
        if evaluated:
            lines.append("  ev --> mv")
    for alias in graph["aliases"]:
        lines.append(f"  al_{_safe(alias)}>{_node('@' + alias)}]")
        lines.append(f"  mv --> al_{_safe(alias)}")
    for dep in graph["deployments"]:
        text = "{} ({})".format(dep["target"], dep["state"])
        lines.append(f"  dep{dep['id']}[/{_node(text)}/]")
        lines.append(f"  mv --> dep{dep['id']}")
    return "\n".join(lines) + "\n"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def _flat_metrics(mv: ModelVersion) -> dict[str, Any]:
    flat = {}
    for dataset, slices in (mv.evaluation.get("metrics") or {}).items():
        for slice_name, values in (slices or {}).items():
            for metric, value in (values or {}).items():
                flat[f"{dataset}/{slice_name}/{metric}"] = value
    return flat


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys: ``{"hyperparams": {"C": 1}}`` -> ``{"hyperparams.C": 1}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(set(a) | set(b)):
        left: Any = a.get(key)
        right: Any = b.get(key)
        row: dict[str, Any] = {"key": key, "a": left, "b": right, "changed": left != right}
        if _is_number(left) and _is_number(right):
            row["delta"] = float(right) - float(left)
        rows.append(row)
    return rows


def diff(store: Store, a: ModelRef | str, b: ModelRef | str) -> dict[str, Any]:
    """Compare two versions: params, metrics, data versions and environment.

    Returns:
        ``{"a": "churn:2", "b": "churn:3", "params": [...], "metrics": [...], "data": [...],
        "environment": [...]}``, each a list of ``{key, a, b, changed[, delta]}``.
    """
    with store.read() as conn:
        left, right = version_in(conn, a), version_in(conn, b)

    def env(mv: ModelVersion) -> dict[str, Any]:
        package = mv.meta.get("package") or {}
        return {
            "git_commit": mv.lineage.get("git_commit"),
            "env_hash": mv.lineage.get("env_hash"),
            "flavor": package.get("flavor"),
            "task": package.get("task"),
            "model_hash": mv.model_hash,
        }

    def data(mv: ModelVersion) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for d in mv.lineage.get("datasets") or []:
            if isinstance(d, dict):
                key = str(d.get("name") or d.get("path"))
                oid = d.get("hash") or d.get("oid")
                version = d.get("version")
                out[key] = f"v{version} {str(oid)[:12]}" if version is not None else oid
        return out

    return {
        "a": left.ref,
        "b": right.ref,
        "params": _changes(
            _flatten(left.lineage.get("params") or {}), _flatten(right.lineage.get("params") or {})
        ),
        "metrics": _changes(_flat_metrics(left), _flat_metrics(right)),
        "data": _changes(data(left), data(right)),
        "environment": _changes(env(left), env(right)),
    }
