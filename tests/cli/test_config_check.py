"""``assay config check`` makes every check ``assay run`` makes before it runs anything: a
configuration it calls valid is one the run accepts, and a broken one gets the same one-line
reason, with its file and line, from both (exit 2)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from assay import examples
from tests.conftest import TmpProject

BASE_FILES = {
    "params.yaml": "seed: 1\ntrain:\n  lr: 0.1\n",
    "prep.py": "open('ran.txt', 'w').write('ran')\nopen('data/clean.csv', 'w').write('a\\n1\\n')\n",
    "data/raw.csv": "a,b\n1,2\n",
    "contracts/raw.yaml": "data: data/raw.csv\ncolumns:\n  a: {dtype: int}\n",
}
PREP = ("  prep:\n    cmd: python prep.py\n    deps: [prep.py, data/raw.csv]\n"
        "    outs: [data/clean.csv]\n")
MARK = "# <"  # the line the error must name ends with this


def _config(stages: str, head: str = "") -> str:
    return f"project: t\n{head}stages:\n{stages}"


def _laughs() -> str:
    """A billion laughs: the fifth level (line 6, marked) passes the reader's limit."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    lines[5] += "  " + MARK
    return "\n".join(lines) + "\n"


def _contract_stage(contract: str) -> str:
    return _config(PREP + "  check:\n    kind: validate  # <\n    contract: raw\n", head=(
        f"contracts:\n  raw: {{path: {contract}, data: data/raw.csv}}\n"))


@dataclass(frozen=True)
class Broken:
    """A broken project: its assay.yaml, more files, the reason expected (a regex) and the
    ``assay run`` arguments that reach the problem. The line the error names ends with ``# <``
    in assay.yaml or in one of ``files``."""

    id: str
    config: str
    reason: str
    files: dict[str, str] = field(default_factory=dict)
    run: tuple[str, ...] = ()


EVALUATE = ("  evaluate:\n    kind: evaluate\n    candidates: [prep]\n"
            "    datasets: {holdout: data/raw.csv}\n    target: b\n")

