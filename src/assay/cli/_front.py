"""The command front: one grammar and one way of printing for the commands that have shortcuts.

A few commands are answered by the console script before the CLI framework loads, each by a
shortcut that lives in the package it speeds up:

- ``assay run`` with nothing to do, and ``assay status`` of that same pipeline (the same
  decision): :func:`assay.pipeline._fastpath.noop_stage_count`;
- ``assay data status`` with every tracked path clean: :func:`assay.data._fresh.clean_status`;
- ``assay data add`` of unchanged data (:func:`assay.data._fresh.unchanged_add`), or of any
  data when assay.yaml is the one a full command validated (:func:`assay.data.add_paths` with
  :meth:`assay.data.DataSettings.cached`; large files hashed ahead by
  :mod:`assay.objects._prehash`);
- ``assay --help`` (or ``-h``) when its output is plain (:func:`is_plain_help`): the text Typer
  renders then, generated into :mod:`assay.cli._help_text` by ``scripts/gen_help.py``
  (``tests/cli/test_shortcuts.py`` fails when it differs from what Typer prints); in a
  terminal, what Typer printed the last time in a terminal of that size, type and encoding
  (:func:`terminal_help_memo`).

The grammar of these commands is declared here once (:data:`RUN`, :data:`STATUS`,
:data:`DATA_ADD`, :data:`DATA_STATUS`): the Typer commands take their option names and help from it
(:func:`Grammar.flags`, :func:`Grammar.help`) and the shortcuts parse with it
(:meth:`Grammar.parse`). An option is answered by a shortcut only where it is declared
``fast``; a command line with any other option, ``--help``, a global option or anything
unusual goes to the full CLI. ``tests/cli/test_front.py`` fails if Typer's parameters and these
grammars disagree, so a new option cannot silently change what a shortcut answers.

What these commands print is rendered here too, for the full commands and the shortcuts alike;
errors go through :func:`assay._exits.report`. ``ASSAY_NO_FASTPATH=1`` turns every shortcut off
(:func:`assay._layout.shortcuts_enabled`). Standard library only until a shortcut decides to
answer.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from assay import _layout

if TYPE_CHECKING:
    from pathlib import Path

    from assay.data import AddResult, EntryStatus


HELP_FLAGS = ("-h", "--help")
"""The help option of every command (Typer's ``help_option_names``)."""

RENDERING_ENV = ("COLUMNS", "TERMINAL_WIDTH", "FORCE_COLOR", "PY_COLORS", "NO_COLOR",
                 "GITHUB_ACTIONS", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS",
                 "DATABRICKS_RUNTIME_VERSION", "TYPER_USE_RICH", "_TYPER_FORCE_DISABLE_TERMINAL")
"""Environment variables that change how Typer and Rich render help (width, colour, terminal
detection): with any of them set, ``--help`` is left to Typer."""


class Option(NamedTuple):
    """One option of a command: its destination (the Typer parameter's name), its flags, its
    help, whether it takes a value, and whether the command's shortcut understands it."""

    dest: str
    flags: tuple[str, ...]
    help: str
    takes_value: bool = False
    fast: bool = False


class Parsed(NamedTuple):
    """A command line read by a :class:`Grammar`: positional arguments and option values."""

    arguments: list[str]
    values: dict[str, str | bool]

    def text(self, dest: str) -> str | None:
        value = self.values.get(dest)
        return value if isinstance(value, str) else None


class Grammar(NamedTuple):
    """The options and positional argument of one command (``path``: ``("data", "add")``)."""

    path: tuple[str, ...]
    arguments: str
    """The Typer name of the positional argument (each of these commands takes a list)."""
    options: tuple[Option, ...]

    def option(self, dest: str) -> Option:
        return next(o for o in self.options if o.dest == dest)

    def flags(self, dest: str) -> tuple[str, ...]:
        """The flags Typer declares for ``dest``."""
        return self.option(dest).flags

    def help(self, dest: str) -> str:
        return self.option(dest).help

    def parse(self, args: Sequence[str], *, every: bool = False) -> Parsed | None:
        """``args`` (after the command's path) read with the options a shortcut understands
        (``every``: with all of the command's options); None for anything else (another
        option, ``--help``, ``--``, a short option with its value attached, a value that looks
        like an option), so the full CLI answers it."""
        by_flag = {flag: o for o in self.options if o.fast or every for flag in o.flags}
        parsed = Parsed([], {})
        items = iter(args)
        for arg in items:
            if not arg.startswith("-"):
                parsed.arguments.append(arg)
                continue
            flag, eq, attached = arg.partition("=")
            option = by_flag.get(flag)
            if option is None or (eq and not (option.takes_value and flag.startswith("--"))):
                return None
            if not option.takes_value:
                parsed.values[option.dest] = True
                continue
            value = attached if eq else next(items, None)
            if value is None or value.startswith("-"):
                return None
            parsed.values[option.dest] = value
        return parsed


RUN = Grammar(("run",), "stages", (
    Option("profile", ("--profile", "-p"), "A profile from assay.yaml, e.g. ci.",
           takes_value=True, fast=True),
    Option("force", ("--force", "-f"), "Run stages even when up to date."),
    Option("single", ("--single", "-s"), "Only the named stages, not their upstream (with "
           "--force: rerun just those)."),
    Option("jobs", ("-j", "--jobs"), "Parallel jobs (default: cores).", takes_value=True),
    Option("dry_run", ("--dry-run",), "Show what would run and why."),
    Option("keep_going", ("--keep-going", "-k"), "Run what does not depend on a failure."),
    Option("check_repro", ("--check-repro",), "Rerun STAGE from the same inputs and compare "
           "outs and metrics.", takes_value=True),
    Option("tolerance", ("--tolerance",), "Allowed absolute metric difference for "
           "--check-repro.", takes_value=True),
    Option("trigger", ("--trigger",), "manual, ci, schedule, data or drift (default: ci under "
           "CI).", takes_value=True),
    Option("no_wait", ("--no-wait",), "Refuse instead of waiting when another run holds the "
           "project."),
    Option("json_out", ("--json",), "Machine-readable output."),
))

STATUS = Grammar(("status",), "stages", (
    Option("profile", ("--profile", "-p"), "A profile from assay.yaml.", takes_value=True,
           fast=True),
    Option("json_out", ("--json",), "Machine-readable output."),
))

DATA_ADD = Grammar(("data", "add"), "paths", (
    Option("name", ("--name", "-n"), "Dataset name (default: from assay.yaml datasets, else "
           "the file name).", takes_value=True, fast=True),
    Option("message", ("--message", "-m"), "Why this version.", takes_value=True, fast=True),
    Option("json_out", ("--json",), "Machine-readable output.", fast=True),
))

DATA_STATUS = Grammar(("data", "status"), "targets", (
    Option("remote", ("--remote", "-r"), "Also check what the remote lacks (not pushed)."),
    Option("remote_name", ("--remote-name",), "Which remote for -r (default: default_remote).",
           takes_value=True),
    Option("json_out", ("--json",), "Machine-readable output.", fast=True),
))


# -- output ----------------------------------------------------------------------------------


def json_safe(data: Any) -> Any:
    """``data`` with NaN and ±Inf floats as the strings ``"NaN"``, ``"Infinity"`` and
    ``"-Infinity"`` (protobuf's JSON mapping, which MLflow's REST API uses), so that machine
    output is strict JSON that every parser reads."""
    if isinstance(data, float):
        if data - data == 0.0:  # finite
            return data
        return "NaN" if data != data else "Infinity" if data > 0 else "-Infinity"
    if isinstance(data, dict):
        return {key: json_safe(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(value) for value in data]
    return data


def print_json(data: Any) -> None:
    """Machine output: strict JSON on stdout, nothing else (non-finite numbers: see
    :func:`json_safe`)."""
    try:
        text = json.dumps(data, indent=2, sort_keys=True, default=str, allow_nan=False)
    except ValueError:  # a NaN or ±Inf somewhere: only then walk the whole structure
        text = json.dumps(json_safe(data), indent=2, sort_keys=True, default=str,
                          allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _print_lines(lines: list[str], *, err: bool = False) -> None:
    if lines:
        stream = sys.stderr if err else sys.stdout
        stream.write("".join(f"{line}\n" for line in lines))
        stream.flush()


def size_text(n: int) -> str:
    """``1.5 GiB``: a byte count for people."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def noop_line(count: int) -> str:
    """What ``assay run`` prints when every stage is up to date (nothing ran, nothing recorded)."""
    return f"Pipeline is up to date ({count} stages); nothing to run."


def print_noop(count: int) -> None:
    _print_lines([noop_line(count)])


def up_to_date_line(count: int) -> str:
    """What ``assay status`` prints when every stage is up to date."""
    return f"Pipeline is up to date ({count} stages)."


def orphans_line(count: int, first: str) -> str:
    """What ``assay status`` prints when outs of stages no longer in the pipeline are left."""
    return (f"{count} out{'' if count == 1 else 's'} of stages no longer in the pipeline "
            f"{'is' if count == 1 else 'are'} left in the workspace (first: {first}); remove: "
            "assay gc --workspace")


def print_status(entries: list[EntryStatus], *, as_json: bool) -> None:
    """What ``assay data status`` prints for ``entries``."""
    if as_json:
        print_json([e.as_dict() for e in entries])
        return
    if not entries:
        _print_lines(["no tracked data (add some with: assay data add PATH)"])
        return
    dirty = [e for e in entries if not e.is_clean]
    _print_lines([f"{', '.join(e.states):>22}  {e.path}" for e in entries] + [
        "everything up to date" if not dirty
        else f"{len(dirty)} of {len(entries)} tracked paths need attention"])


def add_report(results: list[AddResult], elapsed: float) -> tuple[list[str], list[str]]:
    """What ``assay data add`` prints: (stdout lines, stderr lines)."""
    out: list[str] = []
    err: list[str] = []
    for r in results:
        what = f"{r.nfiles} files, " if r.oid.endswith(".dir") else ""
        rows = f", {r.rows:,} rows" if r.rows is not None else ""
        if r.changed:
            out.append(f"added {r.path} as '{r.name}' v{r.version} ({what}{size_text(r.size)}"
                       f"{rows}) -> {r.pointer_file} [{r.oid[:12]}, {r.mode}]")
        elif r.recorded:
            out.append(f"recorded {r.path} as '{r.name}' v{r.version} in this store (the data "
                       f"is unchanged) [{r.oid[:12]}]")
        else:
            out.append(f"unchanged {r.path} ({r.oid[:12]})")
        if r.skipped_links:
            n = len(r.skipped_links)
            out.append(f"  skipped {n} symlink{'s' if n > 1 else ''} in {r.path} (not followed, "
                       f"not versioned): {', '.join(r.skipped_links[:3])}"
                       f"{', ...' if n > 3 else ''}")
        err.extend(
            f"  warning: the previous version's object {oid[:12]} was edited in place through "
            "a link; it is quarantined (assay data pull restores it if a remote has it; use "
            "assay data unprotect before editing)" for oid in r.quarantined
        )
    if any(r.changed for r in results):
        pointers = " ".join(r.pointer_file for r in results if r.changed)
        out.append(f"commit the pointer files: git add {pointers} .gitignore ({elapsed:.2f} s)")
    return out, err


def print_add(results: list[AddResult], elapsed: float, *, as_json: bool) -> None:
    """What ``assay data add`` prints for ``results`` (``elapsed``: seconds it took)."""
    if as_json:
        print_json([r.as_dict() for r in results])
        return
    out, err = add_report(results, elapsed)
    _print_lines(out)
    _print_lines(err, err=True)


# -- the shortcuts ---------------------------------------------------------------------------


def is_plain_help() -> bool:
    """True when Typer would render help as :mod:`assay.cli._help_text` holds it: stdout is
    not a terminal (no colour) and writes UTF-8 (box lines), Rich finds a width of 80 columns
    (no terminal on stdin, stdout or stderr to take another from), none of
    :data:`RENDERING_ENV` is set, and the installed Typer and Rich are the ones it was
    rendered with."""
    import os

    from assay.cli._help_text import RENDERED_WITH

    if sys.stdout.isatty() or not (sys.stdout.encoding or "").lower().startswith("utf"):
        return False
    if any(os.environ.get(name) is not None for name in RENDERING_ENV):
        return False
    width = 0
    for fd in (0, 1, 2):  # as Rich sizes its console
        try:
            width = os.get_terminal_size(fd).columns
        except (AttributeError, ValueError, OSError):
            continue
        break
    return (width or 80) == 80 and _installed(("typer-", "rich-")) == RENDERED_WITH


def _installed(prefixes: tuple[str, ...]) -> tuple[str, ...]:
    """The metadata folder (``typer-0.29.2.dist-info``) of each distribution named by
    ``prefixes``, from the first ``sys.path`` entry that has one ("" if none, "?" if that
    entry has several); the working directory is not looked at."""
    import os

    found: dict[str, str] = {}
    for entry in sys.path:
        if not entry:  # the working directory (python -m): it may hold anything, and much
            continue
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        for prefix in prefixes:
            matches = [n for n in names if n.startswith(prefix) and n.endswith(".dist-info")]
            if matches and prefix not in found:
                found[prefix] = matches[0] if len(matches) == 1 else "?"
        if len(found) == len(prefixes):
            break
    return tuple(found.get(prefix, "") for prefix in prefixes)


def terminal_help_memo() -> Path | None:
    """Where Typer's rendering of ``assay --help`` into this terminal is remembered (under
    :func:`assay._layout.user_cache_dir`), named by everything that rendering depends on: the
    terminal's size, type and encoding, the locale, Python, the installed Typer and Rich (the
    ones :mod:`assay.cli._help_text` was rendered with) and the CLI's modules (their sizes and
    times, so an edited command's help is rendered anew). None when stdout is not a terminal
    or one of :data:`RENDERING_ENV` is set: Typer renders then."""
    import os

    from assay.cli._help_text import RENDERED_WITH, TOP_HELP

    if not sys.stdout.isatty() or any(os.environ.get(n) is not None for n in RENDERING_ENV):
        return None
    if _installed(("typer-", "rich-")) != RENDERED_WITH:
        return None
    sizes: list[Any] = []
    for fd in (0, 1, 2):
        try:
            sizes.append([os.isatty(fd), tuple(os.get_terminal_size(fd))])
        except (AttributeError, ValueError, OSError):
            sizes.append([os.isatty(fd), None])
    modules = sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size)
                     for e in os.scandir(os.path.dirname(__file__)) if e.name.endswith(".py"))
    body = [sizes, sys.stdout.encoding, sys.version, RENDERED_WITH, TOP_HELP, modules,
            [os.environ.get(n) for n in ("TERM", "COLORTERM", "LINES", "LANG", "LC_ALL",
                                         "LC_CTYPE")]]
    key = _layout.digest_of(json.dumps(body).encode())[:32]
    return _layout.user_cache_dir() / "help" / f"{key}.txt"


class _Recorder:
    """A text stream that keeps what is written to ``stream`` (and is it in every other way,
    so Rich sees the same terminal)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)  # click writes an empty bytes string too
        return int(self.stream.write(text))

    def text(self) -> str | None:
        """What was written (None: something that was not text)."""
        if any(not isinstance(part, str) for part in self.parts if part):
            return None
        return "".join(part for part in self.parts if isinstance(part, str))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _top_help() -> int | None:
    from assay.cli._help_text import TOP_HELP

    if is_plain_help():
        sys.stdout.write(TOP_HELP)
        sys.stdout.flush()
        return 0
    memo = terminal_help_memo()
    if memo is None:
        return None
    try:
        text = memo.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None  # Typer renders it (and :func:`remembering_help` keeps it)
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


