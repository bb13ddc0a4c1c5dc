from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import TmpProject, invoke, run_assay

HEAVY = ["polars", "pandas", "sklearn", "fastapi", "ray", "numpy", "scipy", "pyarrow", "sqlalchemy.dialects.postgresql"]


@pytest.mark.parametrize("args", [["--help"], ["config", "--help"], ["init", "--help"]], ids=["root", "config", "init"])
def test_help_does_not_import_heavy_libraries(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from assay.cli import run\n"
        f"rc = run({args!r})\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in out.stdout, out.stdout[-500:]


def test_init_scaffolds_project(tmp_path: Path) -> None:
    result = invoke(["init", str(tmp_path / "p")])
    assert result.code == 0, result.output
    root = tmp_path / "p"
    assert (root / "assay.yaml").is_file()
    assert (root / ".assay" / "assay.db").is_file()
    assert "/.assay/" in (root / ".gitignore").read_text().splitlines()


def test_init_twice_is_usage_error(tmp_path: Path) -> None:
    assert invoke(["init", str(tmp_path)]).code == 0
    again = invoke(["init", str(tmp_path)])
    assert again.code == 2
    assert again.stderr.startswith("error: ") and "already exists" in again.stderr


def test_init_example_writes_churn_project(tmp_path: Path) -> None:
    result = invoke(["init", "--example", "churn", str(tmp_path / "c")])
    assert result.code == 0, result.output
    names = {p.name for p in (tmp_path / "c").iterdir()}
    assert {"assay.yaml", "params.yaml", "generate.py", "train.py", ".gitignore", ".assay"} <= names


def test_unknown_example(tmp_path: Path) -> None:
    result = invoke(["init", "--example", "nope", str(tmp_path)])
    assert result.code == 2
    assert "Unknown example 'nope'; available: churn" in result.stderr


def test_config_error_exits_2_with_one_line(tmp_project: TmpProject) -> None:
    tmp_project.gen({"assay.yaml": "project: x\nstagse: {}\n"})
    proc = tmp_project.run("config", "check")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_project.root / 'assay.yaml'}:2: stagse: unknown key 'stagse'; did you mean 'stages'?"
    ]
    assert "Traceback" not in proc.stderr


def test_debug_shows_traceback(tmp_project: TmpProject) -> None:
    tmp_project.gen({"assay.yaml": "project: x\nstagse: {}\n"})
    proc = tmp_project.run("--debug", "config", "check")
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr


def test_unknown_command_is_usage_error(tmp_project: TmpProject) -> None:
    assert tmp_project.invoke("frobnicate").code == 2


def test_config_check_json(tmp_project: TmpProject) -> None:
    result = tmp_project.invoke("config", "check", "--json")
    assert result.code == 0, result.output
    assert json.loads(result.stdout)["project"] == "test"


