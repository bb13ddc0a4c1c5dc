"""Registry aliases as stage inputs: ``NAME@ALIAS`` resolved to the hash of the model behind it.

A kind declares the aliases it depends on in ``KindPlan.aliases``; the DAG records each as a
param-like value ``@alias:NAME@ALIAS`` -> model hash (None while the alias is unset), so the
cache key, the lock file and ``assay status`` all see an alias move like a param change.
"""

from __future__ import annotations

from assay.errors import PipelineError

ALIAS_PARAM_PREFIX = "@alias:"
# A kind whose effect lives in the metadata store (``KindPlan.store_effects``) gets this
# pseudo-param: the store's instance id, so its cache is per store.
STORE_PARAM = "@store:instance_id"


def is_pseudo_param(key: str) -> bool:
    """Alias and store pseudo-params: in the cache key, never recorded as a user's params."""
    return key.startswith("@")


def store_identity(store_url: str) -> str:
    """The instance id of the store at ``store_url`` (created with its schema)."""
    from assay.store import open_store

    store = open_store(store_url)
    try:
        return store.instance_id()
    finally:
        store.close()


def split_alias(ref: str, *, stage: str) -> tuple[str, str]:
    """``NAME@ALIAS`` -> (name, alias)."""
    name, sep, alias = ref.partition("@")
    if not sep or not name or not alias:
        raise PipelineError(
            f"Stage '{stage}' depends on alias {ref!r}; expected NAME@ALIAS", stage=stage
        )
    return name, alias


def resolve_aliases(store_url: str, refs: list[str], *, stage: str) -> dict[str, str | None]:
    """The model hash behind each ``NAME@ALIAS`` (None when the alias is not set yet)."""
    if not refs:
        return {}
    from assay.store import open_store
    from assay.store.statements import ALIAS_MODEL_HASH

    with open_store(store_url) as store, store.read() as conn:
        out: dict[str, str | None] = {}
        for ref in refs:
            name, alias = split_alias(ref, stage=stage)
            out[ref] = conn.execute(ALIAS_MODEL_HASH, {"name": name, "alias": alias}).scalar()
        return out