@contextlib.contextmanager
def remembering_help(argv: Sequence[str]) -> Iterator[None]:
    """Around the full CLI: for ``assay --help`` in a terminal, keep what Typer prints in
    :func:`terminal_help_memo` (when it ends well), for the next call to print."""
    memo = (terminal_help_memo() if len(argv) == 1 and argv[0] in HELP_FLAGS
            and _layout.shortcuts_enabled() else None)
    if memo is None:
        yield
        return
    stdout, recorder = sys.stdout, _Recorder(sys.stdout)
    sys.stdout = recorder  # type: ignore[assignment]
    ended_well = False
    try:
        yield
        ended_well = True
    except SystemExit as exc:
        ended_well = exc.code in (0, None)
        raise
    finally:
        sys.stdout = stdout
        text = recorder.text()
        if ended_well and text:
            from assay._atomic import write_text_atomic

            with contextlib.suppress(OSError):  # a read-only home: rendered again next time
                write_text_atomic(memo, text, durable=False)



def _run(root: Path, parsed: Parsed) -> int | None:
    from assay.pipeline._fastpath import noop_stage_count

    if parsed.arguments:
        return None
    count = noop_stage_count(root, parsed.text("profile"))
    if count is None:
        return None
    print_noop(count)
    return 0


def _start_run_early(root: Path, args: Sequence[str]) -> None:
    """``assay run ARGS`` that the shortcut did not answer will run stages (unless it is a
    dry run or a reproducibility check): start its warm worker now, so that the worker's
    start and imports overlap the full CLI's."""
    parsed = RUN.parse(args, every=True)
    if parsed is None or parsed.values.get("dry_run") or parsed.values.get("check_repro"):
        return
    from assay.pipeline._jobs import start_early

    start_early(root, parsed.text("profile"))


