"""Promotion policies, approvals, rejections and rollbacks (library, both store backends)."""

from __future__ import annotations

import re
import time

import pytest

from assay.config import ApprovalRule, AssayConfig
from assay.errors import PolicyViolation, RegistryError
from assay.registry import (
    alias_history,
    approvals_for,
    approve,
    check_promotion,
    get_version,
    promote,
    reject,
    rollback,
)
from assay.registry._promotion import count_approvals
from assay.store import Store
from tests.conftest import store_connection
from tests.registry.conftest import Registrar
from tests.registry.worlds import DATA, ML, OUTSIDER, PLATFORM, POLICY, TEAM, config

CFG = config()


def _staged(registrar: Registrar, seed: int = 1) -> str:
    return registrar(seed, alias="staging").version.ref


def test_promote_requires_all_approvals(registrar: Registrar, store: Store) -> None:
    ref = _staged(registrar)
    with pytest.raises(PolicyViolation) as info:
        promote(store, CFG, ref, to="production", actor=ML)
    assert str(info.value) == (
        "Model 'churn' v1 lacks 1 approval from role 'platform' (the author ana@example.com "
        "may not approve); run: assay models approve churn:1 --for production"
    )
    assert info.value.missing == [str(info.value)]
    approve(store, CFG, ref, target="production", actor=PLATFORM, comment="looks good")
    move = promote(store, CFG, ref, to="production", actor=ML)
    assert (move.version, move.previous_version, move.revision) == (1, None, 1)
    assert get_version(store, "churn@production").version == 1
    promoted = store.events(kind="model.promoted")
    assert [(e.subject, e.actor) for e in promoted][-1] == ("churn@production", ML)


def test_production_only_from_staging(registrar: Registrar, store: Store) -> None:
    ref = registrar(1).version.ref
    approve(store, CFG, ref, target="production", actor=PLATFORM)
    with pytest.raises(PolicyViolation, match=(
        "Model 'churn' v1 is not in staging; production accepts versions only from staging; "
        "run: assay models promote churn:1 --to staging"
    )):
        promote(store, CFG, ref, to="production", actor=ML)


def test_every_gap_is_listed_together(registrar: Registrar, store: Store) -> None:
    ref = registrar(1, passed=False).version.ref
    gaps = check_promotion(store, CFG, ref, to="production", actor=ML)
    assert [g.split(";")[0] for g in gaps] == [
        "Model 'churn' v1 did not pass its evaluation gates (failed: roc_auc >= 0.75)",
        "Model 'churn' v1 is not in staging",
        "Model 'churn' v1 lacks 1 approval from role 'platform' (the author ana@example.com "
        "may not approve)",
    ]
    with pytest.raises(PolicyViolation, match=r"Cannot promote churn:1 to production:\n  - "):
        promote(store, CFG, ref, to="production", actor=ML)


def test_promoting_a_version_that_failed_its_gates_is_refused(
    registrar: Registrar, store: Store
) -> None:
    ref = registrar(1, passed=False).version.ref
    with pytest.raises(PolicyViolation, match="did not pass its evaluation gates"):
        promote(store, CFG, ref, to="staging", actor=ML)


def test_promoting_a_missing_version_is_refused(registrar: Registrar, store: Store) -> None:
    registrar(1)
    with pytest.raises(RegistryError, match="Model 'churn' has no version 7"):
        promote(store, CFG, "churn:7", to="staging", actor=ML)


def test_named_gates_policy(registrar: Registrar, store: Store) -> None:
    cfg = config(promotion={"staging": {"gates": ["roc_auc >= 0.75", "latency"]}})
    ref = registrar(1).version.ref
    with pytest.raises(PolicyViolation, match="was not evaluated on gate 'latency'"):
        promote(store, cfg, ref, to="staging", actor=ML)
    cfg = config(promotion={"staging": {"gates": ["roc_auc >= 0.75"]}})
    assert promote(store, cfg, ref, to="staging", actor=ML).version == 1


