"""Checking a model package before anything in it is loaded: the one gate for register and load.

:func:`verify_package` checks what ``model.json`` says against what is on disk, without parsing
any model file:

- ``model.json`` is well-formed, and each file it lists lies inside the package;
- the files are those of the flavor (``sklearn``: ``model.skops``; ``xgboost``: ``model.ubj``
  and an optional ``preprocessor.skops``; ...), each a regular file (or a link into assay's
  cache), listed once; no symlink anywhere in the package leads elsewhere;
- each file's *content* is what its role says: a skops file is a zip archive, an XGBoost model
  is UBJSON/JSON, a LightGBM model is text, and a pickle is recognised wherever it is. A pickle
  is accepted only as a ``pyfunc`` model, only with the explicit opt-in, and only if its hash
  is the one recorded in ``model.json``.

:func:`check_package` (registration) adds the deep checks load does: skops files audited
against the trust list and rebuilt, native and ONNX files parsed by their engines. It never
unpickles and never predicts. :func:`load_package` loads only a package that passed
:func:`verify_package`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assay.errors import ModelError, UsageError
from assay.models._package import MODEL_FILE, LoadedModel, ModelPackage, read_package
from assay.models._skops_files import PICKLE_STARTS, sniff
from assay.models._trust import TrustPolicy

#: The files each flavor's package holds: role -> allowed suffixes ("model" is required).
FLAVOR_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "sklearn": {"model": (".skops",)},
    "xgboost": {"model": (".ubj", ".json"), "preprocessor": (".skops",)},
    "lightgbm": {"model": (".txt",), "preprocessor": (".skops",)},
    "onnx": {"model": (".onnx",)},
    "pyfunc": {"model": (".pkl",)},
}
_CONTENT = {
    ".skops": "a skops file",
    ".ubj": "an XGBoost model",
    ".json": "an XGBoost model",
    ".txt": "a LightGBM model",
    ".onnx": "an ONNX model",
    ".pkl": "a pickle",
}
_SNIFF_BYTES = 16 * 1024 * 1024


def _package_files(path: Path) -> set[str]:
    """The package's files (rel paths); a symlink that is not a cache link is refused."""
    from assay.objects import walk_files

    skipped: list[str] = []
    try:
        listed = walk_files(path, skipped=skipped)
    except OSError as exc:
        raise ModelError(f"Cannot read the package {path}: {exc.strerror or exc}", path=str(path)) from None
    if skipped:
        raise ModelError(
            f"Package {path} holds a symlink ({skipped[0]}); a package holds regular files only",
            path=str(path),
        )
    return {rel for rel, _, _ in listed}


def _read_head(path: Path) -> bytes:
    """The first bytes of a file; all of it (up to the sniff limit) when it could be an old
    text-protocol pickle, which only parsing recognises."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
            if head[:1] in PICKLE_STARTS:
                head += handle.read(_SNIFF_BYTES + 1 - len(head))
            return head
    except OSError as exc:
        raise ModelError(f"Cannot read {path.name}: {exc.strerror or exc}", path=str(path)) from None


def _check_content(package: ModelPackage, role: str, file: Path, *, allow_pickle: bool) -> None:
    """The file's content is what its role and suffix say (by its bytes, not its name)."""
    head = _read_head(file)
    kind = sniff(head if len(head) <= _SNIFF_BYTES else head[:16])
    suffix = file.suffix
    expected = _CONTENT[suffix]
    where = f"{package.path.name}/{file.name}"
    if suffix == ".pkl":
        if not allow_pickle:
            raise ModelError(
                f"{package.path.name} is a pickled (pyfunc) model; loading it runs code. "
                "Pass allow_pickle=True (assay models register --allow-pickle) only if you "
                "trust where it came from",
                path=str(package.path),
            )
        if kind != "pickle":
            raise ModelError(f"{where} is not a pickle; the package is damaged", path=str(file))
        _check_pickle_hash(package, file)
        return
    if kind == "pickle":
        raise ModelError(
            f"{where} is a pickle, not {expected}; assay unpickles only pyfunc models, with "
            "the explicit opt-in",
            path=str(file),
        )
    if suffix == ".skops":
        if kind != "zip":
            raise ModelError(f"{where} is not a skops file (not a zip archive)", path=str(file))
        return
    if kind == "zip":
        raise ModelError(
            f"{where} is a zip archive (a skops file?), not {expected}; check the flavor "
            f"{package.flavor!r} in {MODEL_FILE}",
            path=str(file),
        )
    if suffix in (".ubj", ".json") and not head.startswith(b"{"):
        raise ModelError(f"{where} is not {expected} (no UBJSON/JSON object)", path=str(file))
    if suffix == ".txt" and not head.startswith(b"tree"):
        raise ModelError(f"{where} is not {expected} (no LightGBM model header)", path=str(file))
    if not head:
        raise ModelError(f"{where} is empty; the package is damaged", path=str(file))


