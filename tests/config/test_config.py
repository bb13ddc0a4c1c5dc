from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.config import AssayConfig, Project, json_schema, parse_yaml
from assay.errors import ConfigError, UsageError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "assay.yaml").write_text(text)
    return tmp_path


def test_typo_names_file_line_key_and_suggests(tmp_path: Path) -> None:
    root = write(tmp_path, "project: x\nstages:\n  train:\n    cmd: python train.py\n    dpes: [a]\n")
    with pytest.raises(ConfigError, match=r"assay.yaml:5: stages.train.dpes: unknown key 'dpes'; did you mean 'deps'\?") as info:
        Project.load(root)
    assert info.value.fields == {"file": str(root / "assay.yaml"), "line": 5, "key": "stages.train.dpes"}


def test_top_level_typo_is_suggested(tmp_path: Path) -> None:
    root = write(tmp_path, "project: x\nremtoes: {}\n")
    with pytest.raises(ConfigError, match=r":2: remtoes: unknown key 'remtoes'; did you mean 'remotes'\?"):
        Project.load(root)


def test_wrong_type_reports_value_and_line(tmp_path: Path) -> None:
    root = write(tmp_path, "project: x\nstages:\n  a:\n    cmd: echo\n    retries: many\n")
    with pytest.raises(ConfigError, match=r":5: stages.a.retries: .*integer.*'many'"):
        Project.load(root)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    root = write(tmp_path, "project: x\nstages: [\n  a: b\n")
    with pytest.raises(ConfigError, match=r"assay.yaml:\d+: malformed YAML"):
        Project.load(root)


def test_duplicate_keys_are_errors() -> None:
    with pytest.raises(ConfigError, match=r"f.yaml:3: duplicate key 'a' \(first defined on line 1\)"):
        parse_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    root = write(tmp_path, "- a\n- b\n")
    with pytest.raises(ConfigError, match=r"expected a mapping at the top level, got list"):
        Project.load(root)


def test_no_project_found(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"No assay.yaml in .* run: assay init"):
        Project.load(tmp_path / "nowhere" if (tmp_path / "nowhere").mkdir() is None else None)


def test_remote_and_dataset_shorthands(tmp_path: Path) -> None:
    root = write(tmp_path, "remotes:\n  origin: s3://b/p\ndatasets:\n  churn: data/c.parquet\n")
    cfg = Project.load(root).config
    assert cfg.remotes["origin"].url == "s3://b/p"
    assert cfg.datasets["churn"].path == "data/c.parquet"


def test_yes_and_no_stay_strings() -> None:
    data, lines = parse_yaml("on: yes\nflag: true\n", "f.yaml")
    assert data == {"on": "yes", "flag": True}
    assert lines[("flag",)] == 2


def test_store_url_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(tmp_path, "store: sqlite:////tmp/from-config.db\n")
    assert Project.load(root).store_url == "sqlite:////tmp/from-config.db"
    monkeypatch.setenv("ASSAY_STORE_URL", "sqlite:////tmp/from-env.db")
    assert Project.load(root).store_url == "sqlite:////tmp/from-env.db"
    write(tmp_path, "project: x\n")
    monkeypatch.delenv("ASSAY_STORE_URL")
    assert Project.load(root).store_url == f"sqlite:///{root.resolve() / '.assay' / 'assay.db'}"


def test_json_schema_describes_every_section() -> None:
    schema = json.loads(json_schema())
    assert set(schema["properties"]) == set(AssayConfig.model_fields)
    assert schema["additionalProperties"] is False


def test_json_schema_accepts_the_shipped_example_and_the_documented_shorthands() -> None:
    import jsonschema
    import yaml

    import assay.examples

    schema = json.loads(json_schema())
    shipped = Path(assay.examples.__file__).parent / "churn" / "assay.yaml"
    example = yaml.safe_load(shipped.read_text())
    jsonschema.validate(example, schema)
    shorthand = {
        "remotes": {"origin": "../remote", "team": {"url": "s3://b/p", "jobs": 4}},
        "datasets": {"churn": "data/churn.parquet"},
        "cache": {"type": "copy"},
    }
    jsonschema.validate(shorthand, schema)
    with pytest.raises(jsonschema.ValidationError, match="stagse"):
        jsonschema.validate({"stagse": {}}, schema)


