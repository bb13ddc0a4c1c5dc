#!/usr/bin/env bash
# `make demo`: the bundled churn example end to end, with embedded defaults.
#
# A repeat `make demo` is served from the cache: the project is rebuilt from the example (same
# files, same data bytes) and its registry starts empty, but the content-addressed cache and the
# run cache (.assay/cache, .assay/pipeline/keys) are kept, so every stage is restored instead of
# retrained (except register, whose effect lives in the store: it is cached per store and runs
# again in the fresh registry) and each step shows the same versions, refusals and approvals.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEMO_DIR="${DEMO_DIR:-demo-project}"
export ASSAY_USER="${ASSAY_USER:-demo@example.com}"
PARENT="$(cd "$(dirname "$DEMO_DIR")" && pwd)"
REMOTE="$PARENT/churn-remote"                     # the example's data remote (../churn-remote)
CLONE="$PARENT/$(basename "$DEMO_DIR")-clone"     # a teammate's fresh clone, beside the project
GIT=(git -c user.email=demo@example.com -c user.name=demo)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

KEPT=""
if [ -d "$DEMO_DIR/.assay/cache" ]; then
  KEPT="$(mktemp -d "$PARENT/.demo-kept.XXXXXX")"
  mv "$DEMO_DIR/.assay/cache" "$KEPT/cache"
  for index in keys keys.db keys.db-wal keys.db-shm; do   # the run cache's index
    if [ -e "$DEMO_DIR/.assay/pipeline/$index" ]; then mv "$DEMO_DIR/.assay/pipeline/$index" "$KEPT/"; fi
  done
fi
rm -rf "$DEMO_DIR" "$CLONE" "$REMOTE" "${DEMO_DIR}-remote"

step "assay init --example churn $DEMO_DIR"
assay init --example churn "$DEMO_DIR"
if [ -n "$KEPT" ]; then
  rm -rf "$DEMO_DIR/.assay/cache" "$DEMO_DIR/.assay/pipeline"/keys*   # init's empty ones
  mkdir -p "$DEMO_DIR/.assay/pipeline"
  mv "$KEPT/cache" "$DEMO_DIR/.assay/cache"
  for index in keys keys.db keys.db-wal keys.db-shm; do
    if [ -e "$KEPT/$index" ]; then mv "$KEPT/$index" "$DEMO_DIR/.assay/pipeline/"; fi
  done
  rmdir "$KEPT"
  echo "(a repeat demo: kept the object cache and the run cache of the last one; the registry starts empty)"
fi
cd "$DEMO_DIR"
git init -q . && git add -A && "${GIT[@]}" commit -qm "churn example" || true

step "generate the synthetic churn data (50,000 rows)"
python generate.py

step "assay data add: version the data (content-addressed; commit the small pointer file)"
assay data add data/churn.parquet
cat data/churn.parquet.assay
git add data/churn.parquet.assay .gitignore && "${GIT[@]}" commit -qm "version the churn data" || true

step "assay data status -r: in the cache, not yet on the remote"
assay data status -r

step "assay data push: upload to the remote 'origin' (../churn-remote; s3://... works the same)"
assay data push

step "a teammate's fresh clone has the pointer but not the data: assay data pull gets it from the remote"
git clone -q . "$CLONE"
(
  cd "$CLONE"
  assay data status
  assay data pull
  assay data status
)
rm -rf "$CLONE"

step "assay fsck: every object in the cache verified against its hash"
assay fsck

step "assay validate churn: the data contract (contracts/churn.yaml) on the training data"
assay validate churn

step "a deliberately broken batch fails the contract (exit 1) with a readable report"
python generate.py --broken --out data/bad.parquet
if assay validate data/bad.parquet --contract churn --html reports/bad-batch.html; then
  echo "unexpected: the broken batch passed" >&2; exit 1
else
  echo "(exit $? as expected; HTML report: reports/bad-batch.html)"
fi
rm -f data/bad.parquet

step "assay contract infer: a starting contract profiled from the data"
assay contract infer data/churn.parquet --out contracts/inferred.yaml
head -n 20 contracts/inferred.yaml

step "assay dag: the pipeline (validate, prepare -> train x3 estimator families -> evaluate -> register)"
assay dag

step "assay run: prepare, three train candidates in parallel, evaluate with gates and selection, register"
assay run

step "assay run again: nothing changed, so nothing runs (served from the lock and cache)"
assay run

