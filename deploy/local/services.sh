#!/usr/bin/env bash
# Makes sure the local services switchboard's integration and e2e tests use are up, on loopback:
# PostgreSQL 127.0.0.1:5432 (plus the database switchboard_test), RabbitMQ 127.0.0.1:5672 and
# Kafka 127.0.0.1:9092 (via deploy/local/kafka.sh). Idempotent: running services are left as they are.
#
# Usage: deploy/local/services.sh up|down|status
#   SWITCHBOARD_SKIP_KAFKA=1  leave Kafka out
# 'down' stops only Kafka: PostgreSQL and RabbitMQ belong to the machine and keep running.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly KAFKA_SH="$HERE/kafka.sh"
readonly STATE="${SWITCHBOARD_SERVICES_DIR:-$HOME/.cache/switchboard/services}"
readonly PG_HOST=127.0.0.1
readonly PG_PORT=5432
readonly PG_USER="${PGUSER:-postgres}"
readonly TEST_DB=switchboard_test
readonly AMQP_HOST=127.0.0.1
readonly AMQP_PORT=5672
readonly PG_DEADLINE_S=60
readonly RABBIT_DEADLINE_S=120
readonly DOCKER_HINT="with Docker instead: docker compose -f deploy/compose.yaml up -d postgres rabbitmq kafka"

say() { printf '[services] %s\n' "$*"; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") >/dev/null 2>&1; }

skip_kafka() { [[ "${SWITCHBOARD_SKIP_KAFKA:-}" == 1 ]]; }

pg_ready() {
  if have pg_isready; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
  else
    port_open "$PG_HOST" "$PG_PORT"
  fi
}

rabbit_ready() { port_open "$AMQP_HOST" "$AMQP_PORT"; }

# Polls "$1" (a function name) once a second until it succeeds or $2 seconds pass.
wait_for() {
  local check="$1" deadline_s="$2" label="$3" start waited last_note=0
  start="$(date +%s)"
  until "$check"; do
    waited=$(($(date +%s) - start))
    if ((waited >= deadline_s)); then
      return 1
    fi
    if ((waited - last_note >= 5)); then
      say "... waiting for $label (${waited}s)"
      last_note=$waited
    fi
    sleep 1
  done
}

postgres_up() {
  if pg_ready; then
    say "postgresql: already running on $PG_HOST:$PG_PORT"
    return 0
  fi
  if ! have pg_ctlcluster || [[ ! -d /etc/postgresql ]]; then
    die "postgresql: not running on $PG_HOST:$PG_PORT and pg_ctlcluster (packages postgresql, postgresql-common) is not installed; install PostgreSQL, or $DOCKER_HINT"
  fi
  local version
  # One cluster per machine here; take the newest installed major version.
  version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)"
  [[ -n "$version" ]] || die "postgresql: no cluster under /etc/postgresql; create one with pg_createcluster, or $DOCKER_HINT"
  say "postgresql: starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start \
    || die "postgresql: 'pg_ctlcluster $version main start' failed; see /var/log/postgresql/postgresql-$version-main.log"
  wait_for pg_ready "$PG_DEADLINE_S" "postgresql" \
    || die "postgresql: not accepting connections on $PG_HOST:$PG_PORT after ${PG_DEADLINE_S}s; see /var/log/postgresql/postgresql-$version-main.log"
  say "postgresql: ready on $PG_HOST:$PG_PORT"
}

test_database() {
  have psql || die "psql not found (package postgresql-client); it is needed to create $TEST_DB"
  local exists
  exists="$(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
    "select 1 from pg_database where datname='$TEST_DB'")" \
    || die "postgresql: cannot connect as $PG_USER to $PG_HOST:$PG_PORT (check pg_hba.conf or PGPASSWORD)"
  if [[ "$exists" == 1 ]]; then
    say "postgresql: database $TEST_DB exists"
    return 0
  fi
  have createdb || die "createdb not found (package postgresql-client)"
  createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$TEST_DB"
  say "postgresql: created database $TEST_DB"
}

rabbitmq_up() {
  if rabbit_ready; then
    say "rabbitmq: already running on $AMQP_HOST:$AMQP_PORT"
    return 0
  fi
  if ! have rabbitmq-server || ! have rabbitmqctl; then
    die "rabbitmq: not running on $AMQP_HOST:$AMQP_PORT and rabbitmq-server is not installed (apt-get install -y rabbitmq-server); or $DOCKER_HINT"
  fi
  # A node that is up but still booting has no AMQP listener yet; only start one when none answers.
  if rabbitmqctl -q status >/dev/null 2>&1; then
    say "rabbitmq: node is running but the AMQP listener is not up yet"
  else
    mkdir -p "$STATE"
    say "rabbitmq: starting (rabbitmq-server -detached; output in $STATE/rabbitmq-start.log)"
    rabbitmq-server -detached >"$STATE/rabbitmq-start.log" 2>&1 \
      || die "rabbitmq: 'rabbitmq-server -detached' failed; see $STATE/rabbitmq-start.log and /var/log/rabbitmq/"
  fi
  wait_for rabbit_ready "$RABBIT_DEADLINE_S" "rabbitmq" \
    || die "rabbitmq: no AMQP listener on $AMQP_HOST:$AMQP_PORT after ${RABBIT_DEADLINE_S}s; check 'rabbitmqctl status' and /var/log/rabbitmq/"
  say "rabbitmq: ready on $AMQP_HOST:$AMQP_PORT"
}

cmd_up() {
  postgres_up
  test_database
  rabbitmq_up
  if skip_kafka; then
    say "kafka: skipped (SWITCHBOARD_SKIP_KAFKA=1)"
  else
    bash "$KAFKA_SH" up
  fi
  say "all up"
}

cmd_down() {
  if skip_kafka; then
    say "kafka: skipped (SWITCHBOARD_SKIP_KAFKA=1)"
  else
    bash "$KAFKA_SH" down
  fi
  say "postgresql and rabbitmq belong to the machine and keep running"
}

cmd_status() {
  local rc=0
  if pg_ready; then
    say "postgresql: ready on $PG_HOST:$PG_PORT"
  else
    say "postgresql: not running"
    rc=1
  fi
  if rabbit_ready; then
    say "rabbitmq: ready on $AMQP_HOST:$AMQP_PORT"
  else
    say "rabbitmq: not running"
    rc=1
  fi
  if skip_kafka; then
    say "kafka: skipped (SWITCHBOARD_SKIP_KAFKA=1)"
  else
    bash "$KAFKA_SH" status || rc=1
  fi
  return "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    printf 'usage: %s up|down|status\n' "$0" >&2
    exit 2
    ;;
esac