def test_author_may_not_approve_own_model(registrar: Registrar, store: Store) -> None:
    cfg = config(team=[{"id": ML, "roles": ["ml", "platform"]}], promotion=POLICY)
    ref = _staged(registrar)
    with pytest.raises(PolicyViolation, match=re.escape(
        "ana@example.com is the author of churn:1 and the policy for production forbids "
        "approving one's own model"
    )):
        approve(store, cfg, ref, target="production", actor=ML)
    allowed = config(
        team=[{"id": ML, "roles": ["ml", "platform"]}],
        promotion={"production": {**POLICY["production"], "author_may_approve": True}},
    )
    approve(store, allowed, ref, target="production", actor=ML)
    assert promote(store, allowed, ref, to="production", actor=ML).version == 1


@pytest.mark.parametrize(
    ("actor", "message"),
    [
        (OUTSIDER, "eve@example.com is not a member of the team in assay.yaml"),
        (DATA, "dee@example.com has role\\(s\\) data; to approve churn:1 for production the "
               "policy needs role 'platform'"),
    ],
    ids=["non-member", "wrong-role"],
)
def test_approver_must_be_member_with_role(
    registrar: Registrar, store: Store, actor: str, message: str
) -> None:
    ref = _staged(registrar)
    with pytest.raises(PolicyViolation, match=message):
        approve(store, CFG, ref, target="production", actor=actor)
    assert approvals_for(store, CFG, ref) == []


def test_approving_twice_is_a_clear_error(registrar: Registrar, store: Store) -> None:
    ref = _staged(registrar)
    approve(store, CFG, ref, target="production", actor=PLATFORM)
    with pytest.raises(RegistryError, match=(
        r"raj@example\.com already approved churn:1 for production .*; a decision is recorded once"
    )):
        approve(store, CFG, ref, target="production", actor=PLATFORM)
    assert len(approvals_for(store, CFG, ref)) == 1


def test_approving_an_alias_without_policy_is_refused(registrar: Registrar, store: Store) -> None:
    ref = _staged(registrar)
    with pytest.raises(RegistryError, match=(
        "No promotion policy for alias 'prod' asks for approvals \\(aliases that do: production"
    )):
        approve(store, CFG, ref, target="prod", actor=PLATFORM)


def _age_approvals(store: Store, seconds: float) -> None:
    from sqlalchemy import update

    from assay.store.tables import approvals

    with store_connection(store.url) as conn:
        conn.execute(update(approvals).values(created_at=time.time() - seconds))


def test_expired_approvals_do_not_count(registrar: Registrar, store: Store) -> None:
    cfg = config(promotion={
        "staging": {"gates": "all"},
        "production": {**POLICY["production"], "approval_expiry": "1d"},
    })
    ref = _staged(registrar)
    approve(store, cfg, ref, target="production", actor=PLATFORM)
    _age_approvals(store, 2 * 86400)
    with pytest.raises(PolicyViolation, match=r"1 expired approval\(s\) no longer count"):
        promote(store, cfg, ref, to="production", actor=ML)
    assert [a.expired for a in approvals_for(store, cfg, ref)] == [True]
    approve(store, cfg, ref, target="production", actor=PLATFORM)  # renewing is allowed
    assert promote(store, cfg, ref, to="production", actor=ML).version == 1


def test_a_rejection_blocks_promotion(registrar: Registrar, store: Store) -> None:
    cfg = config(team=[*config().model_dump()["team"], {"id": "sam@example.com",
                                                       "roles": ["platform"]}],
                 promotion=POLICY)
    ref = _staged(registrar)
    approve(store, cfg, ref, target="production", actor=PLATFORM)
    reject(store, cfg, ref, target="production", actor="sam@example.com", comment="too slow")
    with pytest.raises(PolicyViolation, match=re.escape(
        "Model 'churn' v1 was rejected for production by sam@example.com: too slow"
    )):
        promote(store, cfg, ref, to="production", actor=ML)
    assert [e.actor for e in store.events(kind="model.rejected")] == ["sam@example.com"]