step "edit a param (train.n_estimators 200 -> 150) and ask why stages are stale"
sed -i.bak 's/n_estimators: 200/n_estimators: 150/' params.yaml && rm -f params.yaml.bak
assay status
sed -i.bak 's/n_estimators: 150/n_estimators: 200/' params.yaml && rm -f params.yaml.bak

step "assay run --profile ci: 5% sample, 20 trees (what CI runs on every push)"
assay run --profile ci

step "the ci run kept its own lock and put the full run's outs back: nothing to do"
assay run

step "assay runs list: tracked stage runs with their metrics"
assay runs list --stage train --metric 'roc_auc>0.5'
if [ -n "$KEPT" ]; then
  echo "(a repeat demo restored every training from the cache, so this fresh store tracked no new training runs)"
fi

step "assay eval report: candidates x datasets x slices, fairness, gate verdicts, the selected model"
assay eval report reports/evaluate/evaluation.json
echo "(beside it: report.md for a pull-request comment, report.html with plots, junit.xml for CI)"

step "tighten a gate beyond reach: evaluate fails (exit 1) and names the gate that stopped each candidate"
cp assay.yaml assay.yaml.orig
sed -i.bak 's/{metric: roc_auc, min: 0.65, dataset: holdout}/{metric: roc_auc, min: 0.99, dataset: holdout}/' assay.yaml && rm -f assay.yaml.bak
if assay run; then
  echo "unexpected: the tightened gate passed" >&2; exit 1
else
  echo "(exit $? as expected)"
fi
mv assay.yaml.orig assay.yaml
assay run   # the real gates again: evaluate passes and selects a candidate

# --- model registry, promotion with approvals, champion comparison, rollback, lineage ---------
EVAL_JSON=reports/evaluate/evaluation.json
step "assay models list: the register stage made version 1 of churn, with alias staging"
if [ -n "$KEPT" ]; then
  echo "(a repeat demo: every other stage was restored from the cache, but register is cached per store, so it ran again and registered the selected package in this fresh registry)"
fi
assay models list
V=$(assay models show churn@staging --json | python -c 'import json,sys; print(json.load(sys.stdin)["version"])')
assay models show "churn:$V"

step "assay doctor: the example against the antipatterns of ML delivery (nothing serves users yet)"
assay doctor

step "promote churn:$V to production as its author ($ASSAY_USER): refused, a platform approval is missing"
if assay models promote "churn:$V" --to production; then echo "demo: the policy should have refused" >&2; exit 1; fi

step "the author has the platform role too, but may not approve their own model"
if assay models approve "churn:$V" --for production; then echo "demo: self-approval was accepted" >&2; exit 1; fi

step "a second member with the platform role approves (ASSAY_USER=plat@example.com); the promotion goes through"
ASSAY_USER=plat@example.com assay models approve "churn:$V" --for production --comment "metrics and fairness reviewed"
assay models promote "churn:$V" --to production

step "assay doctor again: churn@production now serves users, so the drift-monitoring rule speaks up"
assay doctor
echo "(a warning, not an error: nothing in assay.yaml says where drift of the production model is watched; the last step declares it)"

step "the champion moved, so evaluate is stale: assay status says why"
assay status

step "assay run: evaluate compares every candidate with the champion churn@production (paired bootstrap, 95% intervals)"
assay run
COLUMNS=120 assay eval report "$EVAL_JSON"

step "a second version (the best other passing candidate) goes through staging and production"
OTHER=$(python - "$EVAL_JSON" "$(assay models show "churn:$V" --json)" <<'PY'
import json, sys
report, current = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
primary = report["primary_metric"]
def score(c):
    metric = primary.get("name") or primary.get("metric")
    return c["metrics"][primary["dataset"]][primary.get("slice") or "all"][metric]
others = [c for c in report["candidates"]
          if c["passed"] and not c["is_champion"] and c["oid"] != current["model_hash"]]
print(max(others, key=score)["package"] if others else "")
PY
)
if [ -n "$OTHER" ]; then
  assay models register "$OTHER" --name churn --evaluation "$EVAL_JSON"
  V2=$(assay models show churn --json | python -c 'import json,sys; print(json.load(sys.stdin)["version"])')
  assay models promote "churn:$V2" --to staging
  ASSAY_USER=plat@example.com assay models approve "churn:$V2" --for production
  assay models promote "churn:$V2" --to production
  assay models diff "churn:$V" "churn:$V2" | head -n 25   # params, data, environment, metrics

  step "assay models rollback churn --alias production: back to churn:$V, recorded as a rollback"
  assay models rollback churn --alias production
  assay models versions churn