def test_outside_project_is_usage_error(tmp_path: Path) -> None:
    proc = run_assay(["config", "check"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "No assay.yaml" in proc.stderr and "assay init" in proc.stderr


LIGHT_COMMANDS = {
    "data-status": ["data", "status"],
    "data-add-text-file": ["data", "add", "notes.txt"],
    "config-check": ["config", "check"],
    "config-schema": ["config", "schema"],
    "gc": ["gc"],
    "fsck": ["fsck"],
}


@pytest.mark.parametrize("args", list(LIGHT_COMMANDS.values()), ids=list(LIGHT_COMMANDS))
def test_light_commands_do_not_import_heavy_libraries(tmp_project: TmpProject,
                                                      args: list[str]) -> None:
    tmp_project.gen({"notes.txt": "not a table\n", "other.bin": b"\x00" * 10})
    assert tmp_project.invoke("data", "add", "other.bin").code == 0
    code = (
        "import sys\n"
        "from assay.cli import run\n"
        f"rc = run({args!r})\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('RC=%d HEAVY=%s' % (rc, ','.join(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_project.root, capture_output=True,
                         text=True, check=True, env={**os.environ, **tmp_project.env})
    assert out.stdout.splitlines()[-1] == "RC=0 HEAVY=", out.stdout[-500:] + out.stderr[-500:]


def test_an_internal_error_exits_3_with_one_line(tmp_project: TmpProject) -> None:
    blocker = tmp_project.root.parent / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    env = {"ASSAY_STORE_URL": f"sqlite:///{blocker}/assay.db"}
    proc = tmp_project.run("data", "log", "x", env=env)
    assert proc.returncode == 3, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: internal error: ") and str(blocker) in line
    assert line.endswith("(rerun with --debug for a traceback)")
    debug = tmp_project.run("--debug", "data", "log", "x", env=env)
    assert debug.returncode == 3 and "Traceback (most recent call last)" in debug.stderr


def test_an_unreachable_store_exits_3_with_one_line(tmp_project: TmpProject) -> None:
    from tests.objects.s3server import free_port

    url = f"postgresql+psycopg://assay:secret@127.0.0.1:{free_port()}/assay"
    proc = tmp_project.run("data", "log", "x", env={"ASSAY_STORE_URL": url})
    assert proc.returncode == 3, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: Cannot reach the metadata store postgresql+psycopg://assay:***@")
    assert "secret" not in proc.stderr


def _actor(project: TmpProject, env: dict[str, str], cwd: Path | None = None) -> str:
    """Add a file as a real process and return the actor the store recorded for it."""
    full = {**{k: v for k, v in os.environ.items() if k != "ASSAY_USER"}, **env}
    name = f"f{len(list(project.root.glob('f*.txt')))}"
    (project.root / f"{name}.txt").write_text(name)
    for args in (["data", "add", f"{name}.txt"], ["data", "log", name, "--json"]):
        proc = subprocess.run([sys.executable, "-m", "assay", "-C", str(project.root), *args],
                              cwd=cwd or project.root, env=full, capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)[0]["actor"])


def _no_global_git(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
            "XDG_CONFIG_HOME": str(home)}


def test_identity_is_assay_user_then_git_email_of_the_project_then_the_os_user(
    tmp_project: TmpProject, tmp_path: Path
) -> None:
    isolated = {**_no_global_git(tmp_path), "LOGNAME": "os-login", "USER": "os-login"}
    assert _actor(tmp_project, {**isolated, "ASSAY_USER": "ci-bot"}) == "ci-bot"
    assert _actor(tmp_project, isolated) == "os-login"
    subprocess.run(["git", "init", "-q", str(tmp_project.root)], check=True, env=isolated)
    subprocess.run(["git", "config", "user.email", "dev@project.example"],
                   cwd=tmp_project.root, check=True, env=isolated)
    assert _actor(tmp_project, isolated) == "dev@project.example"
    elsewhere = tmp_path / "other-repo"
    subprocess.run(["git", "init", "-q", str(elsewhere)], check=True, env=isolated)
    subprocess.run(["git", "config", "user.email", "wrong@elsewhere.example"], cwd=elsewhere,
                   check=True, env=isolated)
    # Started in another repository with -C: the project's own git identity still counts.
    assert _actor(tmp_project, isolated, cwd=elsewhere) == "dev@project.example"


def test_config_schema_through_the_cli_validates_the_churn_example(tmp_path: Path) -> None:
    import jsonschema

    assert invoke(["init", "--example", "churn", str(tmp_path / "c")]).code == 0
    proc = run_assay(["config", "schema"], cwd=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["title"] == "assay.yaml"
    assert {"cache", "remotes", "default_remote", "datasets", "stages"} <= set(
        schema["properties"])
    jsonschema.Draft202012Validator.check_schema(schema)
    example = yaml.safe_load((tmp_path / "c" / "assay.yaml").read_text())
    # The schema describes the long forms; assay.yaml also accepts `name: url` shorthands.
    example["remotes"] = {k: {"url": v} if isinstance(v, str) else v
                          for k, v in example["remotes"].items()}
    example["datasets"] = {k: {"path": v} if isinstance(v, str) else v
                           for k, v in example.get("datasets", {}).items()}
    jsonschema.validate(example, schema)
    with pytest.raises(jsonschema.ValidationError, match=r"'stagse' was unexpected"):
        jsonschema.validate({**example, "stagse": {}}, schema)


def test_default_remote_must_name_a_configured_remote(tmp_project: TmpProject) -> None:
    tmp_project.gen({"assay.yaml": "project: x\nremotes:\n  origin: ../r\ndefault_remote: orign\n"})
    proc = tmp_project.run("config", "check")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_project.root / 'assay.yaml'}:4: default_remote: unknown remote 'orign' "
        "(configured: origin); did you mean 'origin'?"]
    tmp_project.gen({"assay.yaml": "project: x\ndefault_remote: origin\n"})
    none = tmp_project.invoke("config", "check")
    assert none.code == 2 and "unknown remote 'origin' (configured: none)" in none.stderr
    tmp_project.gen({"assay.yaml": "project: x\nremotes: {origin: ../r}\ndefault_remote: origin\n"})
    assert tmp_project.invoke("config", "check").code == 0


