#!/usr/bin/env bash
# Measures GET / on a release build: 20 comments from SQLite, with and without a session.
#
#   scripts/bench.sh [seconds] [connections] [rounds]
#
# The two cases alternate for [rounds] rounds and the median of each is reported, because a
# shared 2-core machine is noisy from one run to the next.
#
# Needs wrk (apt-get install wrk). Everything runs on 127.0.0.1 in a throwaway folder.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
connections="${2:-64}"
rounds="${3:-3}"
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }

cargo build --release --quiet --bin guestbook --example plain_baseline
dir="$(mktemp -d)"
port=$(( 20000 + RANDOM % 20000 ))
baseline_port=$(( port + 1 ))
trap 'kill "$server" "$baseline" 2>/dev/null || true; rm -rf "$dir"' EXIT

export DATABASE_URL="$dir/bench.sqlite3" RUST_LOG=warn SECRET_KEY="bench-secret-key-bench-secret-key-0123456789"
./target/release/guestbook migrate >/dev/null
echo "benchpass123" | ./target/release/guestbook createmember bencher --password-stdin >/dev/null
./target/release/guestbook serve --bind "127.0.0.1:$port" &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

base="http://127.0.0.1:$port"
. scripts/seed.sh
seed_site "$base"
# The yardstick reads the same database with the bare session key (no signature).
./target/release/examples/plain_baseline "$DATABASE_URL" "127.0.0.1:$baseline_port" &
baseline=$!
baseline_base="http://127.0.0.1:$baseline_port"
# A signed session cookie is the signature followed by the 64-character key.
raw_key="${session_cookie: -64}"
for _ in $(seq 50); do curl -sf "$baseline_base/" -o /dev/null && break; sleep 0.1; done
curl -s -b "sessionid=$raw_key" "$baseline_base/" | grep -q "Logged in as" || { echo "baseline did not read the session" >&2; exit 1; }

rps() {
  local url="$1"; shift
  wrk -t2 -c"$connections" -d"${duration}s" "$@" "$url/" | awk '/Requests\/sec/{print $2}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
reference=(); plain=(); session=()
for _ in $(seq "$rounds"); do
  reference+=("$(rps "$baseline_base" -H "Cookie: sessionid=$raw_key")")
  plain+=("$(rps "$base" -H "Cookie: csrftoken=$csrf")")
  session+=("$(rps "$base" -H "Cookie: csrftoken=$csrf; sessionid=$session_cookie")")
done
reference_median=$(printf '%s\n' "${reference[@]}" | median)
plain_median=$(printf '%s\n' "${plain[@]}" | median)
session_median=$(printf '%s\n' "${session[@]}" | median)
echo "GET / (20 comments), $rounds x ${duration}s, $connections connections, $(nproc) cores (median req/s; all runs):"
printf '%-40s %10s   (%s)\n' "plain actix-web reference, logged in" "$reference_median" "${reference[*]}"
printf '%-40s %10s   (%s)\n' "guestbook, no session (csrftoken only)" "$plain_median" "${plain[*]}"
printf '%-40s %10s   (%s)\n' "guestbook, logged in (db engine)" "$session_median" "${session[*]}"
awk -v r="$reference_median" -v s="$session_median" 'BEGIN { printf "guestbook logged in vs the plain reference: %+.1f%%\n", (s / r - 1) * 100 }'
awk -v p="$plain_median" -v s="$session_median" 'BEGIN { printf "guestbook logged in vs guestbook without a session: %+.1f%%\n", (s / p - 1) * 100 }'