else
  echo "(only one candidate passed its gates, so there is nothing to roll back to)"
fi

step "assay models lineage churn:$V: dataset versions -> run -> stage runs -> model -> aliases"
assay models lineage "churn:$V"
assay models lineage "churn:$V" --format mermaid

step "assay models card churn:$V: the model card (also as HTML: model-card.html)"
assay models card "churn:$V" --html model-card.html | sed -n "1,40p"

step "declare where production drift is watched (monitoring: in assay.yaml); assay doctor is clean again"
printf 'monitoring:\n  production: {external: "https://grafana.example.com/d/churn-drift"}\n' >> assay.yaml
assay doctor

# --- serving: the production model over HTTP, three protocols, a hot swap -------------------
PORT="${DEMO_PORT:-8765}"
step "assay serve churn@production: live at once, ready when the verified model is loaded"
assay serve churn@production --port "$PORT" --poll 1 --no-access-log > serve.log 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  if curl -sf "localhost:$PORT/v2/health/ready" > /dev/null; then break; fi
  sleep 0.2
done
serving_status() {   # one line from GET /status
  python - "$PORT" <<'PY'
import json, sys, urllib.request
status = json.load(urllib.request.urlopen(f"http://localhost:{sys.argv[1]}/status"))
model = status["models"][0]
print(f"ready={status['ready']} serving {model['name']}:{model['version']} "
      f"({model['flavor']}, {(model['oid'] or '')[:16]})")
PY
}
serving_status
RECORDS=$(python - "$PORT" <<'PY'
import json, sys, urllib.request
import polars as pl
meta = json.load(urllib.request.urlopen(f"http://localhost:{sys.argv[1]}/v2/models/churn"))
names = [i["name"] for i in meta["inputs"]]
print(json.dumps(pl.read_parquet("data/holdout.parquet").select(names).head(2).to_dicts()))
PY
)

step "native: POST /predict (curl)"
curl -s "localhost:$PORT/predict" -H 'Content-Type: application/json' -d "{\"records\": $RECORDS}"; echo

step "MLflow scoring protocol: POST /invocations with dataframe_records (curl), as for mlflow models serve"
curl -s "localhost:$PORT/invocations" -H 'Content-Type: application/json' -d "{\"dataframe_records\": $RECORDS}"; echo

step "Open Inference Protocol v2: tritonclient, one typed tensor per column"
python - "$PORT" "$RECORDS" <<'PY'
import json, sys
import numpy as np
import tritonclient.http as triton
from tritonclient.utils import triton_to_np_dtype
client = triton.InferenceServerClient(f"localhost:{sys.argv[1]}")
rows = json.loads(sys.argv[2])
meta = client.get_model_metadata("churn")
inputs = []
for spec in meta["inputs"]:
    tensor = triton.InferInput(spec["name"], [len(rows)], spec["datatype"])
    tensor.set_data_from_numpy(np.array([r[spec["name"]] for r in rows],
                                        dtype=triton_to_np_dtype(spec["datatype"])), binary_data=False)
    inputs.append(tensor)
result = client.infer("churn", inputs, outputs=[
    triton.InferRequestedOutput("prediction", binary_data=False),
    triton.InferRequestedOutput("probability", binary_data=False)])
print(f"model {meta['name']} v{meta['versions'][0]}: prediction {result.as_numpy('prediction').tolist()}, "
      f"probability {np.round(result.as_numpy('probability'), 3).tolist()}")
PY

step "GET /metrics: Prometheus exposition (a few lines)"
curl -s "localhost:$PORT/metrics" | grep -E '^assay_serving_(requests_total|predictions_total|batch_rows_count|prediction_log_records_total)' | head -n 8

if [ -n "${V2:-}" ]; then
  step "promote churn:$V2 to production while requests flow: the server swaps without a failed request"
  ( ok=0; failed=0
    while [ ! -f .swap-done ]; do
      code=$(curl -s -o /dev/null -w '%{http_code}' "localhost:$PORT/predict" -H 'Content-Type: application/json' -d "{\"records\": $RECORDS}")
      if [ "$code" = 200 ]; then ok=$((ok+1)); else failed=$((failed+1)); fi
    done
    echo "$ok requests answered during the swap, $failed failed" ) &
  LOAD=$!
  ASSAY_USER=plat@example.com assay models approve "churn:$V2" --for production --comment "back to the challenger" > /dev/null 2>&1 || true
  assay models promote "churn:$V2" --to production
  for _ in $(seq 1 100); do
    if curl -s "localhost:$PORT/status" | grep -q "\"version\":\"$V2\""; then break; fi
    sleep 0.2
  done
  sleep 1; touch .swap-done; wait "$LOAD"; rm -f .swap-done
  serving_status
  grep '"serving.swapped"' serve.log | tail -n 1
