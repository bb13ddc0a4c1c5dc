"""Small real worlds for model and evaluation tests: churn-like data, trained models, stage runs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from assay.config import StageContext
from tests.conftest import store_connection


def churn_frame(rows: int = 1200, seed: int = 0, *, shift: float = 0.0) -> pl.DataFrame:
    """A binary target driven by tenure, charges and contract, plus a sensitive column."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    charges = np.round(rng.normal(60 + shift, 15, rows), 2)
    contract = rng.choice(["monthly", "yearly", "two-year"], rows, p=[0.5, 0.3, 0.2])
    gender = rng.choice(["female", "male"], rows)
    logit = -0.5 - 0.04 * tenure + 0.03 * (charges - 60) + 1.2 * (contract == "monthly")
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pl.DataFrame(
        {
            "customer_id": np.arange(rows),
            "tenure_months": tenure,
            "monthly_charges": charges,
            "contract": contract,
            "gender": gender,
            "churned": churned,
        }
    )


FEATURES = ["tenure_months", "monthly_charges", "contract"]


def fit_pipeline(estimator: Any, frame: pl.DataFrame, features: list[str] | None = None) -> Any:
    """An sklearn pipeline (one-hot for strings) fitted on ``frame``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = features or FEATURES
    numeric = [c for c in features if frame.schema[c].is_numeric()]
    strings = [c for c in features if c not in numeric]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), strings),
        ]
    )
    return Pipeline([("pre", pre), ("model", estimator)]).fit(
        frame.select(features), frame["churned"].to_numpy()
    )


def save_candidate(root: Path, rel: str, estimator: Any, frame: pl.DataFrame,
                   features: list[str] | None = None, name: str | None = None) -> Path:
    from assay.models import save_model

    features = features or FEATURES
    model = fit_pipeline(estimator, frame, features)
    path = root / rel
    save_model(
        model,
        path,
        name=name or path.name,
        input_example=frame.select(features).head(3),
        lineage={"root": root, "stage": name or path.name},
    )
    return path


def new_stage_run(store_url: str, stage: str = "train") -> tuple[str, str]:
    """Insert a run and a stage run (what the runner does) and return their ids."""
    from assay.store import open_store
    from assay.store.tables import runs, stage_runs

    run_id, stage_run_id = str(uuid.uuid4()), str(uuid.uuid4())
    store = open_store(store_url)
    try:
        with store_connection(store.url) as conn:
            conn.execute(
                runs.insert().values(
                    id=run_id, kind="pipeline", trigger="manual", status="running",
                    actor="tester@example.com", started_at=time.time(),
                )
            )
            conn.execute(
                stage_runs.insert().values(
                    id=stage_run_id, run_id=run_id, stage=stage, status="running",
                    started_at=time.time(),
                )
            )
    finally:
        store.close()
    return run_id, stage_run_id


def stage_context(
    root: Path,
    store_url: str,
    stage: str,
    *,
    group: str | None = None,
    matrix: dict[str, Any] | None = None,
    upstream_outs: dict[str, list[str]] | None = None,
    ids: tuple[str, str] | None = None,
) -> StageContext:
    run_id, stage_run_id = ids or new_stage_run(store_url, stage)
    return StageContext(
        root=root,
        stage=stage,
        group=group,
        matrix=matrix or {},
        params={},
        profile=None,
        run_id=run_id,
        stage_run_id=stage_run_id,
        store_url=store_url,
        upstream_outs=upstream_outs or {},
        report_dir=root / ".assay" / "reports" / run_id / stage,
    )


def register_version(store_url: str, name: str, version: int, oid: str,
                     alias: str | None = None) -> None:
    """Rows the registry would write (the registry sits above models; tests fake none of it)."""
    from sqlalchemy import select

    from assay.store import open_store
    from assay.store.tables import aliases, model_versions, registered_models

    store = open_store(store_url)
    now = time.time()
    try:
        with store_connection(store.url) as conn:
            if conn.execute(
                select(registered_models.c.name).where(registered_models.c.name == name)
            ).first() is None:
                conn.execute(registered_models.insert().values(name=name, created_at=now))
            conn.execute(
                model_versions.insert().values(
                    name=name, version=version, model_hash=oid, author="tester@example.com",
                    gates_passed=True, meta={}, created_at=now,
                )
            )
            if alias:
                conn.execute(
                    aliases.insert().values(
                        name=name, alias=alias, version=version, updated_at=now,
                        actor="tester@example.com",
                    )
                )
    finally:
        store.close()


# -- hostile model packages ----------------------------------------------------------------------
#
# Each shape turns a copy of a good sklearn package into one that must be refused, at
# registration and at load, with a one-line reason. The code-execution shapes would create the
# canary file if any of their code ever ran.


def canary_code(canary: Path) -> str:
    """Python that creates ``canary`` (what a hostile model tries to run)."""
    return f"open({str(canary)!r}, 'w').write('code ran')\n"


def exec_chain_model(canary: Path, runner: Any = None) -> Any:
    """The reported attack: ``full_like`` fills an array with code, ``sum`` joins it and
    ``builtins.exec`` (or ``runner``) runs it, all inside ``predict_proba``."""
    import builtins

    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    fill = {"fill_value": canary_code(canary), "dtype": object}
    return Pipeline([
        ("fill", FunctionTransformer(np.full_like, kw_args=fill)),
        ("join", FunctionTransformer(np.sum)),
        ("run", FunctionTransformer(runner or builtins.exec)),
        ("clf", DummyClassifier().fit([[0.0], [1.0]], [0, 1])),
    ])


def save_hostile_model(model: Any, path: Path) -> Path:
    """Package ``model`` as the sklearn flavor (saving runs none of its functions)."""
    from assay.models import save_model

    save_model(model, path, name=path.name, input_example=pl.DataFrame({"x": [1.0, 2.0]}),
               classes=[0, 1], task="classification", lineage={"root": path.parent})
    return path


class _Evil:
    """Unpickling this runs the canary code (the classic pickle attack)."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[Any, ...]:
        import builtins

        return (builtins.exec, (canary_code(self.canary),))


