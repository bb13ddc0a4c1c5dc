#!/usr/bin/env bash
# `make demo`: the bundled churn example end to end, with embedded defaults.
set -euo pipefail
DEMO_DIR="${DEMO_DIR:-demo-project}"
export ASSAY_USER="${ASSAY_USER:-demo@example.com}"
rm -rf "$DEMO_DIR" "${DEMO_DIR}-remote" "$(dirname "$DEMO_DIR")/churn-remote"  # churn-remote: the example's data remote

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "assay init --example churn $DEMO_DIR"
assay init --example churn "$DEMO_DIR"
cd "$DEMO_DIR"
git init -q . && git add -A && git -c user.email=demo@example.com -c user.name=demo commit -qm "churn example" || true

step "generate the synthetic churn data (50,000 rows)"
python generate.py

step "assay data add: version the data (content-addressed; commit the small pointer file)"
assay data add data/churn.parquet
cat data/churn.parquet.assay
git add data/churn.parquet.assay .gitignore && git -c user.email=demo@example.com -c user.name=demo commit -qm "version the churn data" || true

step "assay data status -r: in the cache, not yet on the remote"
assay data status -r

step "assay data push: upload to the remote 'origin' (../churn-remote; s3://... works the same)"
assay data push

step "lose the cache and the data file, then get them back from the remote"
rm -rf .assay/cache data/churn.parquet
assay data status
assay data pull --no-checkout
assay data checkout
assay data status

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

step "assay run: prepare, three train candidates in parallel, evaluate with gates and selection"
assay run

step "assay run again: nothing changed, so nothing runs (served from the lock and cache)"
assay run

step "edit a param (train.n_estimators 200 -> 150) and ask why stages are stale"
sed -i.bak 's/n_estimators: 200/n_estimators: 150/' params.yaml && rm -f params.yaml.bak
assay status
sed -i.bak 's/n_estimators: 150/n_estimators: 200/' params.yaml && rm -f params.yaml.bak

step "assay run --profile ci: 5% sample, 20 trees (what CI runs on every push)"
assay run --profile ci

step "back to the full params: outs are restored from the cache, not retrained"
assay run

step "assay runs list: tracked stage runs with their metrics"
assay runs list --stage train --metric 'roc_auc>0.5'

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

# --- model registry, promotion with approvals, rollback, lineage, doctor ---------------------
step "assay models list: the register stage made a new version of churn with alias staging"
if ! assay models show churn@staging >/dev/null 2>&1; then
  # Without a register stage in the example: register what the evaluation selected, by hand.
  EVAL_JSON=$(ls reports/*/evaluation.json | head -1)
  PACKAGE=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["selected"]["package"])' "$EVAL_JSON")
  assay models register "$PACKAGE" --name churn --evaluation "$EVAL_JSON" --alias staging
fi
assay models list
V=$(assay models show churn@staging --json | python -c 'import json,sys; print(json.load(sys.stdin)["version"])')
assay models show "churn:$V"

step "promote churn:$V to production as its author ($ASSAY_USER): refused, a platform approval is missing"
if assay models promote "churn:$V" --to production; then echo "demo: the policy should have refused" >&2; exit 1; fi

step "the author cannot approve it either (approvals need the platform role; authors never approve their own)"
if assay models approve "churn:$V" --for production; then echo "demo: self-approval was accepted" >&2; exit 1; fi

step "a platform engineer approves (ASSAY_USER=plat@example.com), then the promotion goes through"
ASSAY_USER=plat@example.com assay models approve "churn:$V" --for production --comment "metrics and fairness reviewed"
assay models promote "churn:$V" --to production

step "a second version (the other passing candidate) goes through staging and production too"
EVAL_STAGE=$(assay models show "churn:$V" --json | python -c 'import json,sys; print(json.load(sys.stdin)["meta"]["evaluation"]["stage"])')
OTHER=$(python - "reports/$EVAL_STAGE/evaluation.json" "$(assay models show "churn:$V" --json)" <<'PY'
import json, sys
report, current = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
others = [c for c in report["candidates"]
          if c["passed"] and not c["is_champion"] and c["oid"] != current["model_hash"]]
print(others[0]["package"] if others else "")
PY
)
if [ -n "$OTHER" ]; then
  assay models register "$OTHER" --name churn --evaluation "reports/$EVAL_STAGE/evaluation.json"
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

step "assay models lineage churn:$V: data -> run -> stage runs -> model -> aliases"
assay models lineage "churn:$V"
assay models lineage "churn:$V" --format mermaid

step "assay models card churn:$V: the model card (also as HTML: model-card.html)"
assay models card "churn:$V" --html model-card.html | sed -n "1,40p"

step "assay doctor: the example against the antipatterns of ML delivery"
assay doctor
