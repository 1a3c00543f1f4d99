#!/bin/sh
# Usage: render.sh TEMPLATE OUTPUT [OWNER]
# Writes TEMPLATE to OUTPUT with every ${NAME} replaced by the environment variable NAME, so the broker
# accounts' passwords come from the environment and never sit in the repository; OUTPUT is readable by
# OWNER (the broker's user) only. A variable that is unset or empty stops the broker from starting (an
# account without a password would accept anyone), and so does a value with characters other than
# letters, digits, ".", "_", "~" and "-": it goes unescaped into an ACL line, a JSON string and the
# services' broker URLs. Outside ENVIRONMENT=development/test a development default password of the
# compose files (public in this repository) is refused too: it would let anyone on the network, a task
# on a worker included, log in as the core. Used by the redis and rabbitmq services of the compose files
# (docs/brokers.md); POSIX sh and awk only.
set -eu
template="$1"
output="$2"
umask 077
trap 'rm -f "$output.partial"' EXIT
awk -v development_defaults="hourglass-core-dev hourglass-worker-dev scheduler" '
BEGIN {
  environment = ENVIRON["ENVIRONMENT"] == "" ? "development" : ENVIRON["ENVIRONMENT"]
  split(development_defaults, list, " ")
  for (i in list) is_default[list[i]] = 1
}
{
  rest = $0
  out = ""
  while (match(rest, /\$\{[A-Za-z_][A-Za-z0-9_]*\}/)) {
    name = substr(rest, RSTART + 2, RLENGTH - 3)
    value = ENVIRON[name]
    if (value == "") {
      printf "render.sh: %s is not set (needed by %s)\n", name, FILENAME > "/dev/stderr"
      failed = 1
      exit 1
    }
    if (value !~ /^[A-Za-z0-9._~-]+$/) {
      printf "render.sh: %s may hold only letters, digits, \".\", \"_\", \"~\" and \"-\" (e.g. openssl rand -hex 24)\n", name > "/dev/stderr"
      failed = 1
      exit 1
    }
    if (environment != "development" && environment != "test" && (value in is_default)) {
      printf "render.sh: %s is the development default; ENVIRONMENT=%s needs a password of its own (e.g. openssl rand -hex 24)\n", name, environment > "/dev/stderr"
      failed = 1
      exit 1
    }
    out = out substr(rest, 1, RSTART - 1) value
    rest = substr(rest, RSTART + RLENGTH)
  }
  print out rest
}
END { if (failed) exit 1 }
' "$template" > "$output.partial"
if [ "${3:-}" != "" ]; then chown "$3" "$output.partial"; fi
mv "$output.partial" "$output"