def test_non_member_cannot_promote_to_guarded_alias(registrar: Registrar, store: Store) -> None:
    ref = _staged(registrar)
    approve(store, CFG, ref, target="production", actor=PLATFORM)
    with pytest.raises(PolicyViolation, match=re.escape("eve@example.com is not a member of the team")):
        promote(store, CFG, ref, to="production", actor=OUTSIDER)


def test_promoting_the_holder_again_is_an_error(registrar: Registrar, store: Store) -> None:
    ref = _staged(registrar)
    with pytest.raises(RegistryError, match="churn:1 already holds alias 'staging'"):
        promote(store, CFG, ref, to="staging", actor=ML)


def test_bad_alias_names_are_refused(registrar: Registrar, store: Store) -> None:
    ref = _staged(registrar)
    with pytest.raises(RegistryError, match=re.escape("'prod/../x' is not a valid alias")):
        promote(store, CFG, ref, to="prod/../x", actor=ML)


def test_rollback_walks_back_through_history(registrar: Registrar, store: Store) -> None:
    for seed in (1, 2, 3):
        ref = registrar(seed).version.ref
        promote(store, CFG, ref, to="staging", actor=ML)
    first = rollback(store, CFG, "churn", "staging", actor=PLATFORM)
    assert (first.version, first.previous_version, first.action) == (2, 3, "rollback")
    second = rollback(store, CFG, "churn", "staging", actor=PLATFORM)
    assert second.version == 1
    with pytest.raises(RegistryError, match="churn@staging has no earlier version to roll back"):
        rollback(store, CFG, "churn", "staging", actor=PLATFORM)
    assert [m.action for m in alias_history(store, "churn", "staging")] == [
        "promote", "promote", "promote", "rollback", "rollback",
    ]
    events = store.events(kind="model.rolled_back")
    assert [(e.actor, e.details["version"]) for e in events] == [(PLATFORM, 2), (PLATFORM, 1)]


def test_rollback_of_unknown_alias(registrar: Registrar, store: Store) -> None:
    _staged(registrar)
    with pytest.raises(RegistryError, match=r"Model 'churn' has no alias 'production' \(aliases: staging\)"):
        rollback(store, CFG, "churn", "production", actor=ML)


def test_aliases_without_policy_still_need_passed_gates(registrar: Registrar, store: Store) -> None:
    cfg = config(promotion={})
    good = registrar(1).version.ref
    assert promote(store, cfg, good, to="champion", actor=OUTSIDER).version == 1


SAM = "sam@example.com"  # a second platform engineer
BOTH = "bo@example.com"  # platform and data
WIDE_TEAM = [*TEAM, {"id": SAM, "roles": ["platform"]}, {"id": BOTH, "roles": ["platform", "data"]}]


def _wide(approvals: list[dict[str, object]]) -> AssayConfig:
    return config(team=WIDE_TEAM, promotion={
        "staging": {"gates": "all"},
        "production": {"from": ["staging"], "approvals": approvals},
    })


def test_a_member_counts_for_a_rule_open_to_anyone(registrar: Registrar, store: Store) -> None:
    cfg = _wide([{"count": 1, "roles": ["platform"]}, {"count": 1}])
    ref = _staged(registrar)
    approve(store, cfg, ref, target="production", actor=DATA)  # no platform role: rule 2
    assert check_promotion(store, cfg, ref, to="production", actor=ML) == [
        "Model 'churn' v1 lacks 1 approval from role 'platform' (the author ana@example.com may "
        "not approve); run: assay models approve churn:1 --for production"
    ]
    approve(store, cfg, ref, target="production", actor=PLATFORM)
    assert promote(store, cfg, ref, to="production", actor=ML).version == 1


def test_the_order_of_approvals_does_not_matter(registrar: Registrar, store: Store) -> None:
    # the open rule comes first: a greedy count would spend the platform approval on it
    cfg = _wide([{"count": 1}, {"count": 1, "roles": ["platform"]}])
    ref = _staged(registrar)
    approve(store, cfg, ref, target="production", actor=PLATFORM)
    approve(store, cfg, ref, target="production", actor=DATA)
    assert check_promotion(store, cfg, ref, to="production", actor=ML) == []


