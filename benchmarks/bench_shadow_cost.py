"""What a shadow batch costs the server's interpreter, before and after the shadow process.

The p99 figures of ``bench_shadow.py`` need a quiet machine; this one does not: it measures the
CPU time (``time.thread_time``) the server's own threads spend per batch of mirrored requests.
Before, the server predicted the batch itself (:func:`assay.serving._batcher.predict` on the
shadow's inference thread, holding the interpreter). Now it joins the rows and pickles them
for the child (the sender), then unpickles the child's answer and records it: metrics and
prediction-log records (the receiver, :meth:`ShadowProcess._record`). The model is version 2
of ``bench_shadow.py`` (run that first: it prepares the package).

Run: .venv/bin/python benchmarks/bench_shadow_cost.py [--requests 10] [--batches 300]
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent / ".work" / "serving" / "project" / "models" / "hgb2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10, help="mirrored requests per batch")
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args()

    from assay.serving import _decode
    from assay.serving._batcher import Call, _OpenMP, predict
    from assay.serving._metrics import Metrics
    from assay.serving._model import load, resolve
    from assay.serving._predlog import PredictionLog
    from assay.serving._routing import SHADOW, Variant
    from assay.serving._shadow import Mirrored, ShadowProcess

    served = load(resolve(str(PACKAGE), None), None, allow_pickle=False)
    signature = served.model.signature
    metrics = Metrics()
    log = PredictionLog(Path(tempfile.mkdtemp()), metrics=metrics, sample=1.0,
                        capacity=10**8, segment_rows=10**7, segment_seconds=3600)
    shadow = ShadowProcess("bench", metrics=metrics, log=lambda: log, root=None,
                           allow_pickle=False, max_in_flight=10**8, max_batch_rows=10**7,
                           timeout_s=10)
    variant = Variant(SHADOW, served, 1.0, "shadow")
    openmp = _OpenMP()
    before: list[float] = []
    sent: list[float] = []
    received: list[float] = []
    for batch in range(args.batches):
        items = [Mirrored("/invocations", variant, _decode.build_frame(
            {name: [float(i)] for name in signature.input_names}, signature, max_rows=10),
            f"{batch}-{i}") for i in range(args.requests)]
        start = time.thread_time()
        predict(served.model, [item.frame for item in items], openmp)  # before: in the server
        predicted = time.thread_time()
        rows = _decode.joined([item.frame for item in items])  # now: the sender
        pickle.dumps((batch, rows.columns, [item.frame.height for item in items]), protocol=5)
        joined = time.thread_time()
        answer = pickle.dumps(("batch", batch, [r if isinstance(r, Call) else r.count for r in
                                                predict(served.model, [item.frame for item in
                                                                       items], openmp)]),
                              protocol=5)  # the child's work, not timed
        answered = time.thread_time()
        _, _, results = pickle.loads(answer)  # now: the receiver
        shadow._in_flight += len(items)
        shadow._record(items, results, 0.0)
        recorded = time.thread_time()
        if batch >= 20:  # warm
            before.append(predicted - start)
            sent.append(joined - predicted)
            received.append(recorded - answered)
    shadow.close()
    log.close()
    old = statistics.median(before) * 1000
    new = (statistics.median(sent) + statistics.median(received)) * 1000
    print(f"{args.requests} mirrored requests per batch, server CPU time per batch (median of "
          f"{len(before)}): before, the model call {old:.3f} ms; now, send "
          f"{statistics.median(sent) * 1000:.3f} ms + receive and record "
          f"{statistics.median(received) * 1000:.3f} ms = {new:.3f} ms ({new / old:.0%})")


if __name__ == "__main__":
    main()
