"""Which loaded version answers a request: the variants of one served reference and the
traffic split between them.

A plain served reference has one variant, ``stable``. A deployment (``assay serve
--deployment NAME``) has a ``stable`` variant and, during a rollout, a ``candidate``: in mode
``split`` the candidate answers a share ``w`` of requests and the stable one the rest; in mode
``shadow`` the stable variant answers every request and a share ``w`` of them is also
predicted by the candidate in the background (the ``shadow`` variant), never returned.

Each request draws a number in [0, 1): from its sticky key when the deployment names one (a
request header's value, or the first row's value of an input column), hashed with BLAKE2b so
a key always draws the same number, in every worker and after every restart; otherwise at
random. A draw below ``w`` goes to the candidate. Raising ``w`` only adds keys to the
candidate: a key that reached it at 10% still reaches it at 50%.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.serving._model import Served

STABLE = "stable"
CANDIDATE = "candidate"
SHADOW = "shadow"

_SCALE = float(2**64)


def draw(key: str | None) -> float:
    """A number in [0, 1): the stable hash of ``key``, or a random one when there is none."""
    if key is None:
        return random.random()
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def sticky_value(value: Any) -> str | None:
    """A request key's text (None for a missing value: such a request is routed at random).
    Numbers are keyed by their value (``7`` and ``7.0`` are one key), whatever the JSON."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:  # NaN: missing
            return None
        if value.is_integer():
            return str(int(value))
    if hasattr(value, "item"):  # a NumPy scalar
        return sticky_value(value.item())
    return str(value)


@dataclass(frozen=True)
class Variant:
    """A loaded version and its share of the traffic."""

    name: str
    """``stable``, ``candidate`` or ``shadow``."""
    served: Served
    weight: float
    """Its share of requests (answered, or mirrored for ``shadow``)."""
    mode: str
    """``split`` or ``shadow``."""

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.name, "version": self.served.version,
                "weight": round(self.weight, 6), "mode": self.mode}


@dataclass(frozen=True)
class Routing:
    """What answers a served reference's requests now (replaced whole, never changed)."""

    variants: tuple[Variant, ...]
    """The answering variants: stable first, then (mode split) the candidate."""
    shadow: Variant | None = None
    revision: int | None = None
    """The deployment row's revision this routing applies (None: no row)."""
    key: str = ""
    """What this routing was built from (revision, versions' hashes, weight, mode)."""

    @classmethod
    def single(cls, served: Served) -> Routing:
        return cls((Variant(STABLE, served, 1.0, "split"),), key=str(served.target.oid))

    @property
    def stable(self) -> Served:
        return self.variants[0].served

    @property
    def served(self) -> tuple[Served, ...]:
        """Every loaded version this routing uses."""
        every = [v.served for v in self.variants]
        if self.shadow is not None:
            every.append(self.shadow.served)
        return tuple(every)

    def choose(self, key: str | None) -> tuple[Variant, Variant | None]:
        """``(the variant that answers, the shadow variant that also predicts or None)`` for
        a request with sticky key ``key``."""
        if len(self.variants) == 1 and self.shadow is None:
            return self.variants[0], None
        share = draw(key)
        if self.shadow is not None:
            return self.variants[0], (self.shadow if share < self.shadow.weight else None)
        candidate = self.variants[1]
        return (candidate if share < candidate.weight else self.variants[0]), None

    def by_version(self, version: str) -> Variant | None:
        """The answering variant of ``version`` (a request that names one)."""
        for variant in self.variants:
            if variant.served.version == version:
                return variant
        return None

    def to_list(self) -> list[dict[str, Any]]:
        every = list(self.variants) + ([self.shadow] if self.shadow is not None else [])
        return [v.to_dict() for v in every]