def test_count_above_one_needs_distinct_approvers(registrar: Registrar, store: Store) -> None:
    cfg = _wide([{"count": 2, "roles": ["platform"]}])
    ref = _staged(registrar)
    approve(store, cfg, ref, target="production", actor=PLATFORM)
    with pytest.raises(RegistryError, match="already approved churn:1 for production"):
        approve(store, cfg, ref, target="production", actor=PLATFORM)
    with pytest.raises(PolicyViolation, match=re.escape(
        "Model 'churn' v1 lacks 1 approval from role 'platform'"
    )):
        promote(store, cfg, ref, to="production", actor=ML)
    approve(store, cfg, ref, target="production", actor=SAM)
    assert promote(store, cfg, ref, to="production", actor=ML).version == 1


def test_a_person_counts_for_one_rule_only(registrar: Registrar, store: Store) -> None:
    cfg = _wide([{"count": 1, "roles": ["platform"]}, {"count": 1, "roles": ["data"]}])
    ref = _staged(registrar)
    approve(store, cfg, ref, target="production", actor=BOTH)  # platform and data
    assert check_promotion(store, cfg, ref, to="production", actor=ML) == [
        "Model 'churn' v1 lacks 1 approval from role 'data' (the author ana@example.com may not "
        "approve); run: assay models approve churn:1 --for production"
    ]
    approve(store, cfg, ref, target="production", actor=PLATFORM)
    assert check_promotion(store, cfg, ref, to="production", actor=ML) == []


def test_several_rules_each_report_their_shortfall(registrar: Registrar, store: Store) -> None:
    cfg = _wide([{"count": 2, "roles": ["platform"]}, {"count": 1, "roles": ["data"]},
                 {"count": 1}])
    ref = _staged(registrar)
    approve(store, cfg, ref, target="production", actor=SAM)
    gaps = check_promotion(store, cfg, ref, to="production", actor=ML)
    assert [g.split(" (")[0] for g in gaps] == [
        "Model 'churn' v1 lacks 1 approval from role 'platform'",
        "Model 'churn' v1 lacks 1 approval from role 'data'",
        "Model 'churn' v1 lacks 1 approval from any team member",
    ]
    for actor in (PLATFORM, DATA, BOTH):
        approve(store, cfg, ref, target="production", actor=actor)
    assert check_promotion(store, cfg, ref, to="production", actor=ML) == []


def test_a_member_no_rule_can_use_is_refused(registrar: Registrar, store: Store) -> None:
    cfg = _wide([{"count": 1, "roles": ["platform"]}, {"count": 1, "roles": ["data"]}])
    ref = _staged(registrar)
    with pytest.raises(PolicyViolation, match=re.escape(
        "ana@example.com has role(s) ml; to approve churn:1 for production the policy needs "
        "role 'data' or 'platform'"
    )):
        approve(store, cfg, ref, target="production", actor=ML)


@pytest.mark.parametrize(
    ("rules", "approvers", "expected"),
    [
        ([{"count": 1, "roles": ["platform"]}, {"count": 1}], {"p": {"platform"}}, [1, 0]),
        ([{"count": 1}, {"count": 1, "roles": ["platform"]}], {"p": {"platform"}}, [0, 1]),
        ([{"count": 2}], {"a": set(), "b": {"data"}, "c": {"ml"}}, [2]),
        ([{"count": 1, "roles": ["data"]}, {"count": 1, "roles": ["data", "platform"]}],
         {"d": {"data"}, "dp": {"data", "platform"}}, [1, 1]),
        ([{"count": 0}], {"a": set()}, [0]),
    ],
    ids=["restricted-first", "open-rule-left-for-others", "any-members", "overlap", "zero"],
)
def test_count_approvals_is_a_maximum_matching(
    rules: list[dict[str, object]], approvers: dict[str, set[str]], expected: list[int]
) -> None:
    parsed = [ApprovalRule.model_validate(r) for r in rules]
    assert count_approvals(parsed, approvers) == expected