def _meta(package: Path) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads((package / "model.json").read_text())
    return data


def _write_meta(package: Path, meta: dict[str, Any]) -> None:
    import json

    (package / "model.json").write_text(json.dumps(meta))


def _swap_model(package: Path, hostile: Any, canary: Path) -> None:
    donor = save_hostile_model(hostile, package.parent / f".donor-{package.name}")
    (package / "model.skops").write_bytes((donor / "model.skops").read_bytes())
    import shutil

    shutil.rmtree(donor)


def _edit_schema(package: Path, edit: Any) -> None:
    """Rewrite ``schema.json`` inside model.skops with ``edit(schema)``."""
    import io
    import json
    import zipfile

    path = package / "model.skops"
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    schema = json.loads(members["schema.json"])
    edit(schema)
    members["schema.json"] = json.dumps(schema).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members.items():
            target.writestr(name, data)
    path.write_bytes(out.getvalue())


def _first_object(schema: dict[str, Any], cls: str) -> dict[str, Any]:
    stack: list[Any] = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("__class__") == cls and item.get("__loader__") == "ObjectNode":
                return item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    raise AssertionError(f"no {cls} in the schema")


def _add_attribute(package: Path, node: dict[str, Any]) -> None:
    """Give the package's final estimator one more attribute: ``node``."""

    def edit(schema: dict[str, Any]) -> None:
        estimator = _first_object(schema, "LogisticRegression")
        estimator["content"]["content"]["extra_"] = node

    _edit_schema(package, edit)


def _rewrite_zip(package: Path, members: list[tuple[str, bytes]]) -> None:
    import io
    import warnings
    import zipfile

    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as target:
        warnings.simplefilter("ignore")  # a duplicate name is the point of one shape
        for name, data in members:
            target.writestr(zipfile.ZipInfo(name), data)
    (package / "model.skops").write_bytes(out.getvalue())


def _zip_members(package: Path) -> list[tuple[str, bytes]]:
    import zipfile

    with zipfile.ZipFile(package / "model.skops") as source:
        return [(i.filename, source.read(i)) for i in source.infolist()]


def _huge_entry(package: Path, canary: Path) -> None:
    """A member whose central directory entry declares 2 GiB (a zip bomb's shape)."""
    path = package / "model.skops"
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x01\x02")
    data[at + 24:at + 28] = (0x7FFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(data))


def _crafted_tree(package: Path, canary: Path) -> None:
    """A decision tree whose first split points past the end of its node array."""
    from sklearn.tree import DecisionTreeClassifier

    frame = churn_frame(200)
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(
        frame.select("tenure_months", "monthly_charges").to_numpy(), frame["churned"].to_numpy()
    )
    state = tree.tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = 10**6
    tree.tree_.__setstate__({**state, "nodes": nodes})
    _swap_model(package, tree, canary)


def _to_flavor(package: Path, flavor: str, file: str, content: bytes) -> None:
    (package / "model.skops").unlink()
    (package / file).write_bytes(content)
    meta = _meta(package)
    meta.update(flavor=flavor, files={"model": file})
    _write_meta(package, meta)


