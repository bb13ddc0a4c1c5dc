"""The one YAML reader is bounded: hostile or broken YAML in every kind of file assay reads
(assay.yaml, params.yaml, a contract, a pointer file) is a one-line error naming the file and
line, exit 2, in bounded memory and time; never exit 3, a traceback or a runaway process."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from assay.config import parse_yaml, read_yaml
from assay.config._yaml import MAX_BYTES, MAX_DEPTH, MAX_INT_DIGITS, MAX_NODES
from assay.errors import ConfigError
from tests.conftest import TmpProject, invoke

MEMORY_LIMIT = 1 << 30  # RLIMIT_AS for the hostile-input processes
TIME_LIMIT = 20.0


def laughs(width: int, levels: int) -> bytes:
    """A "billion laughs": each level lists the previous one ``width`` times."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return ("\n".join(lines) + "\n").encode()


def unknown_keys(megabytes: int) -> bytes:
    """About ``megabytes`` MB of distinct ``kNNNNNNNN: value`` lines (17 bytes each)."""
    block = b"".join(b"kXX%06d: value\n" % i for i in range(58_982))
    return b"".join(block.replace(b"kXX", b"k%02d" % i) for i in range(megabytes))


@dataclass(frozen=True)
class Hostile:
    """A hostile input: its bytes, the reason expected and the line named (None: any line)."""

    id: str
    content: Callable[[], bytes]
    reason: str
    line: int | None


HOSTILE = [
    Hostile("laughs-9-wide-9-deep", lambda: laughs(9, 9),
            r"too many values: more than 250,000 once aliases are expanded", 6),
    Hostile("laughs-2-wide-30-deep", lambda: laughs(2, 30),
            r"too many values: more than 250,000 once aliases are expanded", 16),
    Hostile("laughs-600-wide-2-deep", lambda: laughs(600, 2),
            r"too many values: more than 250,000 once aliases are expanded", 2),
    Hostile("recursive-alias", lambda: b"a: 1\nb: &b [x, *b]\n",
            r"recursive alias '\*b': it refers to a value that contains it", 2),
    Hostile("recursive-alias-in-mapping", lambda: b"a: &a\n  b:\n    c: *a\n",
            r"recursive alias '\*a'", 3),
    Hostile("complex-key", lambda: b"a: 1\n? [a, b]\n: 1\n",
            r"a mapping key must be a plain value, not a list or mapping", 2),
    Hostile("alias-of-a-list-as-key", lambda: b"a: &x [1]\n*x : 2\n",
            r"a mapping key must be a plain value", 2),
    Hostile("huge-int", lambda: b"a: 1\nb: " + b"9" * 5000 + b"\n",
            r"an integer of 5,000 characters \(at most 64\)", 2),
    Hostile("deep-flow-10000", lambda: b"a: " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
            r"nested deeper than 64 levels|exceeded maximum nesting depth", 1),
    Hostile("deep-block-10000", lambda: b"a:\n  " + b"- " * 10_000 + b"x\n",
            r"nested deeper than 64 levels", 2),
    Hostile("deep-indent", lambda: b"".join(b" " * i + b"k:\n" for i in range(100)) + b" v\n",
            r"nested deeper than 64 levels", 65),
    Hostile("50-MB-of-unknown-keys",
            lambda: unknown_keys(50), r"larger than 4 MiB, the limit for YAML files \(it is "
            r"50,134,700 bytes\)", MAX_BYTES // 17 + 1),
    Hostile("not-utf8", lambda: b"a: 1\nb: caf\xe9\n",
            r"not UTF-8 text \(byte 0xe9 at column 7\)", 2),
    Hostile("nul-byte", lambda: b"a: 1\nb: x\x00y\n",
            r"malformed YAML: control characters are not allowed", 2),
    Hostile("tab-indent", lambda: b"a:\n  b: 1\n\tc: 2\n",
            r"malformed YAML: .*tab", 3),
    Hostile("duplicate-key", lambda: b"a: 1\nb: 2\na: 3\n",
            r"duplicate key 'a' \(first defined on line 1\)", 3),
    Hostile("python-tag", lambda: b"a: !!python/object/apply:os.system [echo hi]\n",
            r"unsupported tag !!python/object/apply:os\.system", 1),
    Hostile("set-tag", lambda: b"a: !!set {x, y}\n", r"unsupported tag !!set", 1),
    Hostile("two-documents", lambda: b"a: 1\n---\nb: 2\n",
            r"expected one YAML document, found a second one", 2),
    Hostile("undefined-alias", lambda: b"a: 1\nb: *nope\n",
            r"alias '\*nope' names no anchor defined before it", 2),
    Hostile("invalid-date", lambda: b"a: 2024-13-45\n",
            r"'2024-13-45' is not a valid timestamp", 1),
]
HEAVY = {"laughs-9-wide-9-deep", "laughs-2-wide-30-deep", "deep-flow-10000", "50-MB-of-unknown-keys",
         "huge-int"}


@dataclass(frozen=True)
class FileKind:
    """Where a YAML file goes in a project and the command that reads it."""

    id: str
    path: str
    command: tuple[str, ...]
    config: str


KINDS = [
    FileKind("assay.yaml", "assay.yaml", ("config", "check"), ""),
    FileKind("params.yaml", "params.yaml", ("config", "check"), "project: t\n"),
    FileKind("contract", "contracts/c.yaml", ("config", "check"),
             "project: t\ncontracts:\n  c: {path: contracts/c.yaml, data: d.csv}\n"),
    FileKind("pointer", "data/x.csv.assay", ("data", "status"), "project: t\n"),
]


def _project(tmp_path: Path, kind: FileKind, content: bytes) -> Path:
    root = tmp_path / "project"
    (root / ".assay").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "x.csv").write_text("a\n1\n")
    (root / "contracts").mkdir()
    if kind.config:
        (root / "assay.yaml").write_text(kind.config)
    (root / kind.path).write_bytes(content)
    return root


