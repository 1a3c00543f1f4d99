#!/usr/bin/env bash
# Restores a backup made by scripts/backup.sh into the scheduler database, in one transaction (all or nothing).
# Stop the scheduler services first: the restore replaces the scheduler's tables.
#
#   ./scripts/restore.sh /backup/scheduler/db_20260101_020000.sql
#   ./scripts/restore.sh --latest --yes                  # the newest db_*.sql in BACKUP_DIR
#   ./scripts/restore.sh --container scheduler-postgres backup.sql
#
# Options: --latest (newest backup in --dir DIR / BACKUP_DIR, default /backup/scheduler), --yes (do not ask
# before replacing an existing scheduler database; required when stdin is not a terminal), --container NAME
# and --database NAME (psql inside the Postgres container), DATABASE_URL for the database.
# Exit 0 restored, 1 failed (the database is left as it was), 2 usage error or not confirmed.
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

backup_dir="${BACKUP_DIR:-/backup/scheduler}"
container="${POSTGRES_CONTAINER:-}"
database="${POSTGRES_DB:-scheduler}"
url="${DATABASE_URL:-postgresql://postgres@localhost:5432/scheduler}"
file=""
latest=0
yes=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --latest) latest=1; shift ;;
    --dir) backup_dir="${2:?--dir needs a folder}"; shift 2 ;;
    --yes|-y) yes=1; shift ;;
    --container) container="${2:?--container needs a name}"; shift 2 ;;
    --database) database="${2:?--database needs a name}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "restore: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) file="$1"; shift ;;
  esac
done
if [[ "$latest" == 1 ]]; then
  file="$(find "$backup_dir" -maxdepth 1 -type f -name 'db_*.sql' | sort | tail -n 1)"
  [[ -n "$file" ]] || { echo "restore: no db_*.sql backup in $backup_dir" >&2; exit 1; }
fi
[[ -n "$file" ]] || { echo "restore: which backup? give a file or --latest" >&2; usage >&2; exit 2; }
[[ -r "$file" ]] || { echo "restore: cannot read $file" >&2; exit 1; }

run_psql() {
  if [[ -n "$container" ]]; then docker exec -i "$container" psql -U "${POSTGRES_USER:-postgres}" -d "$database" "$@"
  else psql "$url" "$@"; fi
}

existing="$(run_psql -XAtq -c "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'hg_tasks'")"
if [[ "$existing" != "0" && "$yes" != 1 ]]; then
  if [[ -t 0 ]]; then
    read -r -p "restore: the database already holds scheduler data; replace it with $file? [y/N] " answer
    [[ "$answer" == y || "$answer" == Y ]] || { echo "restore: cancelled" >&2; exit 2; }
  else
    echo "restore: the database already holds scheduler data; pass --yes to replace it" >&2
    exit 2
  fi
fi

echo "restore: $file -> ${container:+container $container, }database"
run_psql -X -q -v ON_ERROR_STOP=1 --single-transaction < "$file" > /dev/null
tasks="$(run_psql -XAtq -c 'SELECT count(*) FROM hg_tasks WHERE deleted_at IS NULL')"
runs="$(run_psql -XAtq -c 'SELECT count(*) FROM hg_runs')"
echo "restore: done: $tasks tasks, $runs runs"