def _pickle_flavor(package: Path, canary: Path) -> None:
    import pickle

    from assay.objects import hash_bytes

    data = pickle.dumps(_Evil(canary))
    _to_flavor(package, "pyfunc", "model.pkl", data)
    meta = _meta(package)
    meta["pickle_hash"] = hash_bytes(data)
    _write_meta(package, meta)


def _files_entry(package: Path, rel: str) -> None:
    meta = _meta(package)
    meta["files"]["model"] = rel
    _write_meta(package, meta)


def _outside_file(package: Path, canary: Path) -> None:
    outside = package.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "model.skops").write_bytes((package / "model.skops").read_bytes())
    _files_entry(package, "../outside/model.skops")


def _symlinked_model(package: Path, canary: Path) -> None:
    outside = package.parent / f"elsewhere-{package.name}.skops"
    (package / "model.skops").rename(outside)
    (package / "model.skops").symlink_to(outside)


def _symlinked_meta(package: Path, canary: Path) -> None:
    outside = package.parent / f"elsewhere-{package.name}.json"
    (package / "model.json").rename(outside)
    (package / "model.json").symlink_to(outside)


def _symlinked_folder(package: Path, canary: Path) -> None:
    """The model file sits in a subfolder that is a symlink to a folder outside."""
    outside = package.parent / f"elsewhere-{package.name}"
    outside.mkdir()
    (package / "model.skops").rename(outside / "model.skops")
    (package / "sub").symlink_to(outside)
    _files_entry(package, "sub/model.skops")


@dataclass(frozen=True)
class Hostile:
    """A hostile or malformed package shape and the reason it must be refused for."""

    build: Callable[[Path, Path], None]  # (a good sklearn package to turn hostile, canary)
    reason: str  # a regex the one-line refusal matches