def _check_pickle_hash(package: ModelPackage, file: Path) -> None:
    from assay.objects import hash_file

    actual = hash_file(file)
    if not package.pickle_hash or actual != package.pickle_hash:
        raise ModelError(
            f"Refusing to unpickle {file}: its hash {actual[:12]} does not match the recorded "
            f"{(package.pickle_hash or 'none')[:12]}",
            path=str(file),
        )


def verify_package(
    path: Path, *, allow_pickle: bool = False
) -> tuple[ModelPackage, dict[str, Path]]:
    """Check the package at ``path`` against its ``model.json`` (see the module docstring).

    Returns:
        The package and its files by role (absolute paths, all checked).

    Raises:
        ModelError: one line naming the first problem found.
    """
    from assay._paths import resolve_inside

    path = Path(path)
    present = _package_files(path) if path.is_dir() else set()  # not a dir: read_package says
    package = read_package(path)
    if MODEL_FILE not in present:
        raise ModelError(f"{package.path}/{MODEL_FILE} is not a regular file", path=str(path))
    rules = FLAVOR_FILES[package.flavor]
    if "model" not in package.files:
        raise ModelError(f"{package.path}/{MODEL_FILE} lists no model file", path=str(path))
    unknown = sorted(set(package.files) - set(rules))
    if unknown:
        raise ModelError(
            f"{package.path}/{MODEL_FILE}: a {package.flavor} package has no {unknown[0]!r} "
            f"file (it has: {', '.join(rules)})",
            path=str(path),
        )
    files: dict[str, Path] = {}
    used: set[str] = set()
    for role, rel in sorted(package.files.items()):
        try:
            file = resolve_inside(package.path, rel, what="model file")
        except UsageError as exc:
            raise ModelError(f"{package.path}/{MODEL_FILE}: {exc}", path=str(path)) from None
        normal = file.relative_to(package.path.resolve()).as_posix()
        if file.suffix not in rules[role]:
            raise ModelError(
                f"{package.path}/{MODEL_FILE}: the {role} file of a {package.flavor} package "
                f"is a {' or '.join(rules[role])} file, not {rel!r}",
                path=str(path),
            )
        if normal in used or normal == MODEL_FILE:
            raise ModelError(
                f"{package.path}/{MODEL_FILE} lists {rel!r} twice", path=str(path)
            )
        used.add(normal)
        if normal not in present:
            raise ModelError(
                f"Package {package.path} is missing {rel} (or it is not a regular file)",
                path=str(path),
            )
        _check_content(package, role, file, allow_pickle=allow_pickle)
        files[role] = file
    return package, files


def check_package(
    path: Path, *, allow_pickle: bool = False, trusted_types: Sequence[str] = ()
) -> ModelPackage:
    """Every check load makes, without unpickling and without predicting (for registration).

    Args:
        path: the package directory.
        allow_pickle: accept a ``pyfunc`` package (its pickle is hash-checked, not loaded).
        trusted_types: extra exact type names skops may load (on top of assay's list).

    Raises:
        ModelError: one line naming what is wrong with the package.
    """
    from assay.models._flavors import load_flavor

    policy = TrustPolicy.from_config(trusted_types)
    package, files = verify_package(path, allow_pickle=allow_pickle)
    if package.flavor != "pyfunc":
        load_flavor(package.flavor, package.path, files, allow_pickle=False,
                    pickle_hash=None, policy=policy)
    return package


def load_package(
    path: Path, *, allow_pickle: bool = False, trusted_types: Sequence[str] = ()
) -> LoadedModel:
    """Check and load the package directory at ``path``.

    The package passes every check of :func:`assay.models.check_package` first (files and
    content match ``model.json``; skops types on assay's exact trust list; pickle only with the
    opt-in and a matching hash).

    Args:
        path: the package directory.
        allow_pickle: permit a hash-verified ``pyfunc`` (pickle) model.
        trusted_types: extra exact type names skops may load (on top of assay's list).

    Raises:
        ModelError: not a package, a missing extra, untrusted content, a tampered pickle.
    """
    from assay.models._flavors import load_flavor
    from assay.models._trust import TrustPolicy

    policy = TrustPolicy.from_config(trusted_types)
    package, files = verify_package(Path(path), allow_pickle=allow_pickle)
    predictor = load_flavor(
        package.flavor,
        package.path,
        files,
        allow_pickle=allow_pickle,
        pickle_hash=package.pickle_hash,
        policy=policy,
    )
    return LoadedModel(package, predictor)
