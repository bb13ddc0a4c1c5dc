"""Model references: ``NAME``, ``NAME:VERSION`` and ``NAME@ALIAS``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.errors import RegistryError

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-/]{0,254}"
ALIAS_PATTERN = r"[A-Za-z][A-Za-z0-9_.\-]{0,63}"
_REF = re.compile(
    rf"^(?P<name>{NAME_PATTERN})(?::(?P<version>\d{{1,9}})|@(?P<alias>{ALIAS_PATTERN}))?$"
)
_NAME = re.compile(rf"^{NAME_PATTERN}$")
_ALIAS = re.compile(rf"^{ALIAS_PATTERN}$")


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a name, plus at most one of a version or an alias."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(text: str) -> ModelRef:
    """Parse ``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS``.

    Raises:
        RegistryError: ``text`` is none of these.
    """
    match = _REF.match(text.strip())
    if match is None:
        raise RegistryError(
            f"{text!r} is not a model reference; use NAME, NAME:VERSION or NAME@ALIAS "
            "(for example churn:3 or churn@production)",
            ref=text,
        )
    version = match["version"]
    return ModelRef(
        name=match["name"], version=int(version) if version else None, alias=match["alias"]
    )


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid model name.

    Raises:
        RegistryError: invalid name.
    """
    if not _NAME.match(name):
        raise RegistryError(
            f"{name!r} is not a valid model name; use letters, digits, '_', '-', '.', '/'",
            model=name,
        )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it is a valid alias name (a letter first, at most 64 characters).

    Raises:
        RegistryError: invalid alias.
    """
    if not _ALIAS.match(alias):
        raise RegistryError(
            f"{alias!r} is not a valid alias; start with a letter, then letters, digits, "
            "'_', '-', '.' (at most 64)",
            alias=alias,
        )
    return alias
