"""Live quality: a server remembers its recent single-row answers by request id, so a label
sent to ``POST /feedback`` scores, as it arrives, every variant that predicted that request (the
variant that answered, and the shadow in shadow mode).

Scores are counters on ``/metrics`` per model, version and variant
(``assay_serving_feedback_scored_total`` by outcome ``correct``/``wrong`` for classifiers,
``scored`` for regressors, with the sums of absolute and squared errors), which the rollout
controller's ``live_quality`` guard reads. A label whose request is not remembered (older than
the last :data:`MEMORY` answers, a request of several rows, or answered by another worker of a
``--workers N`` server) is stored in the prediction log all the same and counted as
``assay_serving_feedback_unmatched_total``; which labels go unscored does not depend on the
prediction, so the scores stay unbiased, only fewer.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from assay.metrics import same_class

#: Answers remembered per server process (the oldest is forgotten first).
MEMORY = 100_000


@dataclass(frozen=True)
class _Answer:
    version: str
    variant: str
    prediction: Any
    classification: bool


@dataclass(frozen=True)
class Score:
    """One variant's prediction scored against its label."""

    version: str
    variant: str
    outcome: str
    """``correct`` or ``wrong`` (classifiers), ``scored`` (regressors)."""
    error: float
    """The prediction minus the label (regressors; 0 for classifiers)."""


class Answers:
    """The recent single-row answers of one server process, by model and request id (the event
    loop records answers and scores labels; the shadow's receiver thread records its
    predictions: one lock)."""

    def __init__(self, capacity: int = MEMORY) -> None:
        self.capacity = capacity
        self._by_id: OrderedDict[tuple[str, str], list[_Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_id)

    def remember(self, model: str, request_id: str, version: str, variant: str,
                 predictions: Any, classification: bool) -> None:
        """Keep a one-row answer (several rows: one label could not say which it scores)."""
        if len(predictions) != 1:
            return
        value = predictions[0]
        answer = _Answer(version, variant, value.item() if hasattr(value, "item") else value,
                         classification)
        key = (model, request_id)
        with self._lock:
            found = self._by_id.get(key)
            if found is not None:  # the shadow's prediction of the same request
                found.append(answer)
                return
            self._by_id[key] = [answer]
            if len(self._by_id) > self.capacity:
                self._by_id.popitem(last=False)

    def score(self, model: str, request_id: str, label_json: str) -> list[Score] | None:
        """Every remembered prediction of the request scored against the label (then the
        request is forgotten); None when the request is not remembered or the label cannot
        score it (null, or not a number for a regressor)."""
        with self._lock:
            found = self._by_id.pop((model, request_id), None)
        label = json.loads(label_json)
        if found is None or label is None:
            return None
        scores = []
        for answer in found:
            if answer.classification:
                scores.append(Score(answer.version, answer.variant,
                                    "correct" if same_class(answer.prediction, label) else "wrong",
                                    0.0))
                continue
            if isinstance(label, bool) or not isinstance(label, (int, float)):
                return None
            error = float(answer.prediction) - float(label)
            if not math.isfinite(error):
                return None
            scores.append(Score(answer.version, answer.variant, "scored", error))
        return scores
