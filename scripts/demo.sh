#!/usr/bin/env bash
# `make demo`: the bundled churn example end to end, with embedded defaults.
set -euo pipefail
DEMO_DIR="${DEMO_DIR:-demo-project}"
export ASSAY_USER="${ASSAY_USER:-demo@example.com}"
rm -rf "$DEMO_DIR" "${DEMO_DIR}-remote"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "assay init --example churn $DEMO_DIR"
assay init --example churn "$DEMO_DIR"
cd "$DEMO_DIR"
git init -q . && git add -A && git -c user.email=demo@example.com -c user.name=demo commit -qm "churn example" || true

step "generate the synthetic churn data (50,000 rows)"
python generate.py
