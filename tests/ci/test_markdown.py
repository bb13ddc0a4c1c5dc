"""User strings in the PR report cannot format it, leave their table cell or open HTML."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assay.ci import code, escape


def test_escape_neutralises_markdown() -> None:
    assert escape("*bold* [x](y) <b>|`z` &amp; 0.5%") == (
        r"\*bold\* \[x\](y) \<b\>\|\`z\` \&amp; 0.5%")
    assert escape("two\nlines") == "two lines"


def test_code_span_outfences_backticks() -> None:
    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert code("a|b") == "`a¦b`"


@given(st.text())
def test_escaped_text_has_no_bare_special_character(text: str) -> None:
    out = escape(text)
    assert "\n" not in out
    i = 0
    while i < len(out):
        if out[i] == "\\":
            i += 2
            continue
        assert out[i] not in "*_`[]<>|&~", out
        i += 1


@given(st.text())
def test_code_span_keeps_one_line_and_no_pipe(text: str) -> None:
    out = code(text)
    assert "\n" not in out and "|" not in out
