"""Registration, references, listing: through the library on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assay.errors import RegistryError
from assay.registry import get_version, list_models, parse_ref, register, versions
from assay.store import Store
from tests.registry.conftest import Registrar
from tests.registry.worlds import ML, OUTSIDER, config, make_package, oid_of, report_for


def test_register_numbers_versions_and_keeps_evaluation(registrar: Registrar, store: Store) -> None:
    first = registrar(1)
    second = registrar(2)
    assert (first.version.version, second.version.version) == (1, 2)
    assert first.created and second.created
    mv = get_version(store, "churn:2")
    assert mv.gates_passed is True
    assert mv.author == ML
    assert mv.evaluation["metrics"]["holdout"]["all"]["roc_auc"] == 0.8
    assert mv.lineage["params"] == {"seed": 2}
    assert mv.model_hash.endswith(".dir")
    events = store.events(kind="model.registered")
    assert [e.subject for e in events] == ["churn:1", "churn:2"]
    assert {e.actor for e in events} == {ML}


def test_registering_the_same_package_twice_is_idempotent(
    store: Store, cache_dir: Path, tmp_path: Path
) -> None:
    package = make_package(tmp_path, "models/a", seed=1)
    report = report_for(oid_of(cache_dir, package))
    first = register(store, name="churn", cache_dir=cache_dir, package_dir=package,
                     evaluation=report, author=ML)
    again = register(store, name="churn", cache_dir=cache_dir, package_dir=package,
                     evaluation=report, author=ML)
    assert again.created is False
    assert again.version.version == first.version.version == 1
    assert len(versions(store, "churn")) == 1


def test_register_by_object_id(store: Store, cache_dir: Path, tmp_path: Path) -> None:
    package = make_package(tmp_path, "models/a", seed=3)
    oid = oid_of(cache_dir, package)
    result = register(store, name="churn", cache_dir=cache_dir, oid=oid,
                      evaluation=report_for(oid), author=ML)
    assert result.version.model_hash == oid
    assert result.version.meta["package"]["flavor"] == "sklearn"


def test_a_package_that_is_not_a_candidate_is_refused(
    store: Store, cache_dir: Path, tmp_path: Path
) -> None:
    package = make_package(tmp_path, "models/a", seed=1)
    with pytest.raises(RegistryError, match="is not a candidate of evaluation 'evaluate'"):
        register(store, name="churn", cache_dir=cache_dir, package_dir=package,
                 evaluation=report_for("f" * 64 + ".dir"), author=ML)
    assert list_models(store) == []


def test_failed_gates_are_recorded_and_block_the_initial_alias(registrar: Registrar) -> None:
    result = registrar(1, passed=False, alias="staging")
    assert result.version.gates_passed is False
    assert result.alias is None
    assert result.note == (
        "alias 'staging' was not set: Model 'churn' v1 did not pass its evaluation gates "
        "(failed: roc_auc >= 0.75); promote a version that did"
    )


def test_initial_alias_passes_the_same_checks_as_a_promotion(registrar: Registrar) -> None:
    staged = registrar(1, alias="staging")
    assert staged.alias == "staging"
    assert staged.version.aliases == ("staging",)
    guarded = registrar(2, alias="production")
    assert guarded.alias is None
    assert guarded.note == (
        "alias 'production' was not set: Model 'churn' v2 is not in staging; production accepts "
        "versions only from staging; run: assay models promote churn:2 --to staging; Model "
        "'churn' v2 lacks 1 approval from role 'platform' (the author ana@example.com may not "
        "approve); run: assay models approve churn:2 --for production"
    )


def test_a_non_member_cannot_set_an_alias_by_registering(
    registrar: Registrar, store: Store
) -> None:
    result = registrar(1, alias="staging", author=OUTSIDER)
    assert result.created and result.alias is None
    assert result.note == (
        "alias 'staging' was not set: eve@example.com is not a member of the team in "
        "assay.yaml; only members may promote"
    )
    assert get_version(store, "churn:1").aliases == ()
    assert store.events(kind="model.promoted") == []


def test_without_a_team_or_policy_registering_sets_the_alias(registrar: Registrar) -> None:
    open_config = config(team=[], promotion={})
    result = registrar(1, alias="champion", author=OUTSIDER, cfg=open_config)
    assert (result.alias, result.note) == ("champion", None)


def test_an_alias_without_the_config_is_refused(
    store: Store, cache_dir: Path, tmp_path: Path
) -> None:
    package = make_package(tmp_path, "models/a", seed=1)
    with pytest.raises(RegistryError, match=re.escape(
        "register(alias='staging') needs the project config: an alias moves only under its "
        "promotion policy"
    )):
        register(store, name="churn", cache_dir=cache_dir, package_dir=package,
                 evaluation=report_for(oid_of(cache_dir, package)), author=ML, alias="staging")
    assert list_models(store) == []


@pytest.mark.parametrize(
    ("ref", "version"),
    [("churn", 2), ("churn:1", 1), ("churn@staging", 1)],
    ids=["latest", "version", "alias"],
)
def test_references_resolve(registrar: Registrar, store: Store, ref: str, version: int) -> None:
    registrar(1, alias="staging")
    registrar(2)
    assert get_version(store, ref).version == version


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("churn:9", "Model 'churn' has no version 9; list versions with"),
        ("churn@nope", r"Model 'churn' has no alias 'nope' \(aliases: staging\)"),
        ("chrun", "No registered model 'chrun'; did you mean 'churn'"),
        ("churn:x", "is not a model reference"),
        ("../etc", "is not a model reference"),
    ],
    ids=["version", "alias", "typo", "bad-version", "path"],
)
def test_bad_references_say_what_is_wrong(
    registrar: Registrar, store: Store, ref: str, message: str
) -> None:
    registrar(1, alias="staging")
    with pytest.raises(RegistryError, match=message):
        get_version(store, ref)


def test_list_models_and_versions(registrar: Registrar, store: Store) -> None:
    registrar(1, alias="staging")
    registrar(2)
    registrar(3, name="fraud")
    listed = {m.name: m.to_dict() for m in list_models(store)}
    assert listed["churn"]["latest_version"] == 2
    assert listed["churn"]["versions"] == 2
    assert listed["churn"]["aliases"] == {"staging": 1}
    assert listed["fraud"]["aliases"] == {}
    assert [v.version for v in versions(store, "churn")] == [1, 2]
    with pytest.raises(RegistryError, match="No registered model 'nope'"):
        versions(store, "nope")


def test_parse_ref_round_trips() -> None:
    for text in ("churn", "churn:3", "churn@production", "team/churn:12"):
        assert str(parse_ref(text)) == text
