#!/usr/bin/env bash
# The whole test suite, as `npm test` runs it: start (or find) the local services, lint, type-check,
# then the unit, integration and e2e suites against the real services. Ends with one summary line
# "N passed, N failed".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BIN="$ROOT/node_modules/.bin"
[[ -x "$BIN/vitest" ]] || { echo "[test] node_modules is missing: run 'npm ci' first" >&2; exit 1; }

step() { printf '\n[test] %s\n' "$*"; }

step "local services (PostgreSQL, RabbitMQ, Kafka)"
bash deploy/local/services.sh up

export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672}"
export SWITCHBOARD_TEST_POSTGRES_URL="${SWITCHBOARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

step "lint (eslint, type-aware) and format (prettier)"
"$BIN/eslint" .
"$BIN/prettier" --check . --log-level warn

step "type-check (tsc)"
"$BIN/tsc" --noEmit -p tsconfig.json

step "tests (vitest: unit, integration, e2e)"
report="$(mktemp -t switchboard-vitest-XXXXXX.json)"
trap 'rm -f "$report"' EXIT
status=0
"$BIN/vitest" run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  if (r.numTotalTests === 0) { console.error("[test] no test ran"); process.exit(1); }
' "$report" || status=1
exit "$status"