fi

step "SIGTERM: readiness fails at once, requests in flight finish, the server exits"
kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null || true
trap - EXIT
echo "prediction log: $(find .assay/predictions -name 'segment-*.parquet' | wc -l) Parquet segment(s) under .assay/predictions/churn/"

# --- deployments: a canary rollout with live progress, then an automatic rollback ------------
DPORT="${DEMO_DEPLOY_PORT:-8766}"
CURRENT=$(assay models show churn@production --json | python -c 'import json,sys; print(json.load(sys.stdin)["version"])')
OTHER="$V"; if [ "$OTHER" = "$CURRENT" ]; then OTHER="${V2:-}"; fi
step "declare a deployment (deployments: in assay.yaml): churn@live served by a local server assay manages on :$DPORT, canary 20% -> 50% -> 100%, three guards"
cat >> assay.yaml <<YAML
deployments:
  churn-live:
    model: churn@live
    serve: {port: $DPORT}
    strategy: canary
    steps:
      - {weight: 0.2, min_requests: 150, min_seconds: 2}
      - {weight: 0.5, min_requests: 150, min_seconds: 2}
    guards:
      min_requests: 150
      error_rate: {max: 0.01}
      p99_ms: {max: 250}
      prediction_shift: {max: 0.1}
YAML
python - <<'PY'
# the demo's live alias may take any registered version (no gates, no approvals): the guards
# are the last line of defence this part shows
import re
text = open("assay.yaml").read()
text = re.sub(r"^promotion:\n", "promotion:\n  live: {gates: none}\n", text, count=1, flags=re.M)
open("assay.yaml", "w").write(text)
PY
grep -n -A1 '^promotion:' assay.yaml
trap 'assay deployments stop churn-live >/dev/null 2>&1 || true' EXIT
step "assay deploy churn:$CURRENT --to churn-live: starts the deployment's server (assay serve --deployment churn-live), then applies its first version directly"
assay deploy "churn:$CURRENT" --to churn-live --poll 0.2

cat > load.py <<'PY'
"""Steady single-row traffic to the deployment until the file .load-stop exists."""
import json, os, sys, threading, time
import httpx, polars as pl
port, names = sys.argv[1], json.loads(sys.argv[2])
holdout = pl.read_parquet("data/holdout.parquet").select(names)
rows = holdout.sample(min(2000, holdout.height), seed=0, shuffle=True).to_dicts()  # random order
counts, lock = {}, threading.Lock()
def run(offset):
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        i, served = offset, False
        while not os.path.exists(".load-stop"):
            try:
                answer = client.post("/predict", json={"records": [rows[i % len(rows)]]})
            except httpx.TransportError:  # the server is not up (yet): try again shortly
                time.sleep(0.2)
                continue
            if not served and answer.status_code == 503:  # started, not ready yet
                time.sleep(0.2)
                continue
            served = True
            key = f"{answer.status_code} v{answer.json().get('version', '?')}"
            with lock:
                counts[key] = counts.get(key, 0) + 1
            i += 3  # the three threads together walk the rows in order: any prefix is random
threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
for t in threads: t.start()
for t in threads: t.join()
print("requests during the rollout (status, version answering):", dict(sorted(counts.items())))
PY
NAMES=$(python -c "import json,sys; print(json.dumps(list(json.loads(sys.argv[1])[0])))" "$RECORDS")
if [ -n "$OTHER" ]; then
  step "assay deploy churn:$OTHER --to churn-live --watch: a canary under steady traffic, step by step"
  rm -f .load-stop; python load.py "$DPORT" "$NAMES" & LOADER=$!
  assay deploy "churn:$OTHER" --to churn-live --watch --poll 0.2
  touch .load-stop; wait "$LOADER"
fi