def _status(root: Path, parsed: Parsed) -> int | None:
    from assay.pipeline._fastpath import noop_stage_count

    if parsed.arguments:
        return None
    count = noop_stage_count(root, parsed.text("profile"), for_status=True)
    if count is None:
        return None
    _print_lines([up_to_date_line(count)])
    return 0


def _data_status(root: Path, parsed: Parsed) -> int | None:
    from assay.data._fresh import clean_status

    if parsed.arguments:
        return None
    entries = clean_status(root)
    if entries is None:
        return None
    print_status(entries, as_json=bool(parsed.values.get("json_out")))
    return 0


def _data_add(root: Path, parsed: Parsed) -> int | None:
    from assay._exits import report
    from assay.data._fresh import unchanged_add
    from assay.data._settings import DataSettings

    paths, as_json = parsed.arguments, bool(parsed.values.get("json_out"))
    name, message = parsed.text("name"), parsed.text("message")
    if not paths or "" in paths:
        return None
    started = time.perf_counter()
    if len(paths) == 1 and name is None and message is None:
        unchanged = unchanged_add(root, paths[0])
        if unchanged is not None:
            print_add([unchanged], time.perf_counter() - started, as_json=as_json)
            return 0
    settings = DataSettings.cached(root)
    if settings is None:
        return None
    from assay.objects import _prehash

    if _prehash.is_worth_starting(settings.cache_types):
        for raw in paths:
            _prehash.start(raw)
    from assay.data._workspace import add_paths

    try:
        results = add_paths(settings, paths, name=name, message=message)
        print_add(results, time.perf_counter() - started, as_json=as_json)
    except (Exception, KeyboardInterrupt) as exc:  # the CLI's boundary: one line, one code
        return report(exc)
    return 0