def test_init_in_the_current_folder_scaffolds_a_plain_project(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    proc = run_assay(["init"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"Initialised project in {tmp_path.resolve()}"
    assert proc.stdout.splitlines()[1].endswith("run: git init")  # tmp_path is no git repo
    config = yaml.safe_load((tmp_path / "assay.yaml").read_text())
    assert config == {"project": tmp_path.name, "stages": {}}
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n/.assay/\n"
    assert (tmp_path / ".assay" / "cache").is_dir()
    assert run_assay(["config", "check"], cwd=tmp_path).returncode == 0


def test_the_churn_example_generates_50000_rows_with_every_kind_of_column(
    tmp_path: Path,
) -> None:
    import polars as pl

    root = tmp_path / "churn"
    assert invoke(["init", "--example", "churn", str(root)]).code == 0
    for args in ([], ["--drift", "--out", "data/drifted.parquet"]):
        subprocess.run([sys.executable, "generate.py", *args], cwd=root, check=True,
                       capture_output=True)
    clean = pl.read_parquet(root / "data" / "churn.parquet")
    drifted = pl.read_parquet(root / "data" / "drifted.parquet")
    assert clean.height == drifted.height == 50_000
    assert clean.schema["tenure_months"].is_integer()
    assert clean.schema["monthly_charges"].is_float()
    assert clean.schema["contract"] == pl.String and clean.schema["region"] == pl.String
    assert clean.schema["signup_date"].is_temporal() and clean.schema["last_active"].is_temporal()
    config = yaml.safe_load((root / "assay.yaml").read_text())
    sensitive = json.dumps(config)
    assert '"fairness": {"column": "gender"}' in sensitive
    assert sorted(clean["gender"].unique().to_list()) == ["female", "male"]
    assert 0.4 < float(clean["gender"].eq("female").mean()) < 0.6  # type: ignore[arg-type]
    # The drift switch shifts distributions and brings a category the model never saw.
    assert float(drifted["monthly_charges"].mean()) > float(  # type: ignore[arg-type]
        clean["monthly_charges"].mean()) * 1.15  # type: ignore[arg-type]
    assert "crypto" in drifted["payment_method"].unique().to_list()
    assert "crypto" not in clean["payment_method"].unique().to_list()
    share = float(drifted["contract"].eq("month-to-month").mean())  # type: ignore[arg-type]
    assert share < float(clean["contract"].eq("month-to-month").mean()) - 0.1  # type: ignore[arg-type]
    # The first clean batch is also the contract's drift reference; the drifted one is not.
    assert (root / "data" / "reference.parquet").read_bytes() == (
        root / "data" / "churn.parquet").read_bytes()
