#!/usr/bin/env bash
# Backs up the scheduler database (pg_dump) and the config folder into dated files, then deletes backups
# older than the retention (30 days by default), as in the deployment guide.
#
#   ./scripts/backup.sh                                  # DATABASE_URL -> /backup/scheduler
#   BACKUP_DIR=./backups RETENTION_DAYS=7 ./scripts/backup.sh
#   ./scripts/backup.sh --container scheduler-postgres   # pg_dump inside the Postgres container
#   crontab: 0 2 * * * /opt/scheduler/scripts/backup.sh >> /var/log/scheduler-backup.log 2>&1
#
# Files: db_YYYYmmdd_HHMMSS.sql (plain SQL; restore with scripts/restore.sh) and config_YYYYmmdd_HHMMSS.tar.gz.
# Options: --dir DIR (BACKUP_DIR), --retention-days N (RETENTION_DAYS), --config-dir DIR (CONFIG_DIR, default
# config; --no-config to skip), --container NAME (POSTGRES_CONTAINER), --database NAME (for --container, default
# scheduler), DATABASE_URL for the database. Exit 0 on success, 1 when a step failed (nothing partial is kept).
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

backup_dir="${BACKUP_DIR:-/backup/scheduler}"
retention="${RETENTION_DAYS:-30}"
config_dir="${CONFIG_DIR:-config}"
container="${POSTGRES_CONTAINER:-}"
database="${POSTGRES_DB:-scheduler}"
url="${DATABASE_URL:-postgresql://postgres@localhost:5432/scheduler}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) backup_dir="${2:?--dir needs a folder}"; shift 2 ;;
    --retention-days) retention="${2:?--retention-days needs a number}"; shift 2 ;;
    --config-dir) config_dir="${2:?--config-dir needs a folder}"; shift 2 ;;
    --no-config) config_dir=""; shift ;;
    --container) container="${2:?--container needs a name}"; shift 2 ;;
    --database) database="${2:?--database needs a name}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "backup: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$retention" =~ ^[0-9]+$ ]] || { echo "backup: --retention-days must be a whole number, not '$retention'" >&2; exit 2; }

stamp="$(date +%Y%m%d_%H%M%S)"
mkdir -p "$backup_dir"
dump="$backup_dir/db_$stamp.sql"
# write under a temporary name: a failed or interrupted dump never looks like a good backup
partial="$dump.partial"
trap 'rm -f "$partial" "$backup_dir/config_$stamp.tar.gz.partial"' EXIT

# --clean --if-exists: the file restores over an existing scheduler database as well as into an empty one
dump_flags=(--clean --if-exists --no-owner --no-privileges)
if [[ -n "$container" ]]; then
  docker exec "$container" pg_dump -U "${POSTGRES_USER:-postgres}" "${dump_flags[@]}" "$database" > "$partial"
else
  pg_dump "${dump_flags[@]}" --dbname="$url" > "$partial"
fi
mv "$partial" "$dump"
echo "backup: database -> $dump ($(wc -c < "$dump") bytes)"

if [[ -n "$config_dir" && -d "$config_dir" ]]; then
  tar czf "$backup_dir/config_$stamp.tar.gz.partial" -C "$(dirname "$config_dir")" "$(basename "$config_dir")"
  mv "$backup_dir/config_$stamp.tar.gz.partial" "$backup_dir/config_$stamp.tar.gz"
  echo "backup: config -> $backup_dir/config_$stamp.tar.gz"
fi

# retention: only this script's own files, never anything else in the folder
deleted="$(find "$backup_dir" -maxdepth 1 -type f \( -name 'db_*.sql' -o -name 'config_*.tar.gz' \) -mtime +"$retention" -print -delete | wc -l)"
echo "backup: deleted $deleted backups older than $retention days"
