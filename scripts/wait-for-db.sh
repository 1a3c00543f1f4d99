#!/usr/bin/env bash
# Waits until PostgreSQL accepts connections AND the scheduler's database answers a query.
#
#   ./scripts/wait-for-db.sh                       # DATABASE_URL, or postgresql://postgres@localhost:5432/scheduler
#   ./scripts/wait-for-db.sh --timeout 120 postgresql://user:pass@db:5432/scheduler
#   WAIT_TIMEOUT=30 ./scripts/wait-for-db.sh && scheduler migrate run
#
# Exit 0 when ready, 1 when the timeout passed (the last error is printed), 2 on a usage error.
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

timeout="${WAIT_TIMEOUT:-60}"
interval="${WAIT_INTERVAL:-1}"
url="${DATABASE_URL:-postgresql://postgres@localhost:5432/scheduler}"
quiet=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -t|--timeout) timeout="${2:?--timeout needs seconds}"; shift 2 ;;
    -i|--interval) interval="${2:?--interval needs seconds}"; shift 2 ;;
    -q|--quiet) quiet=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "wait-for-db: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) url="$1"; shift ;;
  esac
done
[[ "$timeout" =~ ^[0-9]+$ ]] || { echo "wait-for-db: --timeout must be whole seconds, not '$timeout'" >&2; exit 2; }
command -v psql >/dev/null || { echo "wait-for-db: psql is not installed" >&2; exit 2; }

# never print the password
shown="$(printf '%s' "$url" | sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#')"
say() { [[ "$quiet" == 1 ]] || echo "wait-for-db: $*" >&2; }

deadline=$(( $(date +%s) + timeout ))
last=""
say "waiting up to ${timeout}s for $shown"
while :; do
  # pg_isready is cheap and quiet, but says nothing about the database itself: psql checks that
  if { ! command -v pg_isready >/dev/null || pg_isready -q -d "$url" -t 2; } &&
     last="$(PGCONNECT_TIMEOUT=3 psql "$url" -XAtq -c 'SELECT 1' 2>&1 >/dev/null)"; then
    say "ready: $shown"
    exit 0
  fi
  [[ -n "$last" ]] || last="not accepting connections"
  if (( $(date +%s) >= deadline )); then
    echo "wait-for-db: $shown not ready after ${timeout}s: ${last%%$'\n'*}" >&2
    exit 1
  fi
  sleep "$interval"
done