def _check_line(kind: FileKind, case: Hostile, stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr[-2000:]
    [line] = lines
    assert line.startswith("error: ") and re.search(case.reason, line), line
    where = re.escape(Path(kind.path).name) + (rf":{case.line}" if case.line else r":\d+")
    assert re.search(rf"(^error: |/){where}: ", line), line
    assert "Traceback" not in stderr


@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
@pytest.mark.parametrize("case", [c for c in HOSTILE if c.id not in HEAVY],
                         ids=[c.id for c in HOSTILE if c.id not in HEAVY])
def test_hostile_yaml_is_a_one_line_usage_error_naming_file_and_line(
    tmp_path: Path, kind: FileKind, case: Hostile
) -> None:
    root = _project(tmp_path, kind, case.content())
    result = TmpProject(root).invoke(*kind.command)
    assert result.code == 2, result.output
    _check_line(kind, case, result.stderr)


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
@pytest.mark.parametrize("case", [c for c in HOSTILE if c.id in HEAVY],
                         ids=[c.id for c in HOSTILE if c.id in HEAVY])
def test_hostile_yaml_is_refused_in_bounded_memory_and_time(
    tmp_path: Path, kind: FileKind, case: Hostile
) -> None:
    root = _project(tmp_path, kind, case.content())
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "assay", *kind.command], cwd=root,
                          capture_output=True, text=True, timeout=TIME_LIMIT * 3,
                          preexec_fn=_limited, check=False)
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])  # not killed, not 3
    _check_line(kind, case, proc.stderr)
    assert elapsed < TIME_LIMIT


def test_the_limits_are_the_documented_ones() -> None:
    assert (MAX_BYTES, MAX_NODES, MAX_DEPTH, MAX_INT_DIGITS) == (4 * 2**20, 250_000, 64, 64)


def test_a_billion_laughs_is_refused_after_a_bounded_number_of_steps() -> None:
    text = laughs(9, 12).decode()
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^f\.yaml:6: too many values"):
        parse_yaml(text, "f.yaml")
    assert time.perf_counter() - started < 1.0


def test_values_within_the_limits_parse_as_pyyaml_does() -> None:
    import yaml

    text = (
        "base: &base {x: 1, y: [a, b]}\n"
        "merged:\n  <<: *base\n  y: own\n"
        "many:\n  <<: [{p: 1}, {p: 2, q: 2}]\n"
        "scalars: [~, 1, 0x1f, 1.5, .inf, 2024-01-02, '007', !!str 12, !!binary aGk=]\n"
        "flag: true\nwide: " + "[" + ", ".join(["*base"] * 50) + "]\n"
        "nested: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    )
    data, lines = parse_yaml(text, "f.yaml")
    assert data == yaml.safe_load(text)
    assert data["merged"] == {"x": 1, "y": "own"} and data["many"] == {"p": 1, "q": 2}
    assert lines[("merged",)] == 2 and lines[("scalars", 3)] == 7 and lines[("wide", 49)] == 9


def test_a_big_file_under_the_limit_reads(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("".join(f"k{i}: {i}\n" for i in range(50_000)))
    data, lines = read_yaml(path)
    assert len(data) == 50_000 and lines[("k49999",)] == 50_000


def test_a_missing_file_is_flagged_for_callers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found") as info:
        read_yaml(tmp_path / "nope.yaml", shown="nope.yaml")
    assert info.value.fields["missing"] is True


def test_reading_yaml_does_not_import_pydantic() -> None:
    code = ("import sys\nfrom assay.config import read_yaml\n"
            "print('pydantic' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_no_yaml_is_read_around_the_bounded_reader() -> None:
    source = Path(__file__).resolve().parents[2] / "src" / "assay"
    offenders = [
        f"{path.relative_to(source)}:{number}"
        for path in source.rglob("*.py") if "examples" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"yaml\.(safe_load|load|full_load|unsafe_load|compose)\b|yaml\.[A-Za-z]*Loader\(",
                     line) and path.name != "_yaml.py"
    ]
    assert offenders == []


def test_config_check_names_a_broken_pointer_file_with_its_line(tmp_project: TmpProject) -> None:
    tmp_project.gen({"data/x.csv": "a\n", "data/x.csv.assay": "oid: [unclosed\n"})
    result = invoke(["data", "status"], cwd=tmp_project.root)
    assert result.code == 2
    assert result.stderr.startswith("error: data/x.csv.assay:2: unreadable pointer file "
                                    "(malformed YAML: ")