def test_param_values_in_a_stage_point_to_hyperparams(tmp_path: Path) -> None:
    path = write(tmp_path, "stages:\n  train:\n    kind: train\n    params: {n_estimators: 200}\n")
    with pytest.raises(ConfigError, match=r"assay.yaml:4: stages.train.params: params names keys "
                       r"of params.yaml .* use hyperparams: \{\.\.\.\}") as info:
        Project.load(path)
    assert "Value error" not in str(info.value)


def test_the_ray_executor_is_not_offered_before_it_exists(tmp_path: Path) -> None:
    path = write(tmp_path, "executor:\n  kind: ray\n")
    with pytest.raises(ConfigError, match=r"executor.kind"):
        Project.load(path)


DEPLOYMENT = "project: x\ndeployments:\n  prod:\n    model: churn@production\n"


@pytest.mark.parametrize(("where", "says"), [
    ("    url: http://127.0.0.1:9000\n    serve: {port: 9001}\n",
     r"assay.yaml:3: deployments.prod: a deployment has url: \(a server you run\) or serve: "
     r"\(a local server assay manages\), not both; remove one"),
    ("    strategy: canary\n",
     r"assay.yaml:3: deployments.prod: a deployment says where it is served: add url: "
     r"http://HOST:PORT \(a server you run\) or serve: \{port: PORT\}"),
    ("    serve: {host: 127.0.0.1}\n",
     r"assay.yaml:5: deployments.prod.serve.port: required key is missing"),
    ("    serve:\n      port: 9001\n      host: my-host\n",
     r"assay.yaml:7: deployments.prod.serve.host: 'my-host' is not an IP address: bind "
     r"127.0.0.1 \(this machine only, the default\) or 0.0.0.0 \(every interface\)"),
    ("    serve: {port: 9001, wrokers: 2}\n",
     r"assay.yaml:5: deployments.prod.serve.wrokers: unknown key 'wrokers'; did you mean "
     r"'workers'\?"),
    ("    served_at: http://127.0.0.1:9000\n",
     r"assay.yaml:5: deployments.prod.served_at: unknown key 'served_at'"),
], ids=["both", "neither", "no-port", "host-name", "typo", "internal-name"])
def test_a_deployment_is_served_at_a_url_or_by_a_managed_server_exactly_one(
        tmp_path: Path, where: str, says: str) -> None:
    root = write(tmp_path, DEPLOYMENT + where)
    with pytest.raises(ConfigError, match=says):
        Project.load(root)


@pytest.mark.parametrize(("where", "url", "managed", "args"), [
    ("    url: http://10.0.0.5:8080/\n", "http://10.0.0.5:8080", False, None),
    ("    serve: {port: 9001}\n", "http://127.0.0.1:9001", True,
     ["--host", "127.0.0.1", "--port", "9001", "--workers", "1"]),
    ("    serve: {port: 9001, host: 0.0.0.0, workers: 2, max_concurrency: 8, log_dir: logs,"
     " allow_pickle: true}\n", "http://127.0.0.1:9001", True,
     ["--host", "0.0.0.0", "--port", "9001", "--workers", "2", "--max-concurrency", "8",
      "--log-dir", "logs", "--allow-pickle"]),
    ("    serve: {port: 9001, host: '::'}\n", "http://[::1]:9001", True,
     ["--host", "::", "--port", "9001", "--workers", "1"]),
    ("    serve: {port: 9001, host: localhost}\n", "http://127.0.0.1:9001", True,
     ["--host", "127.0.0.1", "--port", "9001", "--workers", "1"]),
], ids=["url", "serve", "serve-everything", "serve-ipv6", "serve-localhost"])
def test_a_deployment_url_is_derived_from_serve(tmp_path: Path, where: str, url: str,
                                                managed: bool, args: list[str] | None) -> None:
    cfg = Project.load(write(tmp_path, DEPLOYMENT + where)).config.deployments["prod"]
    assert (cfg.url, cfg.is_managed) == (url, managed)
    assert (cfg.serve.arguments() if cfg.serve else None) == args