BROKEN = [
    # stage shape
    Broken("unknown-kind", _config("  t:\n    kind: trian  # <\n"),
           r"unknown stage kind 'trian'; did you mean 'train'\?"),
    Broken("cmd-with-kind", _config("  t:  # <\n    cmd: echo\n    kind: train\n"),
           r"stage 't' needs exactly one of 'cmd' or 'kind'"),
    Broken("neither-cmd-nor-kind", _config("  t:  # <\n    deps: [prep.py]\n"),
           r"stage 't' needs exactly one of 'cmd' or 'kind'"),
    Broken("kind-option-on-cmd-stage",
           _config("  t:\n    cmd: echo\n    estimator: rf  # <\n"),
           r"stages\.t\.estimator: unknown key 'estimator'"),
    # ordering
    Broken("unknown-needs", _config(PREP + "  t:\n    cmd: echo\n    needs: [prepp]  # <\n"),
           r"stage 't' needs unknown stage 'prepp'; did you mean 'prep'\?"),
    Broken("needs-itself", _config("  t:\n    cmd: echo\n    needs: [t]  # <\n"),
           r"stage 't' needs itself; remove 't' from its needs"),
    Broken("matrix-needs-its-group",
           _config("  t:\n    cmd: echo ${matrix.m}\n    matrix: {m: [1, 2]}\n"
                   "    needs: [t]  # <\n"),
           r"stage 't\[m=1\]' needs itself; remove 't' from its needs"),
    Broken("cycle-of-needs", _config("  a:  # <\n    cmd: echo\n    needs: [b]\n"
                                     "  b:\n    cmd: echo\n    needs: [a]\n"),
           r"The pipeline has a cycle: a -> b -> a"),
    Broken("cycle-of-files",
           _config("  a:  # <\n    cmd: echo\n    deps: [b.txt]\n    outs: [a.txt]\n"
                   "  b:\n    cmd: echo\n    deps: [a.txt]\n    outs: [b.txt]\n"),
           r"The pipeline has a cycle: a -> b -> a"),
    # outs and deps
    Broken("two-writers", _config(PREP + "  dup:\n    cmd: echo\n    outs: [data/clean.csv]  # <\n"),
           r"Stages 'prep' and 'dup' both write 'data/clean.csv'"),
    Broken("nested-outs", _config(PREP + "  dup:\n    cmd: echo\n    outs: [data]  # <\n"),
           r"Stages 'prep' and 'dup' both write 'data' \(overlaps 'data/clean\.csv'\)"),
    Broken("dep-is-own-out",
           _config("  t:\n    cmd: echo\n    deps: [out.csv]  # <\n    outs: [out.csv]\n"),
           r"stage 't' depends on 'out\.csv', which it writes itself; a stage cannot read its "
           r"own output"),
    Broken("dep-inside-own-out",
           _config("  t:\n    cmd: echo\n    deps: [out/x.csv]  # <\n    outs: [out]\n"),
           r"stage 't' depends on 'out/x\.csv', which it writes itself \(its out 'out'\)"),
    Broken("out-inside-own-dep",
           _config("  t:\n    cmd: echo\n    deps: [data]  # <\n    outs: [data/new.csv]\n"),
           r"stage 't' depends on 'data', which it writes itself \(its out 'data/new\.csv'\)"),
    Broken("out-absolute", _config("  t:\n    cmd: echo\n    outs: [/tmp/x]  # <\n"),
           r"Unsafe out of stage 't' '/tmp/x': absolute paths are not allowed"),
    Broken("out-outside", _config("  t:\n    cmd: echo\n    outs: [../x]  # <\n"),
           r"Unsafe out of stage 't' '\.\./x': '\.\.' is not allowed"),
    Broken("out-in-git", _config("  t:\n    cmd: echo\n    outs: [.git/hooks/pre-commit]  # <\n"),
           r"Unsafe out of stage 't' '\.git/hooks/pre-commit': '\.git' is not allowed"),
    Broken("out-is-assay", _config("  t:\n    cmd: echo\n    outs: [.assay]  # <\n"),
           r"Unsafe out of stage 't' '\.assay': '\.assay' is not allowed"),
    Broken("out-in-assay-cache", _config("  t:\n    cmd: echo\n    outs: [.assay/cache]  # <\n"),
           r"Unsafe out of stage 't' '\.assay/cache': '\.assay' is not allowed"),
    Broken("out-from-a-param-is-git",
           _config("  t:\n    cmd: echo\n    outs: ['${params.where}']  # <\n"),
           r"Unsafe out of stage 't' '\.git': '\.git' is not allowed",
           files={"params.yaml": "where: .git\n"}),
    Broken("matrix-out-is-assay",
           _config("  t:\n    cmd: echo\n    matrix: {d: [ok, .assay]}\n"
                   "    outs: ['${matrix.d}']  # <\n"),
           r"Unsafe out of stage 't\[d=\.assay\]' '\.assay': '\.assay' is not allowed"),
    Broken("dep-in-assay", _config("  t:\n    cmd: echo\n    deps: [.assay/assay.db]  # <\n"),
           r"Unsafe dep of stage 't' '\.assay/assay\.db': '\.assay' is not allowed"),
    Broken("dep-in-git", _config("  t:\n    cmd: echo\n    deps: [.git/config]  # <\n"),
           r"Unsafe dep of stage 't' '\.git/config': '\.git' is not allowed"),
    Broken("metrics-outside", _config("  t:\n    cmd: echo\n    metrics: [../m.json]  # <\n"),
           r"Unsafe metrics file of stage 't' '\.\./m\.json': '\.\.' is not allowed"),
    Broken("out-over-the-cache",
           _config("  t:\n    cmd: echo\n    outs: [cache/x]  # <\n", head="cache: {dir: cache}\n"),
           r"stage 't' writes 'cache/x', which overlaps the cache folder 'cache' \(cache\.dir\)"),
    # the cache folder
    Broken("cache-in-git", _config(PREP, head="cache:\n  dir: .git/assay-cache  # <\n"),
           r"cache\.dir: '\.git/assay-cache' is inside \.git"),
    Broken("cache-is-the-project", _config(PREP, head="cache:\n  dir: .  # <\n"),
           r"cache\.dir: '\.' is the project folder or holds it"),
    Broken("cache-holds-the-project", _config(PREP, head="cache:\n  dir: ..  # <\n"),
           r"cache\.dir: '\.\.' is the project folder or holds it"),
    Broken("cache-is-assay", _config(PREP, head="cache:\n  dir: .assay  # <\n"),
           r"cache\.dir: '\.assay' is \.assay itself"),
    Broken("cache-is-tracked-data", _config(PREP, head="cache:\n  dir: data/images  # <\n"),
           r"cache\.dir: 'data/images' is tracked data \(data/images\.assay points at data/images\)",
           files={"data/images.assay": "oid: x\n"}),
    Broken("cache-inside-tracked-data",
           _config(PREP, head="cache:\n  dir: data/images/cache  # <\n"),
           r"cache\.dir: 'data/images/cache' is inside tracked data data/images",
           files={"data/images.assay": "oid: x\n"}),
    Broken("cache-is-a-dataset",
           _config(PREP, head="datasets: {raw: data/raw}\ncache:\n  dir: data/raw/c  # <\n"),
           r"cache\.dir: 'data/raw/c' overlaps dataset 'raw' \(data/raw\)"),
    # paths elsewhere in assay.yaml
    Broken("params-file-outside", _config(PREP, head="params: [../shared.yaml]  # <\n"),
           r"params\.0: Unsafe params file '\.\./shared\.yaml': '\.\.' is not allowed"),
    Broken("dataset-in-git", _config(PREP, head="datasets:\n  raw: .git/x.csv  # <\n"),
           r"datasets\.raw: Unsafe dataset path '\.git/x\.csv': '\.git' is not allowed"),
    # numbers
    Broken("negative-timeout", _config("  t:\n    cmd: echo\n    timeout: -1  # <\n"),
           r"stages\.t\.timeout: Input should be greater than 0 \(got -1\)"),
    Broken("nan-timeout", _config("  t:\n    cmd: echo\n    timeout: .nan  # <\n"),
           r"stages\.t\.timeout: Input should be a finite number"),
    Broken("unbounded-retries", _config("  t:\n    cmd: echo\n    retries: 1000000  # <\n"),
           r"stages\.t\.retries: Input should be less than or equal to 10 \(got 1000000\)"),
    Broken("negative-retries", _config("  t:\n    cmd: echo\n    retries: -1  # <\n"),
           r"stages\.t\.retries: Input should be greater than or equal to 0"),
    Broken("negative-cpus",
           _config("  t:\n    cmd: echo\n    resources:\n      cpus: -2  # <\n"),
           r"stages\.t\.resources\.cpus: Input should be greater than 0 \(got -2\)"),
    Broken("negative-gpus",
           _config("  t:\n    cmd: echo\n    resources:\n      gpus: -1  # <\n"),
           r"stages\.t\.resources\.gpus: Input should be greater than or equal to 0"),
    Broken("negative-memory",
           _config("  t:\n    cmd: echo\n    resources:\n      memory: -2GB  # <\n"),
           r"stages\.t\.resources\.memory: not an amount of memory; use a number and a unit"),
    # params
    Broken("unresolved-param",
           _config("  t:  # <\n    cmd: echo ${params.train.lrr}\n"),
           r"stage 't' uses param 'train\.lrr', which is not in params\.yaml; did you mean "
           r"'train\.lr'\?"),
    Broken("unknown-declared-param",
           _config("  t:\n    cmd: echo\n    params: [train.depth]  # <\n"),
           r"stage 't' uses param 'train\.depth', which is not in params\.yaml"),
    Broken("param-from-a-missing-file",
           _config("  t:\n    cmd: echo\n    params: [{other.yaml: [x]}]  # <\n"),
           r"stage 't' uses param 'x', which is not in other\.yaml"),
    Broken("params-file-escapes",
           _config("  t:\n    cmd: echo\n    params: [{../x.yaml: [x]}]  # <\n"),
           r"Unsafe params file of stage 't' '\.\./x\.yaml': '\.\.' is not allowed"),
    Broken("unknown-matrix-key", _config("  t:  # <\n    cmd: echo ${matrix.model}\n"),
           r"stage 't' uses \$\{matrix\.model\}, but its matrix has no key 'model'"),
    Broken("unknown-variable", _config("  t:  # <\n    cmd: echo ${foo}\n"),
           r"stage 't': unknown variable \$\{foo\}"),
    Broken("params-yaml-malformed", _config(PREP),
           r"malformed YAML: found character that cannot start any token \(a tab: indent YAML "
           r"with spaces\)", files={"params.yaml": "seed: 1\ntrain:\n\tlr: 0.1  # <\n"}),
    Broken("params-yaml-not-a-mapping", _config(PREP),
           r"params\.yaml:1: expected a mapping of params",
           files={"params.yaml": "- 1  # <\n- 2\n"}),
    Broken("params-yaml-duplicate-key", _config(PREP),
           r"duplicate key 'seed' \(first defined on line 1\)",
           files={"params.yaml": "seed: 1\nlr: 0.1\nseed: 2  # <\n"}),
    Broken("params-yaml-billion-laughs", _config(PREP),
           r"too many values: more than 250,000 once aliases are expanded",
           files={"params.yaml": _laughs()}),
    # kinds: options, metrics, contracts
    Broken("train-option-typo",
           _config("  t:\n    kind: train\n    estimator: random_forest\n"
                   "    hyperparms: {n_estimators: 5}  # <\n    data: data/raw.csv\n"
                   "    target: b\n"),
           r"stages\.t\.hyperparms: unknown key 'hyperparms'; did you mean 'hyperparams'\?"),
    Broken("unknown-gate-metric",
           _config(PREP + EVALUATE + "    gates:\n      - {metric: roc_aux, min: 0.5}  # <\n"),
           r"stages\.evaluate\.gates\.0\.metric: unknown metric 'roc_aux'; did you mean "
           r"'roc_auc'\?"),
    Broken("unknown-select-metric",
           _config(PREP + EVALUATE + "    select: {metric: acuracy}  # <\n"),
           r"stages\.evaluate\.select\.metric: unknown metric 'acuracy'; did you mean "
           r"'accuracy'\?"),
    Broken("unknown-gate-dataset",
           _config(PREP + EVALUATE.replace("evaluate\n    candidates", "evaluate  # <\n    candidates")
                   + "    gates:\n      - {metric: accuracy, min: 0.5, dataset: holdot}\n"),
           r"stage 'evaluate': gates\[0\]: unknown dataset 'holdot'; did you mean 'holdout'\?"),
    Broken("unknown-select-slice",
           _config(PREP + EVALUATE.replace("evaluate\n    candidates", "evaluate  # <\n    candidates")
                   + "    slices: {new: 'a < 1'}\n    select: {metric: accuracy, slice: nwe}\n"),
           r"stage 'evaluate': select: unknown slice 'nwe'"),
    Broken("register-bad-model-name",
           _config(PREP + EVALUATE + "  reg:\n    kind: register  # <\n    evaluation: evaluate\n"
                   "    model: my model!\n"),
           r"stage 'reg': 'my model!' is not a valid model name"),
    Broken("register-bad-alias",
           _config(PREP + EVALUATE + "  reg:\n    kind: register  # <\n    evaluation: evaluate\n"
                   "    model: churn\n    alias: 1st choice\n"),
           r"stage 'reg': '1st choice' is not a valid alias"),
    Broken("register-unknown-evaluation",
           _config(PREP + EVALUATE + "  reg:\n    kind: register  # <\n    evaluation: evaluat\n"
                   "    model: churn\n"),
           r"stage 'reg': Unknown stage 'evaluat'"),
    Broken("unknown-candidate",
           _config(PREP + EVALUATE.replace("evaluate\n    candidates: [prep]",
                                           "evaluate  # <\n    candidates: [prepp]")),
           r"stage 'evaluate': Unknown stage 'prepp'"),
    Broken("unknown-contract",
           _config(PREP + "  check:\n    kind: validate  # <\n    contract: nope\n"),
           r"stage 'check': No contract 'nope': not registered under contracts: in assay\.yaml "
           r"and no contracts/nope\.yaml"),
    Broken("contract-file-missing", _contract_stage("contracts/missing.yaml"),
           r"stage 'check': Contract file .*contracts/missing\.yaml does not exist"),
    Broken("contract-malformed", _contract_stage("contracts/bad.yaml"),
           r"malformed YAML", files={"contracts/bad.yaml": "columns:\n  a: {dtype: [int  # <\n"}),
    Broken("contract-unknown-key", _contract_stage("contracts/bad.yaml"),
           r"columns\.a\.dtyp: unknown key 'dtyp'; did you mean 'dtype'\?",
           files={"contracts/bad.yaml": "columns:\n  a:\n    dtyp: int  # <\n"}),
    Broken("contract-bad-regex", _contract_stage("contracts/bad.yaml"),
           r"columns\.a\.regex: regex '\(\[a-z' does not compile",
           files={"contracts/bad.yaml": "columns:\n  a: {regex: '([a-z'}  # <\n"}),
    Broken("contract-bad-sql", _contract_stage("contracts/bad.yaml"),
           r"checks\[0\]\.sql: SQL 'a >' does not parse",
           files={"contracts/bad.yaml": "checks:\n  - sql: 'a >'  # <\n"}),
    Broken("contract-bad-where", _contract_stage("contracts/bad.yaml"),
           r"columns\.a\.nullable\.where: SQL 'b >>> 1' does not parse",
           files={"contracts/bad.yaml":
                  "columns:\n  a:\n    nullable: {value: false, where: 'b >>> 1'}  # <\n"}),
    Broken("contract-bad-expr", _contract_stage("contracts/bad.yaml"),
           r"checks\[0\]\.expr: expression \"pl\.col\('a'\) >\" is not valid Python",
           files={"contracts/bad.yaml": "checks:\n  - expr: \"pl.col('a') >\"  # <\n"}),
    Broken("contract-bad-compare", _contract_stage("contracts/bad.yaml"),
           r"checks\[0\]\.compare: compare 'a >= b \+ 1' must look like 'end >= start'",
           files={"contracts/bad.yaml": "checks:\n  - compare: a >= b + 1  # <\n"}),
    Broken("contract-billion-laughs", _contract_stage("contracts/bad.yaml"),
           r"too many values: more than 250,000 once aliases are expanded",
           files={"contracts/bad.yaml": _laughs()}),
    # profiles
    Broken("unknown-stage-profile",
           _config("  t:\n    cmd: echo\n    profiles: [cii]  # <\n",
                   head="profiles:\n  ci: {}\n"),
           r"stages\.t\.profiles: unknown profile 'cii'; did you mean 'ci'\?"),
    Broken("broken-only-in-a-profile",
           _config("  t:  # <\n    cmd: echo ${params.nope}\n    profiles: [ci]\n",
                   head="profiles:\n  ci: {}\n"),
           r"stage 't' uses param 'nope', which is not in params\.yaml", run=("--profile", "ci")),
    Broken("needs-a-stage-the-profile-skips",
           _config("  a:\n    cmd: echo\n    profiles: [default]\n"
                   "  b:\n    cmd: echo\n    needs: [a]  # <\n", head="profiles:\n  ci: {}\n"),
           r"stage 'b' needs 'a', which this profile does not run", run=("--profile", "ci")),
]