HOSTILE_PACKAGES: dict[str, Hostile] = {
    "exec-chain": Hostile(
        lambda p, c: _swap_model(p, exec_chain_model(c), c),
        r"builtins\.exec \(never trusted\), numpy\.full_like \(a function\)",
    ),
    "eval-chain": Hostile(
        lambda p, c: _swap_model(p, exec_chain_model(c, runner=__import__("builtins").eval), c),
        r"builtins\.eval \(never trusted\)",
    ),
    "numpy-function": Hostile(
        lambda p, c: _swap_model(p, _with_func(np.sum), c), r"numpy\.sum \(a function\)"
    ),
    "numpy-ufunc": Hostile(
        lambda p, c: _swap_model(p, _with_func(np.log1p), c), r"numpy\.log1p \(a function\)"
    ),
    "operator-methodcaller": Hostile(
        lambda p, c: _swap_model(p, _with_func(__import__("operator").methodcaller("mro")), c),
        r"operator\.methodcaller \(a function, never trusted\)",
    ),
    "partial-of-exec": Hostile(
        lambda p, c: _swap_model(
            p, _with_func(__import__("functools").partial(exec, canary_code(c))), c
        ),
        r"builtins\.exec \(never trusted\), functools\.partial \(a function\)",
    ),
    "bound-method": Hostile(
        lambda p, c: _swap_model(p, _with_func(_fitted_dummy().predict), c),
        r"sklearn\.dummy\.DummyClassifier\.predict \(a function\)",
    ),
    "unknown-class": Hostile(
        lambda p, c: _edit_schema(p, lambda s: _first_object(s, "LogisticRegression").update(
            __module__="subprocess", __class__="Popen")),
        r"subprocess\.Popen \(never trusted\)",
    ),
    "reduce-node-calling-a-function": Hostile(
        lambda p, c: _add_attribute(p, {
            "__class__": "system", "__module__": "posix", "__loader__": "LossNode",
            "__reduce__": {"args": {"__class__": "tuple", "__module__": "builtins",
                                    "__loader__": "TupleNode", "content": []}},
            "content": {"__class__": "dict", "__module__": "builtins",
                        "__loader__": "DictNode", "content": {}},
        }),
        r"posix\.system \(never trusted\)",
    ),
    "unknown-node-kind": Hostile(
        lambda p, c: _add_attribute(p, {"__class__": "dict", "__module__": "builtins",
                                        "__loader__": "EvalNode", "content": "1"}),
        r"unknown skops node EvalNode",
    ),
    "crafted-tree": Hostile(_crafted_tree, r"node links out of range"),
    "pickle-renamed-skops": Hostile(
        lambda p, c: (p / "model.skops").write_bytes(__import__("pickle").dumps(_Evil(c))),
        r"model\.skops is a pickle, not a skops file",
    ),
    "protocol-0-pickle-renamed-skops": Hostile(
        lambda p, c: (p / "model.skops").write_bytes(
            b"cbuiltins\nexec\n(V" + canary_code(c).replace("\n", "").encode() + b"\ntR."
        ),
        r"model\.skops is a pickle, not a skops file",
    ),
    "pickle-flavor-without-opt-in": Hostile(
        _pickle_flavor, r"is a pickled \(pyfunc\) model; loading it runs code"
    ),
    "path-outside-the-package": Hostile(_outside_file, r"'\.\.' is not allowed|outside"),
    "absolute-path": Hostile(lambda p, c: _files_entry(p, "/etc/passwd"), r"outside"),
    "symlinked-model-file": Hostile(_symlinked_model, r"holds a symlink \(model\.skops\)"),
    "symlinked-model-json": Hostile(_symlinked_meta, r"holds a symlink \(model\.json\)"),
    "symlinked-folder": Hostile(_symlinked_folder, r"holds a symlink \(sub\)"),
    "skops-content-as-xgboost": Hostile(
        lambda p, c: _to_flavor(p, "xgboost", "model.ubj", (p / "model.skops").read_bytes()),
        r"is a zip archive \(a skops file\?\), not an XGBoost model",
    ),
    "lightgbm-text-as-skops": Hostile(
        lambda p, c: (p / "model.skops").write_bytes(b"tree\nversion=v4\nnum_class=1\n"),
        r"model\.skops is not a skops file \(not a zip archive\)",
    ),
    "truncated-skops": Hostile(
        lambda p, c: (p / "model.skops").write_bytes(
            (p / "model.skops").read_bytes()[: (p / "model.skops").stat().st_size // 2]
        ),
        r"not a skops file \(not a valid zip archive",
    ),
    "zip-member-traversal": Hostile(
        lambda p, c: _rewrite_zip(p, [*_zip_members(p), ("../../evil.npy", b"x")]),
        r"holds a member named '\.\./\.\./evil\.npy'",
    ),
    "zip-duplicate-member": Hostile(
        lambda p, c: _rewrite_zip(p, [*_zip_members(p), ("schema.json", b"{}")]),
        r"holds 'schema\.json' twice",
    ),
    "zip-huge-entry": Hostile(_huge_entry, r"declares \d+ bytes of content"),
    "garbage-onnx": Hostile(
        lambda p, c: _to_flavor(p, "onnx", "model.onnx", b"\x08\x07garbage" * 10),
        r"Cannot load model\.onnx",
    ),
    "garbage-ubj": Hostile(
        lambda p, c: _to_flavor(p, "xgboost", "model.ubj", b"{garbage" * 10),
        r"Cannot load model\.ubj",
    ),
    "missing-model-file": Hostile(
        lambda p, c: (p / "model.skops").unlink(), r"is missing model\.skops"
    ),
    "unknown-file-role": Hostile(
        lambda p, c: _write_meta(p, {**_meta(p), "files": {**_meta(p)["files"], "code": "x.py"}}),
        r"a sklearn package has no 'code' file",
    ),
    "malformed-model-json": Hostile(
        lambda p, c: (p / "model.json").write_text("[" * 100_000), r"model\.json is malformed"
    ),
}


def _fitted_dummy() -> Any:
    from sklearn.dummy import DummyClassifier

    return DummyClassifier().fit([[0.0], [1.0]], [0, 1])


def _with_func(func: Any) -> Any:
    """A pipeline whose first step calls ``func`` on the data at predict time."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    return Pipeline([("call", FunctionTransformer(func)), ("clf", _fitted_dummy())])


def good_package(root: Path, rel: str = "models/good") -> Path:
    """A small, legitimate sklearn package (a logistic regression on one column)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from assay.models import save_model

    frame = churn_frame(200)
    x = frame.select("tenure_months")
    model = Pipeline([("lr", LogisticRegression())]).fit(x, frame["churned"].to_numpy())
    path = root / rel
    save_model(model, path, name=path.name, input_example=x.head(3),
               lineage={"root": root, "stage": path.name})
    return path


def hostile_package(root: Path, shape: str, canary: Path, rel: str | None = None) -> Path:
    """A package of ``shape`` (see :data:`HOSTILE_PACKAGES`) at ``root/rel``."""
    path = good_package(root, rel or f"models/{shape}")
    HOSTILE_PACKAGES[shape].build(path, canary)
    return path