step "a deliberately broken version: the same model trained on shuffled labels, registered as churn"
python - "$NAMES" <<'PY'
import json, sys
import numpy as np, polars as pl
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from assay.models import save_model
names = json.loads(sys.argv[1])
frame = pl.read_parquet("data/holdout.parquet")
X = frame.select(names)
text = [c for c, t in X.schema.items() if t == pl.String]
y = np.random.default_rng(0).permutation(frame["churned"].to_numpy())
y = 1 - y if y.mean() < 0.5 else y      # shuffled, and the classes swapped: it says "churn" far too often
model = make_pipeline(
    make_column_transformer((OneHotEncoder(handle_unknown="ignore"), text), remainder="passthrough"),
    HistGradientBoostingClassifier(max_iter=50, random_state=0)).fit(X, y)
save_model(model, "models/broken", name="churn", input_example=X.head(3), lineage={"root": "."})
PY
BROKEN=$(assay models register models/broken --name churn --json | python -c 'import json,sys; print(json.load(sys.stdin)["version"]["version"])')
step "assay deploy churn:$BROKEN --to churn-live: the prediction-shift guard stops it and traffic goes back"
rm -f .load-stop; python load.py "$DPORT" "$NAMES" & LOADER=$!
if assay deploy "churn:$BROKEN" --to churn-live --poll 0.2; then
  echo "demo: the broken version was not rolled back" >&2; exit 1
fi
touch .load-stop; wait "$LOADER"; rm -f .load-stop

step "assay deployments history churn-live: every rollout, its outcome and reason"
assay deployments history churn-live
assay models show churn@live --json | python -c 'import json,sys; print("churn@live is v%s again" % json.load(sys.stdin)["version"])'
# --- monitoring: a drifted batch of live traffic ---------------------------------------------
step "assay deployments stop churn-live: the managed server drains, exits and writes out its prediction log"
assay deployments stop churn-live
step "declare a monitor of the deployment's live traffic (monitoring: {churn-live-drift: {deployment: churn-live, window: {rows: 1500}, every: 10s}})"
python - <<'PY'
text = open("assay.yaml").read()
anchor = '  production: {external: "https://grafana.example.com/d/churn-drift"}\n'
assert anchor in text
open("assay.yaml", "w").write(text.replace(
    anchor, anchor + "  churn-live-drift: {deployment: churn-live, window: {rows: 1500}, every: 10s}\n"))
PY
grep -n -A2 '^monitoring:' assay.yaml
step "assay monitor churn-live-drift: the newest 1,500 rows of the rollouts' traffic against the training data of the served version"
assay monitor churn-live-drift || true   # 0: no drift (a false alarm has a stated 5% chance)
step "assay deployments run churn-live starts the server again; a drifted batch of traffic (generate.py --drift: shifted charges, more month-to-month contracts, a new payment method)"
assay deployments run churn-live
python generate.py --drift --rows 1500 --out data/live-drift.parquet > /dev/null
python - "$DPORT" "$NAMES" <<'PY'
import json, sys
import httpx, polars as pl
port, names = sys.argv[1], json.loads(sys.argv[2])
rows = pl.read_parquet("data/live-drift.parquet").select(names).to_dicts()
with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
    codes = [client.post("/predict", json={"records": [row]}).status_code for row in rows]
print(f"sent {len(rows)} drifted rows: {codes.count(200)} answered")
PY
assay deployments stop churn-live
APORT="${DEMO_ALERT_PORT:-8767}"
step "alerts: in assay.yaml: a signed webhook to a local receiver (127.0.0.1:$APORT) for every drift finding"
cat > receiver.py <<'PY'
"""A webhook receiver: each POST's headers and body appended to alerts-received.jsonl."""
import http.server, json, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open("alerts-received.jsonl", "a") as out:
            out.write(json.dumps({"signature": self.headers.get("X-Assay-Signature"),
                                  "body": body.decode()}) + "\n")
        self.send_response(204); self.end_headers()
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
PY
python receiver.py "$APORT" & RECEIVER=$!
trap 'kill $RECEIVER 2>/dev/null || true' EXIT
export DEMO_ALERT_SECRET=demo-secret
cat >> assay.yaml <<YAML
alerts:
  channels:
    data-team: {url: "http://127.0.0.1:$APORT/hook", secret_env: DEMO_ALERT_SECRET}
  routes:
    - {channels: [data-team]}