def _marked(text: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.rstrip().endswith(MARK):
            return number
    return None


def _location(case: Broken) -> str:
    """``NAME:LINE`` of the line marked in assay.yaml or in one of the files."""
    for name, text in [("assay.yaml", case.config), *case.files.items()]:
        line = _marked(text)
        if line is not None:
            return f"{Path(name).name}:{line}"
    raise AssertionError(f"{case.id}: no line is marked with {MARK!r}")


def _write(tmp_path: Path, case: Broken) -> TmpProject:
    root = tmp_path / "project"
    (root / ".assay").mkdir(parents=True)
    project = TmpProject(root).gen({**BASE_FILES, "assay.yaml": case.config, **case.files})
    return project


@pytest.mark.parametrize("case", BROKEN, ids=[case.id for case in BROKEN])
def test_config_check_refuses_what_run_refuses_with_the_same_reason(
    tmp_path: Path, case: Broken
) -> None:
    project = _write(tmp_path, case)
    check = project.invoke("config", "check")
    assert check.code == 2, check.output
    [line] = check.stderr.strip().splitlines()
    assert line.startswith("error: ") and re.search(case.reason, line), line
    assert re.search(rf"(^error: |/){re.escape(_location(case))}: ", line), line
    profile = f" (with --profile {case.run[1]})" if case.run else ""
    assert line.endswith(profile)

    run = project.invoke("run", *case.run)
    assert run.code == 2, run.output
    assert run.stderr.strip().splitlines() == [line.removesuffix(profile)]
    assert not (project.root / "ran.txt").exists()
    assert not (project.root / "assay.lock").exists()


def test_there_are_at_least_39_broken_variants_with_distinct_names() -> None:
    assert len({case.id for case in BROKEN}) == len(BROKEN) >= 39


def test_the_churn_example_is_valid_before_its_data_exists(tmp_path: Path) -> None:
    root = tmp_path / "churn"
    root.mkdir()
    for rel, content in examples.files("churn").items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    project = TmpProject(root)
    result = project.invoke("config", "check")
    assert result.code == 0, result.output
    assert result.stdout.splitlines()[-1] == "assay.yaml is valid"
    assert not (root / ".assay" / "assay.db").exists()  # checking opens no store


def test_valid_pipelines_pass_and_run(tmp_project: TmpProject) -> None:
    tmp_project.gen({**BASE_FILES, "assay.yaml": _config(
        PREP + "  check:\n    kind: validate\n    contract: raw\n"
        "  t:\n    cmd: echo ${params.train.lr} > t.txt\n    needs: [prep]\n"
        "    params: [seed]\n    outs: [t.txt]\n    timeout: 30\n    retries: 2\n"
        "    resources: {cpus: 1, memory: 512MB, gpus: 0}\n    profiles: [default, ci]\n",
        head="cache: {dir: .assay/objects}\nprofiles:\n  ci: {params: {train.lr: 0.5}}\n"
             "contracts:\n  raw: {path: contracts/raw.yaml, data: data/raw.csv}\n")})
    result = tmp_project.invoke("config", "check")
    assert result.code == 0, result.output
    run = tmp_project.invoke("run")
    assert run.code == 0, run.output
    assert (tmp_project.root / "t.txt").read_text() == "0.1\n"


@pytest.mark.parametrize("out", [".assay", ".assay/cache", ".assay/assay.db", ".git", ".git/hooks",
                                 "./.git/", "sub/../.assay"])
def test_an_out_naming_assay_or_git_is_refused_before_anything_is_cleared(
    tmp_project: TmpProject, out: str
) -> None:
    keep = {".assay/cache/ab/cdef": "object", ".assay/assay.db": "store", ".git/HEAD": "ref\n",
            ".git/hooks/pre-commit.sample": "#!/bin/sh\n"}
    tmp_project.gen({**keep, "assay.yaml": _config(f"  t:\n    cmd: echo\n    outs: ['{out}']\n")})
    for args in (("config", "check"), ("run",), ("run", "--force"), ("status",)):
        result = tmp_project.invoke(*args)
        assert result.code == 2, (args, result.output)
        assert re.search(r"'(\.assay|\.git|\.\.)' is not allowed", result.stderr), result.stderr
    assert {rel: (tmp_project.root / rel).read_text() for rel in keep} == keep


def test_input_data_may_be_absent_for_config_check_but_run_says_to_pull_it(
    tmp_project: TmpProject,
) -> None:
    tmp_project.gen({**BASE_FILES, "assay.yaml": _config(PREP)})
    (tmp_project.root / "data" / "raw.csv").unlink()
    (tmp_project.root / "data" / "raw.csv.assay").write_text("oid: x\n")
    assert tmp_project.invoke("config", "check").code == 0
    run = tmp_project.invoke("run")
    assert run.code == 2
    assert run.stderr.strip().splitlines() == [
        "error: assay.yaml:5: stage 'prep' depends on 'data/raw.csv', tracked data "
        "(data/raw.csv.assay) not pulled into this workspace; run: assay data pull data/raw.csv"]


def test_config_check_also_checks_contracts_no_stage_uses(tmp_project: TmpProject) -> None:
    tmp_project.gen({**BASE_FILES, "contracts/bad.yaml": "checks:\n  - sql: 'a >'\n",
                     "assay.yaml": _config(PREP, head=(
                         "contracts:\n  good: {path: contracts/raw.yaml}\n"
                         "  bad: {path: contracts/bad.yaml, data: data/raw.csv}\n"))})
    result = tmp_project.invoke("config", "check")
    assert result.code == 2
    [line] = result.stderr.strip().splitlines()
    assert re.fullmatch(r"error: /.*/contracts/bad\.yaml:2: checks\[0\]\.sql: SQL 'a >' does not "
                        r"parse: .*", line), line
