"""Dumping a generated pipeline: keys in the order written, block style, multi-line commands as
literal blocks, long lines never folded (a folded shell command would change meaning)."""

from __future__ import annotations

from typing import Any


def dump(data: dict[str, Any]) -> str:
    """``data`` as YAML text, in insertion order."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _text)
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                          width=10_000, allow_unicode=True)
    return text
