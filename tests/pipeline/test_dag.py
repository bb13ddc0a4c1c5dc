"""Building the DAG: matrix expansion, interpolation, inferred edges, and the checks before a run."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.errors import ConfigError, PipelineError, UsageError
from assay.pipeline import build_dag, compute_cache_key, slugify
from tests.conftest import TmpProject
from tests.pipeline.conftest import three_stages


def test_matrix_expands_into_named_instances_referenced_as_a_group(tmp_project: TmpProject) -> None:
    dag = build_dag(three_stages(tmp_project).load())
    assert list(dag.stages) == ["prep", "train[model=rf]", "train[model=lr]", "report"]
    assert dag.groups == {"train": ["train[model=rf]", "train[model=lr]"]}
    rf = dag.stages["train[model=rf]"]
    assert rf.needs == ["prep"]  # inferred from data/prep.txt
    assert rf.outs == ["models/train-model-rf.txt"]
    assert rf.metrics == ["models/train-model-rf.json"]
    assert "echo train[model=rf] >> runs.log" in (rf.cmd or "")
    assert rf.params == {"train.trees": 5}
    assert dag.stages["report"].needs == ["train[model=rf]", "train[model=lr]"]
    assert dag.stages["report"].deps == [  # outs of needed stages count as deps
        "models/train-model-rf.txt", "models/train-model-rf.json",
        "models/train-model-lr.txt", "models/train-model-lr.json",
    ]
    assert dag.stages["prep"].cmd is not None and "seq 10" in dag.stages["prep"].cmd


def test_null_and_boolean_matrix_values_are_named_as_in_yaml(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"train": {
        "matrix": {"weights": [None, "balanced"], "scale": [True]},
        "cmd": "echo ${matrix.weights} ${matrix.scale} > out-${matrix.weights}.txt",
        "outs": ["out-${matrix.weights}.txt"]}})
    dag = build_dag(tmp_project.load())
    assert list(dag.stages) == ["train[weights=null,scale=true]",
                                "train[weights=balanced,scale=true]"]
    first = dag.stages["train[weights=null,scale=true]"]
    assert first.outs == ["out-null.txt"] and "echo null true" in (first.cmd or "")


def test_profile_overrides_params_and_selects_stages(tmp_project: TmpProject) -> None:
    three_stages(tmp_project, report={"profiles": ["default"]})
    dag = build_dag(tmp_project.load(), profile="ci")
    assert "report" not in dag.stages
    assert dag.stages["prep"].params == {"prep.rows": 3}


def test_default_is_the_profile_of_a_plain_run(tmp_project: TmpProject) -> None:
    three_stages(tmp_project, report={"profiles": ["default"]},
                 smoke={"cmd": "true", "profiles": ["ci"]})
    plain = build_dag(tmp_project.load())
    assert "report" in plain.stages and "smoke" not in plain.stages
    assert list(build_dag(tmp_project.load(), profile="default").stages) == list(plain.stages)
    ci = build_dag(tmp_project.load(), profile="ci")
    assert "smoke" in ci.stages and "report" not in ci.stages


def test_unknown_stage_profile_is_a_config_error_with_line_and_suggestion(
    tmp_project: TmpProject,
) -> None:
    three_stages(tmp_project, report={"profiles": ["cii"]})
    result = tmp_project.invoke("run")
    assert result.code == 2
    line = next(i for i, text in enumerate(
        (tmp_project.root / "assay.yaml").read_text().splitlines(), 1) if "cii" in text)
    assert result.stderr.strip().splitlines()[-1].endswith(
        f"assay.yaml:{line}: stages.report.profiles: unknown profile 'cii'; did you mean "
        "'ci'? (profiles: ci, default)")
    assert tmp_project.invoke("status").code == 2


def test_a_profile_named_default_is_rejected(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"a": {"cmd": "true"}}, profiles={"default": {"params": {}}})
    with pytest.raises(ConfigError, match=r"'default' is the built-in profile of a plain"):
        tmp_project.load()


def test_unknown_profile_is_a_usage_error(tmp_project: TmpProject) -> None:
    with pytest.raises(UsageError, match=r"Unknown profile 'cj'.*profiles in assay\.yaml: ci"):
        build_dag(three_stages(tmp_project).load(), profile="cj")


def test_slug_is_filesystem_safe() -> None:
    assert slugify("train[model=rf,lr=0.1]") == "train-model-rf-lr-0.1"
    assert slugify("a b/c") == "a-b-c"


@pytest.mark.parametrize(
    ("stages", "params", "message"),
    [
        pytest.param(
            {"a": {"cmd": "x", "deps": ["b.txt"], "outs": ["a.txt"]},
             "b": {"cmd": "x", "deps": ["a.txt"], "outs": ["b.txt"]}},
            {}, r"cycle: (a -> b -> a|b -> a -> b)", id="cycle",
        ),
        pytest.param({"a": {"cmd": "x", "deps": ["nowhere.csv"]}}, {},
                     r"stage 'a' depends on 'nowhere.csv', which does not exist", id="missing-dep"),
        pytest.param({"a": {"cmd": "x", "outs": ["o.txt"]}, "b": {"cmd": "y", "outs": ["o.txt"]}},
                     {}, r"Stages 'a' and 'b' both write 'o.txt'", id="two-writers"),
        pytest.param({"a": {"cmd": "x", "outs": ["out"]}, "b": {"cmd": "y", "outs": ["out/x"]}},
                     {}, r"overlaps 'out'", id="nested-outs"),
        pytest.param({"a": {"cmd": "x", "params": ["train.tress"]}},
                     {"train": {"trees": 1}},
                     r"stage 'a' uses param 'train.tress', which is not in params.yaml; did you "
                     r"mean 'train.trees'", id="unknown-param"),
        pytest.param({"a": {"cmd": "echo ${params.nope}"}}, {"seed": 1},
                     r"uses param 'nope'", id="unknown-interpolated-param"),
        pytest.param({"a": {"cmd": "x", "needs": ["prepp"]}, "prep": {"cmd": "y"}}, {},
                     r"stage 'a' needs unknown stage 'prepp'; did you mean 'prep'", id="unknown-need"),
        pytest.param({"a": {"cmd": "echo ${matrix.model}"}}, {},
                     r"its matrix has no key 'model'", id="unknown-matrix-key"),
        pytest.param({"a": {"cmd": "echo ${foo}"}}, {}, r"unknown variable \$\{foo\}", id="unknown-var"),
        pytest.param({"a": {"deps": ["x"]}}, {}, r"needs exactly one of 'cmd' or 'kind'", id="no-cmd"),
        pytest.param({"a": {"cmd": "x", "outs": ["../escape.txt"]}}, {}, r"'\.\.' is not allowed",
                     id="unsafe-out"),
        pytest.param({"a": {"kind": "tarin"}}, {}, r"unknown stage kind 'tarin'.*known kinds: .*echo",
                     id="unknown-kind"),
    ],
)
def test_invalid_pipelines_are_rejected_before_anything_runs(
    tmp_project: TmpProject, stages: dict[str, Any], params: dict[str, Any], message: str
) -> None:
    tmp_project.gen({"params.yaml": params}).config(stages=stages)
    with pytest.raises(PipelineError, match=message):
        build_dag(tmp_project.load())
    result = tmp_project.invoke("run")
    assert result.code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert not (tmp_project.root / "assay.lock").exists()


def test_kind_options_errors_name_the_assay_yaml_line(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"e": {"kind": "echo", "mesage": "hi", "out": "o.json"}})
    result = tmp_project.invoke("run")
    assert result.code == 2
    assert "assay.yaml:" in result.stderr and "stages.e.mesage" in result.stderr
    assert "did you mean 'message'" in result.stderr


def test_unknown_stage_name_on_the_command_line(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    result = tmp_project.invoke("run", "trian")
    assert result.code == 2
    assert "Unknown stage 'trian'; did you mean 'train'" in result.stderr


def test_malformed_yaml_is_one_clear_line(tmp_project: TmpProject) -> None:
    tmp_project.gen({"assay.yaml": "stages:\n  a:\n    cmd: [oops\n"})
    result = tmp_project.invoke("run")
    assert result.code == 2
    assert "assay.yaml:" in result.stderr and "Traceback" not in result.output


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6),
       st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4))
def test_cache_key_does_not_depend_on_dict_order(params: dict[str, Any], deps: dict[str, str]) -> None:
    definition = {"cmd": "python train.py", "env": {"A": "1", "B": "2"}, "outs": ["m"]}
    key = compute_cache_key(definition, dict(deps), params)
    reversed_params = dict(reversed(list(params.items())))
    reversed_deps = dict(reversed(list(deps.items())))
    reversed_def = dict(reversed(list(definition.items())))
    assert compute_cache_key(reversed_def, reversed_deps, reversed_params) == key


def test_cache_key_changes_with_each_input() -> None:
    base = compute_cache_key({"cmd": "a"}, {"d": "h1"}, {"p": 1})
    assert compute_cache_key({"cmd": "b"}, {"d": "h1"}, {"p": 1}) != base
    assert compute_cache_key({"cmd": "a"}, {"d": "h2"}, {"p": 1}) != base
    assert compute_cache_key({"cmd": "a"}, {"d": "h1"}, {"p": 2}) != base
