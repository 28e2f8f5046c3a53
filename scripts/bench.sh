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

cargo build --release --quiet
dir="$(mktemp -d)"
port=$(( 20000 + RANDOM % 20000 ))
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT

export DATABASE_URL="$dir/bench.sqlite3" RUST_LOG=warn SECRET_KEY="bench-secret-key-bench-secret-key-0123456789"
./target/release/guestbook migrate >/dev/null
echo "benchpass123" | ./target/release/guestbook createmember bencher --password-stdin >/dev/null
./target/release/guestbook serve --bind "127.0.0.1:$port" &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

base="http://127.0.0.1:$port"
jar="$dir/cookies"
# 20 comments from 20 visitors.
for i in $(seq 20); do
  rm -f "$jar"
  token=$(curl -s -c "$jar" "$base/" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
  curl -s -b "$jar" -c "$jar" -o /dev/null --data-urlencode "comment=Benchmark comment number $i, long enough to look like a real one." \
    --data-urlencode "csrf_token=$token" "$base/comments"
done
# A logged-in member's cookies.
rm -f "$jar"
token=$(curl -s -c "$jar" "$base/" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
curl -s -b "$jar" -c "$jar" -o /dev/null -d "username=bencher&password=benchpass123&csrf_token=$token" "$base/login"
csrf=$(awk '$6=="csrftoken"{print $7}' "$jar")
session_cookie=$(awk '$6=="sessionid"{print $7}' "$jar")
[ -n "$session_cookie" ] || { echo "login failed" >&2; exit 1; }
curl -s -b "$jar" "$base/" | grep -q "Logged in as" || { echo "session not honoured" >&2; exit 1; }

rps() {
  wrk -t2 -c"$connections" -d"${duration}s" "$@" "$base/" | awk '/Requests\/sec/{print $2}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
plain=(); session=()
for _ in $(seq "$rounds"); do
  plain+=("$(rps -H "Cookie: csrftoken=$csrf")")
  session+=("$(rps -H "Cookie: csrftoken=$csrf; sessionid=$session_cookie")")
done
plain_median=$(printf '%s\n' "${plain[@]}" | median)
session_median=$(printf '%s\n' "${session[@]}" | median)
echo "GET / (20 comments), $rounds x ${duration}s, $connections connections, $(nproc) cores (median req/s; all runs):"
printf '%-40s %10s   (%s)\n' "no session (csrftoken cookie only)" "$plain_median" "${plain[*]}"
printf '%-40s %10s   (%s)\n' "logged-in session, db engine" "$session_median" "${session[*]}"
awk -v p="$plain_median" -v s="$session_median" 'BEGIN { printf "session layer cost: %.1f%% of throughput\n", (1 - s / p) * 100 }'
