"""Triggers: what starts a pipeline run without a person, and ``assay watch``, the process that
fires them.

A trigger (``triggers:`` in assay.yaml) fires on a monitor's finding of a given severity, on a
new version of a dataset, or on a cron schedule; it runs a named profile of the pipeline with
its cause recorded on the run, and with ``deploy:`` promotes the version that run registered
(the promotion policy and its approvals apply) and rolls it out with the deployment's strategy
and guards. A cause fires once (claimed in the store), even across a crash. See
docs/triggers.md.

>>> from assay.triggers import Driver, Watch
>>> Watch(Driver(project, store, owner=runner_identity(), actor="watch", say=print)).run(once=True)  # doctest: +SKIP
"""

from __future__ import annotations

from assay.triggers._causes import Cause, arm, armed_at, candidates, due, next_slot, previous_slot
from assay.triggers._fire import Driver, carry_on, fire, registered_by
from assay.triggers._firings import FINISHED, UNFINISHED, Firing, claim, firings, get, unfinished
from assay.triggers._watch import DEFAULT_INTERVAL, LOCK_NAME, Watch, watch_lock

__all__ = [
    "DEFAULT_INTERVAL",
    "FINISHED",
    "LOCK_NAME",
    "UNFINISHED",
    "Cause",
    "Driver",
    "Firing",
    "Watch",
    "arm",
    "armed_at",
    "candidates",
    "carry_on",
    "claim",
    "due",
    "fire",
    "firings",
    "get",
    "next_slot",
    "previous_slot",
    "registered_by",
    "unfinished",
    "watch_lock",
]