YAML
step "assay monitor churn-live-drift --window-rows 1500: the drift is found (exit 1), column by column, and the alert goes out"
if assay monitor churn-live-drift --window-rows 1500; then echo "(no drift found?)"; fi
assay monitor history churn-live-drift
step "what the receiver got: the alert, its HMAC-SHA256 signature checked with the shared secret"
python - <<'PY'
import hashlib, hmac, json
for line in open("alerts-received.jsonl"):
    got = json.loads(line)
    mac = "sha256=" + hmac.new(b"demo-secret", got["body"].encode(), hashlib.sha256).hexdigest()
    alert = json.loads(got["body"])
    print(f"[{alert['severity']}] {alert['summary']}")
    print("signature", "valid" if hmac.compare_digest(mac, got["signature"] or "") else "INVALID")
PY

# --- the loop: drift -> alert -> retraining -> gates -> registration -> canary ---------------
step "the data team lands this month's labelled data: churn v2 = the 50,000 rows and 5,000 recent (drifted) customers"
python - <<'PY'
import polars as pl
from generate import generate
import os
current = pl.read_parquet("data/churn.parquet")
recent = generate(5_000, drift=True).select(current.columns)
# a new file moved into place: the old one is a link into the cache, never edited in place
pl.concat([current, recent], how="vertical_relaxed").write_parquet("data/churn.next.parquet")
os.replace("data/churn.next.parquet", "data/churn.parquet")
PY
assay data add data/churn.parquet
step "a trigger closes the loop (triggers: in assay.yaml): a drift finding of churn-live-drift retrains and rolls out to churn-live; the live alias now needs passed gates"
python - <<'PY'
text = open("assay.yaml").read()
assert "  live: {gates: none}\n" in text
text = text.replace("  live: {gates: none}\n", "  live: {gates: all}\n")
text += ("triggers:\n"
         "  retrain-on-drift: {monitor: churn-live-drift, severity: warn, deploy: churn-live}\n")
open("assay.yaml", "w").write(text)
PY
grep -n -A1 '^triggers:' assay.yaml
assay triggers list
step "assay triggers fire retrain-on-drift --dry-run: what a firing would do (nothing is run)"
assay triggers fire retrain-on-drift --dry-run
step "assay watch: the project's long-running process computes the monitor's window, alerts, fires the trigger, retrains, and rolls the new version out under live traffic"
rm -f .load-stop; python load.py "$DPORT" "$NAMES" & LOADER=$!
assay watch --interval 2s & WATCHER=$!
trap 'kill -TERM $WATCHER 2>/dev/null || true; touch .load-stop; kill $RECEIVER 2>/dev/null || true; assay deployments stop churn-live >/dev/null 2>&1 || true' EXIT
FIRING_STATE=""
for _ in $(seq 1 900); do
  FIRING_STATE=$(assay triggers history retrain-on-drift --json | python -c 'import json,sys; f=json.load(sys.stdin); print(f[0]["state"] if f else "")')
  if [ "$FIRING_STATE" = done ] || [ "$FIRING_STATE" = failed ]; then break; fi
  sleep 1
done
kill -TERM "$WATCHER"; wait "$WATCHER" || true
touch .load-stop; wait "$LOADER"; rm -f .load-stop
if [ "$FIRING_STATE" != done ]; then
  echo "demo: the retraining firing ended '$FIRING_STATE'" >&2
  assay triggers history retrain-on-drift >&2 || true
  exit 1
fi
step "assay triggers history: the firing, its cause, run, version and rollout"
assay triggers history retrain-on-drift
NEW=$(assay triggers history retrain-on-drift --json | python -c 'import json,sys; print(json.load(sys.stdin)[0]["version"])')
step "assay models lineage churn:$NEW: why this model was retrained, on which data"
assay models lineage "churn:$NEW" | head -n 12
assay deployments status churn-live
assay deployments stop churn-live
kill "$RECEIVER" 2>/dev/null || true
trap - EXIT

# --- delivery measured, and CI that keeps light checks apart from heavy training -------------
step "assay report delivery: this demo's own delivery (its rollouts, rollbacks, alerts and the retraining), DORA's four keys and the ML keys"
assay report delivery --html delivery.html
echo "(with plots: delivery.html)"
step "assay ci init github|gitlab|semaphore: CI configurations for this project, each checked by its validator"
assay ci init github
assay ci init gitlab
assay ci init semaphore
actionlint -shellcheck= -pyflakes= .github/workflows/assay.yml && echo "actionlint: .github/workflows/assay.yml is valid"
check-jsonschema --builtin-schema vendor.gitlab-ci .gitlab-ci.yml
check-jsonschema --schemafile "$REPO_ROOT/tests/ci/schemas/semaphore-pipeline-v1.0.json" .semaphore/*.yml
