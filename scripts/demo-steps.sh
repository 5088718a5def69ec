#!/usr/bin/env bash
# The demo, run by `nox -s demo` (./scripts/demo) inside its virtualenv:
# start the sandbox, seed the source tenant, replicate into the target tenant
# in both modes, verify, and stop the sandbox again.
set -euo pipefail
DIR="${ATG_DEMO_DIR:-.sandbox/demo}"
CONFIG="$DIR/config.json"
# Bold in a terminal only: a CI log or a pipe gets no escape codes.
if [ -t 1 ]; then
  step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  step() { printf '\n== %s\n' "$*"; }
fi

step "atg-dataplane plugins"
atg-dataplane plugins

step "atg-dataplane sandbox up --dir $DIR"
atg-dataplane sandbox up --dir "$DIR"
trap 'step "atg-dataplane sandbox down"; atg-dataplane sandbox down --dir "$DIR"' EXIT

step "atg-dataplane sandbox seed --scenario reference"
atg-dataplane sandbox seed --scenario reference --dir "$DIR"

step "atg-dataplane permissions --mode replication"
atg-dataplane permissions --config "$CONFIG" --mode replication

step "atg-dataplane plan --mode replication"
atg-dataplane plan --config "$CONFIG" --mode replication

step "atg-dataplane replicate --mode template"
atg-dataplane replicate --config "$CONFIG" --mode template

step "atg-dataplane replicate --mode replication --yes"
atg-dataplane replicate --config "$CONFIG" --mode replication --yes

step "atg-dataplane verify --mode replication"
atg-dataplane verify --config "$CONFIG" --mode replication --report "$DIR/report.md"
echo "report written to $DIR/report.md"