_SHORTCUTS: tuple[tuple[Grammar, Callable[[Path, Parsed], int | None]], ...] = (
    (RUN, _run),
    (STATUS, _status),
    (DATA_STATUS, _data_status),
    (DATA_ADD, _data_add),
)


def dispatch(argv: Sequence[str]) -> int | None:
    """The exit code when a shortcut answered ``assay ARGV``; None: the full CLI answers."""
    if not _layout.shortcuts_enabled():
        return None
    if len(argv) == 1 and argv[0] in HELP_FLAGS:
        try:
            return _top_help()
        except BrokenPipeError as exc:  # stdout closed early (| head): answered all the same
            from assay._exits import report

            return report(exc)
    for grammar, shortcut in _SHORTCUTS:
        if tuple(argv[: len(grammar.path)]) != grammar.path:
            continue
        args = argv[len(grammar.path) :]
        parsed = grammar.parse(args)
        if parsed is None and grammar is not RUN:
            return None
        root = _layout.find_root()
        if root is None:
            return None
        code: int | None = None
        try:
            code = None if parsed is None else shortcut(root, parsed)
        except BrokenPipeError as exc:  # stdout closed early (| head): answered all the same
            from assay._exits import report

            return report(exc)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a doubt (unreadable marker, odd stat): the full command decides
        if code is None and grammar is RUN:
            _start_run_early(root, args)
        return code
    return None
