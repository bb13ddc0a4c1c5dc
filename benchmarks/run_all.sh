#!/usr/bin/env bash
# `make bench`: every benchmark in benchmarks/ (bench_*.py), each printing its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
for bench in benchmarks/bench_*.py; do
  echo "== $bench"
  $PY "$bench"
done
