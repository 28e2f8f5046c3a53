#!/usr/bin/env bash
# The site beside a Django site (DJANGO_COMPAT) against the default mode, on one optimised (dist profile) binary
# and SQLite (the db engine): a logged-in member's GET / with 20 comments, an anonymous GET /,
# and one login's time (Django's PBKDF2 at 1,000,000 iterations against argon2id).
#
#   scripts/bench-django.sh [seconds] [connections] [rounds]
#
# Needs wrk and a Python with tests/django_site/requirements.txt installed: $DJANGO_PYTHON, by
# default target/django-venv/bin/python (.ci/run makes it). Both servers run on 127.0.0.1 at
# once and are measured in turn, round after round; medians are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-5}"
connections="${2:-64}"
rounds="${3:-3}"
python="${DJANGO_PYTHON:-target/django-venv/bin/python}"
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
[ -x "$python" ] || { echo "no Django: set DJANGO_PYTHON (or run .ci/run once)" >&2; exit 1; }

cargo build --profile dist --features bundled --quiet --bin guestbook
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

export RUST_LOG=warn SECRET_KEY="bench-secret-key-bench-secret-key-0123456789"
export COMMENT_THROTTLE_PER_ADDRESS=0 COMMENT_MIN_SECONDS=0 LOGIN_THROTTLE_PER_USER=1000000
. scripts/seed.sh

# start MODE PORT: a server in MODE (default or django) on its own database, seeded; sets
# $cookie_<MODE>.
start() {
  local mode="$1" port="$2" db="$work/$1.sqlite3"
  local env=(DATABASE_URL="$db")
  if [ "$mode" = django ]; then
    env+=(DJANGO_COMPAT=true)
    (cd tests/django_site && DJANGO_DATABASE_URL="sqlite://$db" "$OLDPWD/$python" manage.py migrate -v0)
  fi
  env "${env[@]}" ./target/dist/guestbook migrate >/dev/null
  echo "benchpass123" | env "${env[@]}" ./target/dist/guestbook createmember bencher --password-stdin >/dev/null
  env "${env[@]}" ./target/dist/guestbook serve --bind "127.0.0.1:$port" &
  pids+=($!)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/livez" >/dev/null && break; sleep 0.1; done
  seed_site "http://127.0.0.1:$port"
  printf -v "cookie_$mode" '%s' "$cookie"
}
port=$(( 20000 + RANDOM % 20000 ))
start default "$port"
start django "$(( port + 1 ))"

rps() { awk '/Requests\/sec/{print $2}'; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
declare -A member anonymous
for round in $(seq "$rounds"); do
  for mode in default django; do
    p=$port; [ "$mode" = django ] && p=$(( port + 1 ))
    c="cookie_$mode"
    member[$mode]+="$(wrk -t2 -c"$connections" -d"${duration}s" -H "Cookie: ${!c}" "http://127.0.0.1:$p/" | rps) "
    anonymous[$mode]+="$(wrk -t2 -c"$connections" -d"${duration}s" "http://127.0.0.1:$p/" | rps) "
  done
  echo "round $round done" >&2
done

# One login's time, the median of five (the hashing thread's work, plus the request).
login_ms() {
  local base="$1" jar token times=()
  jar="$(mktemp)"
  for _ in 1 2 3 4 5; do
    rm -f "$jar"
    token=$(curl -s -c "$jar" "$base/" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
    times+=("$(curl -s -b "$jar" -c "$jar" -o /dev/null -w '%{time_total}' \
      -d "username=bencher&password=benchpass123&csrf_token=$token" "$base/login")")
  done
  rm -f "$jar"
  printf '%s\n' "${times[@]}" | median | awk '{printf "%.0f", $1 * 1000}'
}

echo "SQLite, db engine, ${duration}s x $rounds rounds, $connections connections, $(nproc) cores (median requests/s):"
echo
echo "| mode | member GET / | anonymous GET / | one login (ms) |"
echo "|---|--:|--:|--:|"
for mode in default django; do
  p=$port; [ "$mode" = django ] && p=$(( port + 1 ))
  m=$(tr ' ' '\n' <<<"${member[$mode]}" | grep . | median)
  a=$(tr ' ' '\n' <<<"${anonymous[$mode]}" | grep . | median)
  label="default (argon2id)"; [ "$mode" = django ] && label="DJANGO_COMPAT (PBKDF2)"
  echo "| $label | $m | $a | $(login_ms "http://127.0.0.1:$p") |"
done
