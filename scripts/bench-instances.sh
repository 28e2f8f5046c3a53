#!/usr/bin/env bash
# Load test of one and of two instances sharing PostgreSQL and Redis (cached_db sessions):
# GET / with 20 comments, as a logged-in member.
#
#   scripts/bench-instances.sh [seconds] [connections]
#
# Needs wrk, a PostgreSQL at $PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres)
# and Redis at $REDIS_URL (default redis://127.0.0.1:6379/). Everything runs on 127.0.0.1; a
# throwaway database and Redis key prefix are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-8}"
connections="${2:-32}"
admin="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
redis="${REDIS_URL:-redis://127.0.0.1:6379/}"
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }

cargo build --profile dist --features bundled --quiet --bin guestbook
name="guestbook_bench_$RANDOM$RANDOM"
prefix="guestbook-bench-$RANDOM:"
psql "$admin" -qc "CREATE DATABASE $name"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  psql "$admin" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true
  redis-cli -u "$redis" --scan --pattern "${prefix}*" | xargs -r redis-cli -u "$redis" del >/dev/null || true
}
trap cleanup EXIT

export DATABASE_URL="${admin%/*}/$name" RUST_LOG=warn SECRET_KEY="bench-secret-key-bench-secret-key-0123456789"
export SESSION_ENGINE=cached_db CACHE_URL="$redis" CACHE_KEY_PREFIX="$prefix"
# seed.sh posts its 20 comments from one address, each the moment its form is fetched and
# without the form's stamp: the comment throttle and the spam trap's stamp check are off.
export COMMENT_THROTTLE_PER_ADDRESS=0 COMMENT_MIN_SECONDS=0
./target/dist/guestbook migrate >/dev/null
echo "benchpass123" | ./target/dist/guestbook createmember bencher --password-stdin >/dev/null
start() {
  ./target/dist/guestbook serve --bind "127.0.0.1:$1" &
  pids+=($!)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return; sleep 0.1; done
  echo "instance on $1 did not start" >&2; exit 1
}
one=$(( 20000 + RANDOM % 20000 )); two=$(( one + 1 ))
start "$one"; start "$two"

. scripts/seed.sh
seed_site "http://127.0.0.1:$one"
jar="$(mktemp)"
curl -s -H "Cookie: $cookie" "http://127.0.0.1:$two/" | grep -q "Logged in as" || { echo "session not shared" >&2; exit 1; }

rps() { awk '/Requests\/sec/{print $2}'; }
single=$(wrk -t2 -c"$connections" -d"${duration}s" -H "Cookie: $cookie" "http://127.0.0.1:$one/" | rps)
half=$(( connections / 2 ))
wrk -t1 -c"$half" -d"${duration}s" -H "Cookie: $cookie" "http://127.0.0.1:$one/" | rps > "$jar.a" &
wrk -t1 -c"$half" -d"${duration}s" -H "Cookie: $cookie" "http://127.0.0.1:$two/" | rps > "$jar.b"
wait %% 2>/dev/null || true
sleep 0.2
pair=$(awk '{s+=$1} END {printf "%.2f", s}' "$jar.a" "$jar.b")
echo "GET / logged in, cached_db on PostgreSQL + Redis, ${duration}s, $connections connections, $(nproc) cores:"
printf '%-20s %10s req/s\n' "one instance" "$single"
printf '%-20s %10s req/s  (%s + %s)\n' "two instances" "$pair" "$(cat "$jar.a")" "$(cat "$jar.b")"
rm -f "$jar" "$jar.a" "$jar.b"
