#!/usr/bin/env bash
# A flood of refused logins from one address, as an attacker would send it, against the
# optimised (dist profile) binary: what it costs the members who are logged in, and how much
# state it leaves behind.
#
#   scripts/login-flood.sh            in-process cache (SESSION_ENGINE=cache, CACHE_URL=memory://)
#   CACHE=redis scripts/login-flood.sh    the same on Redis (REDIS_URL), keys counted there
#   scripts/login-flood.sh --help     this text
#
# Builds the optimised (dist profile) binary, starts it on a free 127.0.0.1 port with a SQLite file of its own,
# logs MEMBERS members in, then runs wrk for DURATION seconds posting /login with a random
# username and a wrong password each time, from one address, with a valid CSRF pair. Reports
# the requests made, the resident memory before and after, the throttle counters left (on
# Redis) and how many members are still logged in.
#
# Settings (environment): DURATION=20 MEMBERS=30 CONNECTIONS=64 THREADS=2 CACHE=memory
#   MAX_ENTRIES=100000 (the in-process cache's bound) REDIS_URL=redis://127.0.0.1:6379/
# Everything runs on 127.0.0.1; the Redis keys it wrote are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac
DURATION="${DURATION:-20}" MEMBERS="${MEMBERS:-30}" CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}" CACHE="${CACHE:-memory}" MAX_ENTRIES="${MAX_ENTRIES:-100000}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }

cargo build --profile dist --features bundled --quiet --bin guestbook
bin="$PWD/target/dist/guestbook"
work="$(mktemp -d "${TMPDIR:-/tmp}/guestbook-flood.XXXXXX")"
prefix="guestbook-flood-$$-"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  if [ "$CACHE" = redis ]; then
    redis-cli -u "$REDIS_URL" --scan --pattern "${prefix}*" |
      xargs -r -n 500 redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

case "$CACHE" in
  memory) cache_url="memory://?max_entries=$MAX_ENTRIES" ;;
  redis) cache_url="$REDIS_URL" ;;
  *) echo "CACHE is memory or redis, not $CACHE" >&2; exit 2 ;;
esac
export SECRET_KEY="flood-$(head -c 24 /dev/urandom | base64)" DATABASE_URL="$work/db.sqlite3"
export SESSION_ENGINE=cache CACHE_URL="$cache_url" CACHE_KEY_PREFIX="$prefix" RUST_LOG=warn
export PASSWORD_ARGON2_MEMORY_KIB=8 PASSWORD_ARGON2_ITERATIONS=1
port=$((10000 + RANDOM % 22000))
"$bin" migrate >/dev/null
for n in $(seq "$MEMBERS"); do
  echo "correct horse battery" | "$bin" createmember "member$n" --password-stdin >/dev/null
done
"$bin" serve --bind "127.0.0.1:$port" 2>"$work/server.log" &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fs "$base/livez" >/dev/null && break; sleep 0.1; done

# A page's CSRF pair: the cookie from the jar, the token from the form.
csrf_pair() {
  local jar="$1" page
  page="$(curl -fs -c "$jar" -b "$jar" "$base/login")"
  sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' <<<"$page" | head -n 1
}
logged_in=0
for n in $(seq "$MEMBERS"); do
  jar="$work/member$n.jar"
  token="$(csrf_pair "$jar")"
  curl -fs -o /dev/null -c "$jar" -b "$jar" --data-urlencode "username=member$n" \
    --data-urlencode "password=correct horse battery" --data-urlencode "csrf_token=$token" \
    "$base/login"
done
still_logged_in() {
  local count=0 n
  for n in $(seq "$MEMBERS"); do
    curl -fs -b "$work/member$n.jar" "$base/" | grep -q "Logged in as <strong>member$n</strong>" &&
      count=$((count + 1))
  done
  echo "$count"
}
rss() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$server/status"; }
logged_in="$(still_logged_in)"
rss_before="$(rss)"

token="$(csrf_pair "$work/attacker.jar")"
cookie="$(awk '$6 == "csrftoken" { print $7 }' "$work/attacker.jar")"
CSRF_COOKIE="$cookie" CSRF_TOKEN="$token" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
  -s scripts/bench/login_flood.lua "$base" >"$work/wrk.txt"
# What the flood's requests are answered now (the address is over its limit): one more.
last_status="$(curl -s -o /dev/null -w '%{http_code}' -b "$work/attacker.jar" \
  --data-urlencode "username=one-more" --data-urlencode "password=guess" \
  --data-urlencode "csrf_token=$token" "$base/login")"
requests="$(awk '/requests in/ { print $1 }' "$work/wrk.txt")"
rate="$(awk '/Requests\/sec/ { print $2 }' "$work/wrk.txt")"
refused="$(awk '/Non-2xx/ { print $NF }' "$work/wrk.txt")"
rss_after="$(rss)"
survivors="$(still_logged_in)"

echo "login flood: $requests requests in ${DURATION}s ($rate/s), ${refused:-0} answered 4xx; one more now: $last_status"
echo "cache: $CACHE ($cache_url)"
echo "members logged in: $logged_in before, $survivors after"
echo "resident memory: $rss_before MiB before, $rss_after MiB after"
if [ "$CACHE" = redis ]; then
  keys="$(redis-cli -u "$REDIS_URL" --scan --pattern "${prefix}throttle:*" | wc -l)"
  bytes="$(redis-cli -u "$REDIS_URL" --scan --pattern "${prefix}throttle:*" |
    while read -r key; do redis-cli -u "$REDIS_URL" memory usage "$key"; done |
    awk '{ s += $1 } END { print s + 0 }')"
  echo "throttle keys in Redis: $keys ($bytes bytes by MEMORY USAGE)"
fi
