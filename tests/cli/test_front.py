"""The command front: the grammar the shortcuts parse is the one Typer declares, option for
option, so a new option of ``run``, ``data add`` or ``data status`` cannot slip past a
shortcut; an option a shortcut does not understand sends the command line to the full CLI."""

from __future__ import annotations

from typing import Any

import pytest

from assay.cli import build_app
from assay.cli._front import DATA_ADD, DATA_STATUS, RUN, STATUS, Grammar

GRAMMARS = [RUN, STATUS, DATA_ADD, DATA_STATUS]


def _command(path: tuple[str, ...]) -> Any:
    import typer.main

    command: Any = typer.main.get_command(build_app())
    for name in path:
        command = command.commands[name]
    return command


def _typer_grammar(path: tuple[str, ...]) -> tuple[list[str], dict[str, tuple[set[str], bool]]]:
    """(positional argument names, option name -> (flags, takes a value)) as Typer has them."""
    arguments, options = [], {}
    for param in _command(path).params:
        if param.param_type_name == "argument":
            arguments.append(param.name)
        else:
            options[param.name] = (set(param.opts) | set(param.secondary_opts),
                                   not param.is_flag)
    return arguments, options


@pytest.mark.parametrize("grammar", GRAMMARS, ids=lambda g: " ".join(g.path))
def test_the_front_declares_exactly_the_options_typer_has(grammar: Grammar) -> None:
    arguments, options = _typer_grammar(grammar.path)
    assert arguments == [grammar.arguments]
    assert options == {o.dest: (set(o.flags), o.takes_value) for o in grammar.options}


@pytest.mark.parametrize(
    ("grammar", "option"),
    [(g, o) for g in GRAMMARS for o in g.options if not o.fast],
    ids=lambda x: " ".join(x.path) if isinstance(x, Grammar) else x.dest,
)
def test_an_option_the_shortcut_does_not_understand_goes_to_the_full_cli(
        grammar: Grammar, option: Any) -> None:
    for flag in option.flags:
        args = ["x", flag, "1"] if option.takes_value else ["x", flag]
        assert grammar.parse(args) is None, flag


@pytest.mark.parametrize(
    ("grammar", "option"),
    [(g, o) for g in GRAMMARS for o in g.options if o.fast],
    ids=lambda x: " ".join(x.path) if isinstance(x, Grammar) else x.dest,
)
def test_an_option_the_shortcut_understands_is_read_as_typer_reads_it(
        grammar: Grammar, option: Any) -> None:
    for flag in option.flags:
        args = ["x", flag, "v"] if option.takes_value else ["x", flag]
        parsed = grammar.parse(args)
        assert parsed is not None
        assert (parsed.arguments, parsed.values) == (
            ["x"], {option.dest: "v" if option.takes_value else True})


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--"], ["--bogus"], ["-pci"],
                                  ["--json=1"], ["--profile"], ["--profile", "-f"]],
                         ids=["help", "short-help", "dashdash", "unknown", "attached-short",
                              "flag-with-value", "missing-value", "option-as-value"])
def test_unusual_command_lines_go_to_the_full_cli(args: list[str]) -> None:
    assert all(g.parse(args) is None for g in GRAMMARS)
