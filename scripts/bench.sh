#!/usr/bin/env bash
# The benchmark: every session engine under realistic data, against a bare actix-web ceiling.
#
#   scripts/bench.sh            the full run (about 11 minutes on 2 cores, plus the build)
#   scripts/bench.sh --quick    a smoke run of every scenario but scale (about a minute, plus the build)
#   scripts/bench.sh --help     this text
#   PREBUILT=<dir> scripts/bench.sh   the same on binaries built before, without building
#
# Builds the optimised (dist profile) binary and the two examples it needs (unless PREBUILT
# is set), installs wrk if missing, starts one server per configuration on a random
# 127.0.0.1 port, each with its own storage holding 1,000 comments, 10,000 stored sessions
# and four members, and measures:
#   1  anonymous GET / (only a csrftoken cookie)
#   2  a logged-in member's GET /  (again with SESSION_SERIALIZER=msgpack)
#   3  POST /comments, every request a fresh visitor (a comment and a session each)
#   4  16 clients logging in continuously while 2 runs: both sides reported
#   5  2 on the db engine with 1,000 and with 1,000,000 stored sessions (SQLite, PostgreSQL)
#   6  a bare actix-web handler returning a body of the home page's size: the ceiling
#   pg   the PostgreSQL server's own ceiling on the same cores, from pgbench on a throwaway
#        database (pgbench -i -s 10): -S, a select by key, alternating with 1, 2 and 6; and
#        -N, a simple update (one durable commit each), beside 3 (both -M prepared -c 16 -j 2)
#   scale  2 through nginx on cached_db sessions in PostgreSQL + Redis: one guestbook instance
#        behind nginx, and two sharing the database and the Redis prefix (needs nginx)
#   mem  idle RSS after start, and RSS holding 100,000 sessions in the in-process cache
# Cases 1, 2, 6 and pgbench -S alternate for ROUNDS rounds and report medians (a shared 2-core
# machine is noisy), as do case 5 and scale among their own; the others run OTHER_ROUNDS
# rounds. Prints a Markdown report and saves it to target/bench/results-<date>.md.
#
# Settings (environment; --quick changes the defaults marked *):
#   DURATION=5*  CONNECTIONS=64  THREADS=2  ROUNDS=3*  OTHER_ROUNDS=1
#   CONFIGS=db-sqlite,db-postgres,cache-memory,cache-redis,cached_db,cached_db-postgres,file,
#           signed_cookies*  (cached_db: sessions in SQLite + Redis; cached_db-postgres: in
#           PostgreSQL + Redis, comments in PostgreSQL too)
#   MSGPACK_CONFIGS=<as CONFIGS>*   configurations whose member page is measured with msgpack too
#   SCENARIOS=1,2,3,4,5,6,pg,scale,mem*   e.g. SCENARIOS=1,2 CONFIGS=db-sqlite,cache-memory
#            (--quick: 1,2,3,4,5,6,mem, and pg when CONFIGS lists db-postgres)
#   COMMENTS=1000  SESSIONS=10000  SMALL_SESSIONS=1000  LARGE_SESSIONS=1000000*
#   MEMORY_SESSIONS=100000*  LOGIN_CLIENTS=16
#   PG_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres  REDIS_URL=redis://127.0.0.1:6379/
#   PREBUILT=<dir>   use <dir>/guestbook, <dir>/examples/bench_seed and <dir>/examples/bare_handler
#            (the layout of target/dist) and skip the build. To compare two builds, copy each
#            build's three binaries to a folder of its own and run the script on each, e.g.
#            PREBUILT=/tmp/before scripts/bench.sh; PREBUILT=/tmp/after scripts/bench.sh
#            (the report names the folder and a checksum of its guestbook binary).
#   KEEP=1   keep the work folder (server logs, wrk and pgbench output) instead of removing it
# Configurations whose service (PostgreSQL, Redis) does not answer are skipped, with a note;
# so are pg without PostgreSQL or pgbench, and scale without PostgreSQL, Redis or nginx (which
# is installed when missing, as wrk is).
# Everything runs on 127.0.0.1; throwaway databases and Redis keys are removed at the end.
set -euEo pipefail
# A failing command stops the run: say which, not just stop.
trap 'echo "bench.sh: line $LINENO: \"$BASH_COMMAND\" failed (exit $?)" >&2' ERR
# A relative PREBUILT is the caller's, so made absolute before leaving their folder.
PREBUILT="${PREBUILT:-}"
if [ -n "$PREBUILT" ]; then
  prebuilt="$(cd "$PREBUILT" 2>/dev/null && pwd)" ||
    { echo "PREBUILT: no such folder: $PREBUILT" >&2; exit 2; }
  PREBUILT="$prebuilt"
fi
cd "$(dirname "$0")/.."
root="$PWD"
command_line="scripts/bench.sh $*"

all_configs="db-sqlite,db-postgres,cache-memory,cache-redis,cached_db,cached_db-postgres,file,signed_cookies"
listed() { [[ ",$2," == *",$1,"* ]]; }
for arg in "$@"; do
  case "$arg" in
    --quick)
      : "${DURATION:=2}" "${ROUNDS:=1}" "${CONFIGS:=db-sqlite,cache-memory,signed_cookies}"
      : "${MSGPACK_CONFIGS:=db-sqlite}" "${LARGE_SESSIONS:=100000}" "${MEMORY_SESSIONS:=10000}"
      # pgbench is a ceiling for the PostgreSQL rows, so only with them; scale takes a while.
      if listed db-postgres "$CONFIGS"; then : "${SCENARIOS:=1,2,3,4,5,6,pg,mem}"; fi
      : "${SCENARIOS:=1,2,3,4,5,6,mem}"
      ;;
    -h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
DURATION="${DURATION:-5}" CONNECTIONS="${CONNECTIONS:-64}" THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}" OTHER_ROUNDS="${OTHER_ROUNDS:-1}"
CONFIGS="${CONFIGS:-$all_configs}"
MSGPACK_CONFIGS="${MSGPACK_CONFIGS-$CONFIGS}"
SCENARIOS="${SCENARIOS:-1,2,3,4,5,6,pg,scale,mem}"
COMMENTS="${COMMENTS:-1000}" SESSIONS="${SESSIONS:-10000}"
SMALL_SESSIONS="${SMALL_SESSIONS:-1000}" LARGE_SESSIONS="${LARGE_SESSIONS:-1000000}"
MEMORY_SESSIONS="${MEMORY_SESSIONS:-100000}" LOGIN_CLIENTS="${LOGIN_CLIENTS:-16}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/}"

secret_key="bench-secret-key-bench-secret-key-0123456789"
member=bencher password=benchpass123
other_members=(ada grace linus)

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
wants() { [[ ",$SCENARIOS," == *",$1,"* ]]; }
split() { tr ',' '\n' <<<"$1" | sed '/^$/d'; }

# ---------------------------------------------------------------------------------------------
# Tools, build, services
# ---------------------------------------------------------------------------------------------
# Installs Debian package $2 for the missing command $1 (as root or through sudo); says why
# not and fails when it cannot.
install_package() {
  local tool="$1" package="$2" sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      echo "$tool is not installed and this user cannot install it: run apt-get install -y $package as root" >&2
      return 1
    fi
  fi
  log "installing $tool"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y "$package" >/dev/null ||
    { "${sudo[@]}" apt-get update >/dev/null && "${sudo[@]}" apt-get install -y "$package" >/dev/null; }
}
install_wrk() {
  command -v wrk >/dev/null && return
  install_package wrk wrk || exit 1
  command -v wrk >/dev/null || { echo "could not install wrk" >&2; exit 1; }
}
install_wrk
for tool in curl awk; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
# nginx, for scale only. /usr/sbin is not on every user's PATH. Debian 12's nginx-light is the
# smallest (Debian 13 has only nginx). Where no policy-rc.d stops it, installing the package
# also starts the system's nginx service, which this script neither uses nor stops.
nginx_bin=""
find_nginx() { nginx_bin="$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)"; }
if wants scale; then
  find_nginx
  if [ -z "$nginx_bin" ]; then
    install_package nginx nginx-light || install_package nginx nginx || true
    find_nginx
  fi
fi

if [ -n "$PREBUILT" ]; then
  bin="$PREBUILT/guestbook"
  seed="$PREBUILT/examples/bench_seed"
  bare="$PREBUILT/examples/bare_handler"
  for file in "$bin" "$seed" "$bare"; do
    [ -x "$file" ] || { echo "PREBUILT: $file is missing or not executable" >&2; exit 2; }
  done
  log "using the binaries in $PREBUILT (no build)"
else
  log "building (dist profile)"
  cargo build --profile dist --features bundled --quiet --bin guestbook --example bench_seed --example bare_handler
  bin="$root/target/dist/guestbook"
  seed="$root/target/dist/examples/bench_seed"
  bare="$root/target/dist/examples/bare_handler"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/guestbook-bench.XXXXXX")"
run_id="$(date +%s)_$$"
redis_prefix="guestbook-bench-$run_id-"
pg_dbs=() pids=() notes=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  for db in "${pg_dbs[@]}"; do
    psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  if [ -n "${redis_up:-}" ]; then
    redis-cli -u "$REDIS_URL" --scan --pattern "${redis_prefix}*" |
      xargs -r -n 500 redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  fi
  if [ -n "${KEEP:-}" ]; then log "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_up="" redis_up=""
if command -v psql >/dev/null && psql "$PG_ADMIN_URL" -Atqc 'select 1' >/dev/null 2>&1; then pg_up=1; fi
if command -v redis-cli >/dev/null && [ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" = PONG ]; then
  redis_up=1
fi
usable() {
  case "$1" in
    db-postgres) [ -n "$pg_up" ] || { notes+=("skipped $1: PostgreSQL does not answer at $PG_ADMIN_URL"); return 1; } ;;
    cache-redis | cached_db)
      [ -n "$redis_up" ] || { notes+=("skipped $1: Redis does not answer at $REDIS_URL"); return 1; } ;;
    cached_db-postgres)
      [ -n "$pg_up" ] || { notes+=("skipped $1: PostgreSQL does not answer at $PG_ADMIN_URL"); return 1; }
      [ -n "$redis_up" ] || { notes+=("skipped $1: Redis does not answer at $REDIS_URL"); return 1; } ;;
    db-sqlite | cache-memory | file | signed_cookies) ;;
    *) echo "unknown configuration: $1 (known: $all_configs)" >&2; exit 2 ;;
  esac
}
configs=() msgpack_configs=()
for c in $(split "$CONFIGS"); do usable "$c" && configs+=("$c"); done
joined() { local IFS=,; echo "$*"; }
for c in $(split "$MSGPACK_CONFIGS"); do
  if listed "$c" "$CONFIGS"; then
    if listed "$c" "$(joined "${configs[@]}")"; then msgpack_configs+=("$c"); fi
  elif usable "$c"; then
    msgpack_configs+=("$c")
  fi
done

# ---------------------------------------------------------------------------------------------
# Instances: one server per configuration, each with its own storage
# ---------------------------------------------------------------------------------------------
declare -A PORT PID DIR CSRF TOKEN MEMBER IDLE LABEL USED_PAIRS

# Fresh visitors' CSRF pairs (`cookie token` lines): the site knows a visitor by their CSRF
# cookie, so each comment posted needs its own. Every instance has its own database and so
# reads the same file, from its own USED_PAIRS offset on.
pairs="$work/csrf-pairs.txt"
pair_count=$((SESSIONS > MEMORY_SESSIONS ? SESSIONS : MEMORY_SESSIONS))
pair_count=$((pair_count + 20000 * DURATION * OTHER_ROUNDS + 1000))
(cd "$work" && env -i SECRET_KEY="$secret_key" DATABASE_URL="$work/unused.sqlite3" \
  "$seed" csrf-pairs "$pair_count" >"$pairs")

# Below the kernel's ephemeral range (32768 and up by default), so no outgoing connection of
# wrk, Redis or PostgreSQL clients can hold the port between this check and the server's bind.
free_port() {
  local port
  while :; do
    port=$((10000 + RANDOM % 22000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# A new throwaway PostgreSQL database (dropped by cleanup); its name in `pg_db`.
new_pg_db() {
  pg_db="guestbook_bench_${run_id}_${#pg_dbs[@]}"
  psql "$PG_ADMIN_URL" -qc "CREATE DATABASE \"$pg_db\"" >/dev/null
  pg_dbs+=("$pg_db")
}

# Writes the environment of instance $1 (configuration $2, serializer $3) to its folder.
write_env() {
  local key="$1" config="$2" serializer="$3" dir="${DIR[$1]}"
  {
    echo "PATH=$PATH"
    echo "SECRET_KEY=$secret_key"
    echo "RUST_LOG=warn"
    echo "SESSION_SERIALIZER=$serializer"
    # Out of the way: 16 clients log in as one member from one address, on purpose.
    echo "LOGIN_THROTTLE_PER_USER=1000000"
    echo "LOGIN_THROTTLE_PER_ADDRESS=1000000"
    # Out of the way too: every comment posted comes from one address, the moment its CSRF
    # pair is taken, with no form read (post_comment.lua), so the comment throttle and the spam
    # trap's form stamp would refuse them; the benchmark measures storing comments. (The
    # honeypot costs nothing and stays.)
    echo "COMMENT_THROTTLE_PER_ADDRESS=0"
    echo "COMMENT_MIN_SECONDS=0"
    case "$config" in
      db-postgres | cached_db-postgres)
        new_pg_db
        echo "DATABASE_URL=${PG_ADMIN_URL%/*}/$pg_db"
        ;;
      *) echo "DATABASE_URL=$dir/guestbook.sqlite3" ;;
    esac
    case "$config" in
      db-*) echo "SESSION_ENGINE=db" ;;
      cache-memory) echo "SESSION_ENGINE=cache" ;;
      cache-redis | cached_db | cached_db-postgres)
        if [ "$config" = cache-redis ]; then echo "SESSION_ENGINE=cache"; else echo "SESSION_ENGINE=cached_db"; fi
        echo "CACHE_URL=$REDIS_URL"
        echo "CACHE_KEY_PREFIX=$redis_prefix${key//[^a-zA-Z0-9_]/_}:"
        ;;
      file)
        mkdir -p "$dir/sessions"
        echo "SESSION_ENGINE=file"
        echo "SESSION_FILE_PATH=$dir/sessions"
        ;;
      signed_cookies) echo "SESSION_ENGINE=signed_cookies" ;;
    esac
    if [[ "$key" == scale-* ]]; then
      # Behind nginx (scale), which passes the client's Host (127.0.0.1:<its port>; the port is
      # not compared) and the client's address in X-Forwarded-For, believed from 127.0.0.1 only.
      echo "ALLOWED_HOSTS=127.0.0.1"
      echo "TRUSTED_PROXIES=127.0.0.1"
    fi
  } >"$dir/env"
}

# Runs a command in instance $1's environment (and nothing of this shell's), in its folder.
in_env() {
  local key="$1"; shift
  local vars
  mapfile -t vars <"${DIR[$key]}/env"
  (cd "${DIR[$key]}" && exec env -i "${vars[@]}" "$@")
}

# The VmRSS / VmHWM of a process, in MiB.
rss_mib() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "-"; }
# Restarts VmHWM (the peak) from the current RSS, so each case reports its own peak.
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }

# Whether /healthz on port $1 answers, asked every 0.1 s up to $3 times while process $2 lives.
answers_health() {
  local port="$1" pid="$2" tries="$3"
  for _ in $(seq "$tries"); do
    curl -sf --max-time 10 "http://127.0.0.1:$port/healthz" -o /dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  curl -sf --max-time 10 "http://127.0.0.1:$port/healthz" -o /dev/null
}

start_server() {
  local key="$1" port vars
  port="$(free_port)"
  mapfile -t vars <"${DIR[$key]}/env"
  (cd "${DIR[$key]}" && exec env -i "${vars[@]}" "$bin" serve --no-migrate --bind "127.0.0.1:$port") \
    >"${DIR[$key]}/server.log" 2>&1 &
  PID[$key]=$! PORT[$key]=$port
  pids+=("$!")
  answers_health "$port" "${PID[$key]}" 100 || {
    echo "instance $key did not start; its log:" >&2
    tail -20 "${DIR[$key]}/server.log" >&2
    exit 1
  }
  sleep 0.5
  IDLE[$key]="$(rss_mib "${PID[$key]}" VmRSS)"
}

stop_server() {
  kill "${PID[$1]}" 2>/dev/null || true
  wait "${PID[$1]}" 2>/dev/null || true
}

# The form token in a page's <meta name="csrf-token" content="...">.
form_token() { sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p' | head -1; }
jar_cookie() { awk -v n="$2" '$6 == n { print $7 }' "$1"; }

# A CSRF pair for instance $1, and its member logged in.
log_in_member() {
  local key="$1" base="http://127.0.0.1:${PORT[$1]}" jar="${DIR[$1]}/jar" token session
  rm -f "$jar"
  token="$(curl -s --max-time 10 -c "$jar" "$base/" | form_token)"
  CSRF[$key]="$(jar_cookie "$jar" csrftoken)" TOKEN[$key]="$token"
  [ -n "$token" ] && [ -n "${CSRF[$key]}" ] || { echo "$key: GET / gave no CSRF pair" >&2; exit 1; }
  curl -s --max-time 10 -b "$jar" -c "$jar" -o /dev/null --data-urlencode "username=$member" \
    --data-urlencode "password=$password" --data-urlencode "csrf_token=$token" "$base/login"
  session="$(jar_cookie "$jar" sessionid)"
  [ -n "$session" ] || { echo "$key: the member's login failed" >&2; exit 1; }
  MEMBER[$key]="csrftoken=$(jar_cookie "$jar" csrftoken); sessionid=$session"
}

# bench_seed $2 $3 in instance $1's environment; its own words when it fails.
seed() {
  local key="$1"
  in_env "$key" "$seed" "$2" "$3" 2>>"${DIR[$key]}/seed.log" || {
    echo "bench_seed $2 $3 failed for $key; its log:" >&2
    tail -5 "${DIR[$key]}/seed.log" >&2
    exit 1
  }
}

# Instance $1 of configuration $2 with serializer $3 and $4 stored sessions: storage made and
# filled, server started, member logged in.
prepare() {
  local key="$1" config="$2" serializer="$3" sessions="$4" name
  DIR[$key]="$work/${key//[^a-zA-Z0-9_.-]/_}"
  LABEL[$key]="$config, $serializer" USED_PAIRS[$key]=0
  mkdir -p "${DIR[$key]}"
  write_env "$key" "$config" "$serializer"
  in_env "$key" "$bin" migrate >/dev/null
  for name in "$member" "${other_members[@]}"; do
    printf '%s\n' "$password" | in_env "$key" "$bin" createmember "$name" --password-stdin >/dev/null
  done
  seed "$key" comments "$COMMENTS"
  seed "$key" sessions "$sessions"
  start_server "$key"
  log_in_member "$key"
  # The in-process cache can only be filled by the server itself: by fresh visitors posting.
  if [ "$config" = cache-memory ] && [ "$sessions" -gt 0 ]; then post_until "$key" "$sessions"; fi
  log "ready: $key on port ${PORT[$key]} (idle RSS ${IDLE[$key]} MiB; $(tail -1 "${DIR[$key]}/seed.log" | sed 's/^bench_seed: //'))"
}

# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------
results="$work/results.tsv"  # case, instance, round, req/s, p50, p99, errors, requests, peak RSS
: >"$results"
wrk_runs=0

# "req/s p50_ms p99_ms errors requests" from wrk's --latency output.
parse_wrk() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000
      if (v ~ /h$/) return v * 3600000
      if (v ~ /s$/) return v * 1000
      return v + 0
    }
    /^Requests\/sec:/ { rps = $2 }
    /requests in/ { requests = $1 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
    END {
      if (rps == "") { print "failed - - - -"; exit }
      printf "%s %.2f %.2f %d %d\n", rps, p50, p99, errors, requests
    }' "$1"
}

record() { # case, instance, round, parsed wrk (or pgbench) numbers, peak RSS
  local parsed unit=req/s
  read -r -a parsed <<<"$4"
  [ "$2" != pgbench ] || unit=tps
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${parsed[@]}" "$5" >>"$results"
  log "$1 | ${LABEL[$2]:-$2} | round $3: ${parsed[0]} $unit, p50 ${parsed[1]} ms, p99 ${parsed[2]} ms, errors ${parsed[3]}, peak RSS $5 MiB"
}

failed() { # case, instance, round, why
  notes+=("$1 on ${LABEL[$2]:-$2}, round $3: not measured, the check before it failed: $4")
  printf '%s\t%s\t%s\tfailed\t-\t-\t-\t-\t-\n' "$1" "$2" "$3" >>"$results"
  log "CHECK FAILED: $1 on $2: $4"
}

# wrk against instance $2 for case $1, round $3; the rest are wrk's arguments.
measure() {
  local case="$1" key="$2" round="$3" out="$work/wrk-$((++wrk_runs)).txt"
  shift 3
  reset_peak "${PID[$key]}"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" >"$out" 2>&1 || true
  record "$case" "$key" "$round" "$(parse_wrk "$out")" "$(rss_mib "${PID[$key]}" VmHWM)"
}

# The status code of a request (000 when there was no answer), its body in check.html.
status_of() { curl -s --max-time 10 -o "$work/check.html" -w '%{http_code}' "$@" || true; }

check_anonymous() {
  local code
  code="$(status_of -H "Cookie: csrftoken=${CSRF[$1]}" "http://127.0.0.1:${PORT[$1]}/")"
  [ "$code" = 200 ] || { echo "anonymous GET / answered $code"; return 1; }
  grep -q 'name="csrf-token"' "$work/check.html" || { echo "no CSRF token on the page"; return 1; }
  ! grep -q "Logged in as" "$work/check.html" || { echo "the anonymous page is logged in"; return 1; }
}
check_member() {
  local code
  code="$(status_of -H "Cookie: ${MEMBER[$1]}" "http://127.0.0.1:${PORT[$1]}/")"
  [ "$code" = 200 ] || { echo "member GET / answered $code"; return 1; }
  grep -q "Logged in as" "$work/check.html" || { echo "the member page is not logged in"; return 1; }
}
# A fresh visitor's comment, with the next unused pair of instance $1 (the caller counts it).
check_post() {
  local code pair
  read -r -a pair < <(sed -n "$((USED_PAIRS[$1] + 1))p" "$pairs")
  code="$(status_of -H "Cookie: csrftoken=${pair[0]}" --data-urlencode "comment=One more check comment" \
    --data-urlencode "csrf_token=${pair[1]}" "http://127.0.0.1:${PORT[$1]}/comments")"
  [ "$code" = 303 ] || { echo "POST /comments with a fresh CSRF pair answered $code, not 303"; return 1; }
}
check_login() {
  local code
  code="$(status_of -H "Cookie: csrftoken=${CSRF[$1]}" --data-urlencode "username=$member" \
    --data-urlencode "password=$password" --data-urlencode "csrf_token=${TOKEN[$1]}" \
    "http://127.0.0.1:${PORT[$1]}/login")"
  [ "$code" = 303 ] || { echo "POST /login answered $code, not 303"; return 1; }
}

case_anonymous() {
  local why
  why="$(check_anonymous "$1")" || { failed "1 anonymous GET /" "$1" "$2" "$why"; return; }
  measure "1 anonymous GET /" "$1" "$2" -H "Cookie: csrftoken=${CSRF[$1]}" "http://127.0.0.1:${PORT[$1]}/"
}
case_member() { # instance, round, case label
  local why label="${3:-2 member GET /}"
  why="$(check_member "$1")" || { failed "$label" "$1" "$2" "$why"; return; }
  measure "$label" "$1" "$2" -H "Cookie: ${MEMBER[$1]}" "http://127.0.0.1:${PORT[$1]}/"
}
# wrk's environment for fresh visitors posting to instance $1.
posting() {
  BENCH_PAIRS="$pairs" BENCH_PAIR_OFFSET="${USED_PAIRS[$1]}" BENCH_THREADS="$THREADS" "${@:2}"
}
# Pairs past the answered requests: the ones still in flight when wrk stopped may have counted.
spend_pairs() { USED_PAIRS[$1]=$((USED_PAIRS[$1] + $2 + CONNECTIONS + 16)); }

case_post() {
  local why case="3 POST /comments, fresh visitors"
  why="$(check_post "$1")" || { failed "$case" "$1" "$2" "$why"; return; }
  USED_PAIRS[$1]=$((USED_PAIRS[$1] + 1))
  posting "$1" measure "$case" "$1" "$2" -s scripts/bench/post_comment.lua \
    "http://127.0.0.1:${PORT[$1]}/comments"
  spend_pairs "$1" "$(tail -1 "$results" | cut -f8 | tr -dc 0-9)"
}
case_member_during_logins() {
  local key="$1" round="$2" why logins="$work/wrk-logins-$((++wrk_runs)).txt" login_pid readers
  local readers_case="4 member GET / during logins" logins_case="4 logins, $LOGIN_CLIENTS clients"
  why="$(check_member "$key")" && why="$(check_login "$key")" ||
    { failed "$readers_case" "$key" "$round" "$why"; return; }
  reset_peak "${PID[$key]}"
  BENCH_CSRF_COOKIE="${CSRF[$key]}" BENCH_CSRF_TOKEN="${TOKEN[$key]}" \
    BENCH_USERNAME="$member" BENCH_PASSWORD="$password" \
    wrk -t1 -c"$LOGIN_CLIENTS" -d"${DURATION}s" --latency -s scripts/bench/login.lua \
    "http://127.0.0.1:${PORT[$key]}/login" >"$logins" 2>&1 &
  login_pid=$!
  readers="$work/wrk-$((++wrk_runs)).txt"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Cookie: ${MEMBER[$key]}" \
    "http://127.0.0.1:${PORT[$key]}/" >"$readers" 2>&1 || true
  wait "$login_pid" || true
  local peak
  peak="$(rss_mib "${PID[$key]}" VmHWM)"
  record "$readers_case" "$key" "$round" "$(parse_wrk "$readers")" "$peak"
  record "$logins_case" "$key" "$round" "$(parse_wrk "$logins")" "$peak"
}
check_bare() {
  local code
  code="$(status_of "http://127.0.0.1:${PORT[bare]}/")"
  [ "$code" = 200 ] || { echo "bare GET / answered $code"; return 1; }
}
case_bare() {
  local why
  why="$(check_bare)" || { failed "$bare_case" bare "$1" "$why"; return; }
  measure "$bare_case" bare "$1" "http://127.0.0.1:${PORT[bare]}/"
}

# pg: pgbench on a throwaway database of its own (prepare_pgbench sets pgbench_url), as a
# ceiling for the PostgreSQL rows: the server's own throughput on the same cores.
pgbench_url=""
pgbench_scale=10 pgbench_clients=16 pgbench_threads=2
pgbench_select_case="pg pgbench -S, select by key"
pgbench_update_case="pg pgbench -N, simple update"
prepare_pgbench() {
  local url version
  DIR[pgbench]="$work/pgbench"
  mkdir -p "${DIR[pgbench]}"
  new_pg_db
  url="${PG_ADMIN_URL%/*}/$pg_db"
  log "pgbench: filling $pg_db (pgbench -i -s $pgbench_scale)"
  if ! pgbench -i -q -s "$pgbench_scale" "$url" >"${DIR[pgbench]}/init.log" 2>&1; then
    notes+=("skipped pg: pgbench -i failed: $(tail -1 "${DIR[pgbench]}/init.log")")
    return
  fi
  pgbench_url="$url"
  version="$(psql "$url" -Atqc 'show server_version' | awk '{ print $1 }')"
  LABEL[pgbench]="PostgreSQL $version, scale $pgbench_scale, -M prepared -c $pgbench_clients -j $pgbench_threads"
}
check_pgbench() {
  local branches
  branches="$(psql "$pgbench_url" -Atqc 'select count(*) from pgbench_branches' 2>&1)" || true
  [ "$branches" = "$pgbench_scale" ] ||
    { echo "pgbench_branches holds ${branches:-nothing}, not $pgbench_scale rows"; return 1; }
}

# "tps p50_ms p99_ms failed transactions" from the pgbench run in folder $1: tps without the
# initial connection time from its output, percentiles from its per-transaction log (--log;
# the third field is the latency in microseconds; a failed one says "failed" there).
parse_pgbench() {
  local sorted="$1/latencies.txt"
  { cat "$1"/transactions.* 2>/dev/null || true; } | awk '$3 ~ /^[0-9]+$/ { print $3 }' | sort -n >"$sorted"
  awk -v output="$1/output.txt" '
    function rank(q,   i) { i = int(q * NR); if (i < q * NR) i++; if (i < 1) i = 1; return latency[i] / 1000 }
    { latency[NR] = $1 }
    END {
      while ((getline line < output) > 0) {
        split(line, f, " ")
        if (line ~ /^tps = /) tps = f[3]
        if (line ~ /^number of transactions actually processed:/) count = f[6]
        if (line ~ /^number of failed transactions:/) failures = f[5]
      }
      if (tps == "" || NR == 0) { print "failed - - - -"; exit }
      printf "%.2f %.2f %.2f %d %d\n", tps, rank(0.5), rank(0.99), failures, count
    }' "$sorted"
}

# pgbench for case $1, round $2, with its built-in transaction $3 (-S or -N).
case_pgbench() {
  local case="$1" round="$2" why out="$work/pgbench-$((++wrk_runs))"
  why="$(check_pgbench)" || { failed "$case" pgbench "$round" "$why"; return; }
  mkdir -p "$out"
  pgbench "$3" -M prepared -c "$pgbench_clients" -j "$pgbench_threads" -T "$DURATION" \
    --log --log-prefix="$out/transactions" "$pgbench_url" >"$out/output.txt" 2>&1 || true
  record "$case" pgbench "$round" "$(parse_pgbench "$out")" -
}

# scale: instances scale-a and scale-b, cached_db on one PostgreSQL database and one Redis key
# prefix, behind one nginx listening on two ports: scale/one passes to scale-a alone,
# scale/two to both in turn.
scale_case="scale member GET / through nginx"
prepare_scale() {
  prepare scale-a cached_db-postgres json "$SESSIONS"
  DIR[scale-b]="$work/scale-b"
  mkdir -p "${DIR[scale-b]}"
  cp "${DIR[scale-a]}/env" "${DIR[scale-b]}/env"
  start_server scale-b
  log "ready: scale-b on port ${PORT[scale-b]}, sharing scale-a's database and Redis prefix"
  LABEL[scale-a]="cached_db on PostgreSQL + Redis, instance a"
  LABEL[scale-b]="cached_db on PostgreSQL + Redis, instance b"
  LABEL[scale/one]="cached_db on PostgreSQL + Redis, 1 instance behind nginx"
  LABEL[scale/two]="cached_db on PostgreSQL + Redis, 2 instances behind nginx"
  MEMBER[scale-b]="${MEMBER[scale-a]}" MEMBER[scale/one]="${MEMBER[scale-a]}" MEMBER[scale/two]="${MEMBER[scale-a]}"
}

# nginx in the foreground (daemon off), as this user, with everything it writes in the work
# folder: the config, pid file, error log and temp folders; no access log.
start_nginx() {
  local dir="$work/nginx" one two user="" temp
  mkdir -p "$dir"
  one="$(free_port)" two="$(free_port)"
  while [ "$two" = "$one" ]; do two="$(free_port)"; done
  # As root, nginx would run its workers as nobody, who cannot enter the work folder.
  [ "$(id -u)" -ne 0 ] || user="user $(id -un) $(id -gn);"
  for temp in client_body proxy fastcgi uwsgi scgi; do mkdir -p "$dir/$temp"; done
  cat >"$dir/nginx.conf" <<EOF
$user
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
# auto: one worker per core ($(nproc) here), as nginx is run in production. One worker would
# cap the proxy at one core, a ceiling in front of two instances that could hide what the
# second adds; with auto it competes for the same cores as everything else, as it would on
# a real host of this size.
worker_processes auto;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    # wrk's connections stay open for the whole run (nginx closes them after 1,000 requests
    # by default), as do the ones to the instances.
    keepalive_requests 1000000;
    # A page (about 20 KiB) fits in memory: no temp file.
    proxy_buffers 32 8k;

    upstream guestbook_one {
        server 127.0.0.1:${PORT[scale-a]};
        keepalive $CONNECTIONS;
        keepalive_requests 1000000;
    }
    upstream guestbook_two {
        server 127.0.0.1:${PORT[scale-a]};
        server 127.0.0.1:${PORT[scale-b]};
        keepalive $CONNECTIONS;
        keepalive_requests 1000000;
    }
EOF
  local upstream port
  for upstream in one two; do
    if [ "$upstream" = one ]; then port="$one"; else port="$two"; fi
    cat >>"$dir/nginx.conf" <<EOF
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://guestbook_$upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The Host the client sent (127.0.0.1:$port): the instances check it against
            # ALLOWED_HOSTS. The client's address, believed from 127.0.0.1 (TRUSTED_PROXIES).
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
EOF
  done
  echo "}" >>"$dir/nginx.conf"
  "$nginx_bin" -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/output.log" 2>&1 &
  PID[nginx]=$! PORT[scale/one]=$one PORT[scale/two]=$two
  pids+=("$!")
  for port in "$one" "$two"; do
    answers_health "$port" "${PID[nginx]}" 50 || {
      notes+=("scale: nginx did not answer on port $port: $(cat "$dir/output.log" "$dir/error.log" 2>/dev/null | tail -3 | tr '\n' ' ')")
      return 1
    }
  done
  mapfile -t nginx_workers < <(ps -o pid= --ppid "${PID[nginx]}" 2>/dev/null | tr -d ' ' || true)
  log "ready: nginx ($("$nginx_bin" -v 2>&1 | sed 's|.*version: nginx/||'), ${#nginx_workers[@]} workers) on ports $one (instance a) and $two (a and b)"
}

# Clock ticks of user + system time used so far by the processes $@.
cpu_ticks() {
  local pid ticks total=0
  for pid; do
    ticks="$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null)" || ticks=0
    total=$((total + ${ticks:-0}))
  done
  echo "$total"
}
declare -A CPU  # "<scale key>:<scale-a, scale-b or nginx>": clock ticks used during that key's runs
nginx_workers=()

# Case scale through nginx port scale/one or scale/two ($1), round $2. Peak RSS: the larger
# instance's.
case_scale() {
  local key="$1" round="$2" why out="$work/wrk-$((++wrk_runs)).txt" instances=(scale-a) i peak=0 rss
  local -A before
  why="$(check_member "$key")" || { failed "$scale_case" "$key" "$round" "$why"; return; }
  [ "$key" = scale/one ] || instances+=(scale-b)
  for i in "${instances[@]}"; do reset_peak "${PID[$i]}"; before[$i]="$(cpu_ticks "${PID[$i]}")"; done
  before[nginx]="$(cpu_ticks "${nginx_workers[@]}")"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Cookie: ${MEMBER[$key]}" \
    "http://127.0.0.1:${PORT[$key]}/" >"$out" 2>&1 || true
  CPU[$key:nginx]=$((${CPU[$key:nginx]:-0} + $(cpu_ticks "${nginx_workers[@]}") - before[nginx]))
  for i in "${instances[@]}"; do
    CPU[$key:$i]=$((${CPU[$key:$i]:-0} + $(cpu_ticks "${PID[$i]}") - ${before[$i]}))
    rss="$(rss_mib "${PID[$i]}" VmHWM)"
    peak="$(awk -v a="$peak" -v b="$rss" 'BEGIN { print (b + 0 > a + 0 ? b : a) }')"
  done
  record "$scale_case" "$key" "$round" "$(parse_wrk "$out")" "$peak"
}

# Fresh visitors post to instance $1 until $2 of them got their 303 (and so a session), in
# bursts sized from the rate so far (wrk runs to the end of -d even when its threads stop).
# Sets `made` to the sessions made.
post_until() {
  local key="$1" count="$2" seconds=2 out parsed got rate
  made=0
  while [ "$made" -lt "$count" ]; do
    out="$work/wrk-fill-$((++wrk_runs)).txt"
    posting "$key" env BENCH_STOP_AFTER=$(((count - made + THREADS - 1) / THREADS)) \
      wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" -s scripts/bench/post_comment.lua \
      "http://127.0.0.1:${PORT[$key]}/comments" >"$out" 2>&1 || true
    read -r -a parsed <<<"$(parse_wrk "$out")"
    [ "${parsed[0]}" != failed ] || { notes+=("$key: posting fresh visitors failed ($out)"); return; }
    got=$((parsed[4] - parsed[3]))
    spend_pairs "$key" "${parsed[4]}"
    [ "$got" -gt 0 ] || { notes+=("$key: no comment posted while filling ($out)"); return; }
    made=$((made + got))
    rate=$((got / seconds + 1))
    seconds=$(((count - made) / rate + 1))
    [ "$seconds" -le 120 ] || seconds=120
  done
}

# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------
started_at="$(date +%s)"
needs_main=""
for s in 1 2 3 4 6; do wants "$s" && needs_main=1; done
if [ -n "$needs_main" ]; then
  for c in "${configs[@]}"; do prepare "$c" "$c" json "$SESSIONS"; done
  if wants 2; then
    for c in "${msgpack_configs[@]}"; do prepare "$c/msgpack" "$c" msgpack "$SESSIONS"; done
  fi
fi

page_bytes=""
if [ "${#configs[@]}" -gt 0 ] && [ -n "$needs_main" ]; then
  first="${configs[0]}"
  page_bytes="$(curl -s --max-time 10 -H "Cookie: csrftoken=${CSRF[$first]}" "http://127.0.0.1:${PORT[$first]}/" | wc -c)"
  log "home page: $page_bytes bytes (anonymous, ${LABEL[$first]})"
fi
bare_case="6 bare actix-web, ${page_bytes:-0}-byte body"
if wants 6 && [ -n "$page_bytes" ]; then
  PORT[bare]="$(free_port)" LABEL[bare]="bare_handler example, $(nproc) workers"
  "$bare" "127.0.0.1:${PORT[bare]}" "$page_bytes" >"$work/bare.log" 2>&1 &
  PID[bare]=$!
  pids+=("$!")
  for _ in $(seq 50); do curl -sf --max-time 10 "http://127.0.0.1:${PORT[bare]}/" -o /dev/null && break; sleep 0.1; done
  sleep 0.3
  IDLE[bare]="$(rss_mib "${PID[bare]}" VmRSS)"
fi

if wants pg; then
  if [ -z "$pg_up" ]; then
    notes+=("skipped pg: PostgreSQL does not answer at $PG_ADMIN_URL")
  elif ! command -v pgbench >/dev/null; then
    notes+=("skipped pg: pgbench is not installed (Debian: apt-get install -y postgresql-client)")
  else
    prepare_pgbench
  fi
fi

# Headline cases, alternating, ROUNDS rounds; pgbench -S among them, in the same conditions.
if wants 1 || wants 2 || wants 6 || [ -n "$pgbench_url" ]; then
  for round in $(seq "$ROUNDS"); do
    for c in "${configs[@]}"; do
      if wants 1; then case_anonymous "$c" "$round"; fi
      if wants 2; then case_member "$c" "$round"; fi
    done
    if wants 2; then for c in "${msgpack_configs[@]}"; do case_member "$c/msgpack" "$round"; done; fi
    if wants 6 && [ -n "${PID[bare]:-}" ]; then case_bare "$round"; fi
    if [ -n "$pgbench_url" ]; then case_pgbench "$pgbench_select_case" "$round" -S; fi
  done
fi
for round in $(seq "$OTHER_ROUNDS"); do
  if wants 3; then for c in "${configs[@]}"; do case_post "$c" "$round"; done; fi
  if [ -n "$pgbench_url" ]; then case_pgbench "$pgbench_update_case" "$round" -N; fi
done
for round in $(seq "$OTHER_ROUNDS"); do
  if wants 4; then for c in "${configs[@]}"; do case_member_during_logins "$c" "$round"; done; fi
done
for key in "${!PID[@]}"; do stop_server "$key"; done

# 5: the member page against 1,000 and 1,000,000 stored sessions, on each database.
session_counts=("$SMALL_SESSIONS" "$LARGE_SESSIONS")
if wants 5; then
  scale_keys=()
  for c in db-sqlite db-postgres; do
    listed "$c" "$(joined "${configs[@]}")" || continue
    for n in "${session_counts[@]}"; do
      prepare "$c@$n" "$c" json "$n"
      LABEL[$c@$n]="$c, json, $(printf "%'d" "$n" 2>/dev/null || echo "$n") sessions"
      scale_keys+=("$c@$n")
    done
  done
  for round in $(seq "$ROUNDS"); do
    for key in "${scale_keys[@]}"; do case_member "$key" "$round" "5 member GET /, stored sessions"; done
  done
  for key in "${scale_keys[@]}"; do stop_server "$key"; done
fi

# mem: a fresh cache-memory instance, idle and then holding MEMORY_SESSIONS sessions.
memory_line=""
if wants mem; then
  prepare mem cache-memory json 0
  LABEL[mem]="cache-memory, json (fresh)"
  mem_started="$(date +%s)"
  reset_peak "${PID[mem]}"
  post_until mem "$MEMORY_SESSIONS"
  sleep 1
  memory_line="cache-memory (CACHE_URL unset) holding $made sessions made by as many fresh visitors' POST /comments in $(($(date +%s) - mem_started)) s: RSS $(rss_mib "${PID[mem]}" VmRSS) MiB, peak $(rss_mib "${PID[mem]}" VmHWM) MiB (target < 100 MiB); idle after start ${IDLE[mem]} MiB"
  stop_server mem
fi

# scale: a member's page through nginx, to one instance and to two, alternating, ROUNDS rounds.
scale_line=""
if wants scale; then
  if [ -z "$pg_up" ]; then
    notes+=("skipped scale: PostgreSQL does not answer at $PG_ADMIN_URL")
  elif [ -z "$redis_up" ]; then
    notes+=("skipped scale: Redis does not answer at $REDIS_URL")
  elif [ -z "$nginx_bin" ]; then
    notes+=("skipped scale: nginx is not installed and could not be (apt-get install -y nginx-light)")
  else
    prepare_scale
    # The session is shared: instance b knows the member instance a logged in.
    if why="$(check_member scale-b)"; then
      if start_nginx; then
        for round in $(seq "$ROUNDS"); do
          for key in scale/one scale/two; do case_scale "$key" "$round"; done
        done
      else
        for round in $(seq "$ROUNDS"); do
          for key in scale/one scale/two; do failed "$scale_case" "$key" "$round" "nginx did not start"; done
        done
      fi
    else
      for round in $(seq "$ROUNDS"); do
        for key in scale/one scale/two; do
          failed "$scale_case" "$key" "$round" "instance b does not know instance a's member: $why"
        done
      done
    fi
    seconds() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'; }
    if [ -n "${CPU[scale/two:scale-a]:-}" ]; then
      scale_line="CPU seconds used during the scale runs ($ROUNDS × ${DURATION} s, $(nproc) cores: $((ROUNDS * DURATION * $(nproc))) core-seconds): with 1 instance, instance $(seconds "${CPU[scale/one:scale-a]:-0}"), nginx $(seconds "${CPU[scale/one:nginx]:-0}"); with 2, instance a $(seconds "${CPU[scale/two:scale-a]}"), instance b $(seconds "${CPU[scale/two:scale-b]:-0}"), nginx $(seconds "${CPU[scale/two:nginx]:-0}") (${#nginx_workers[@]} nginx workers; wrk, PostgreSQL and Redis use the rest)"
    fi
    for key in nginx scale-a scale-b; do [ -z "${PID[$key]:-}" ] || stop_server "$key"; done
  fi
fi

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
# Medians of req/s, p50 and p99 over rounds; errors summed; the highest peak RSS. Numbered
# cases first, in order; then the others (pg, scale) in the order they ran.
aggregated="$work/aggregated.tsv"
awk -F'\t' '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    k = $1 SUBSEP $2
    if (!(k in seen)) { seen[k] = 1; order[++count] = k; peak[k] = "-" }
    if ($4 == "failed") { failures[k]++; next }
    rps[k] = rps[k] " " $4; p50[k] = p50[k] " " $5; p99[k] = p99[k] " " $6
    errors[k] += $7; if ($9 + 0 > peak[k] + 0) peak[k] = $9
  }
  END {
    for (i = 1; i <= count; i++) {
      k = order[i]; split(k, parts, SUBSEP)
      position = parts[1] ~ /^[0-9]/ ? parts[1] + 0 : 1000
      if (!(k in rps)) { printf "%d\t%s\t%s\tfailed\t-\t-\t-\t-\t-\n", position, parts[1], parts[2]; continue }
      runs = rps[k]; sub(/^ /, "", runs)
      printf "%d\t%s\t%s\t%.0f\t%.2f\t%.2f\t%d\t%s\t%s\n", position, parts[1], parts[2], median(rps[k]),
        median(p50[k]), median(p99[k]), errors[k] + failures[k], peak[k], runs
    }
  }' "$results" | sort -s -t$'\t' -k1,1n | cut -f2- >"$aggregated"

value() { awk -F'\t' -v c="$1" -v k="$2" '$1 == c && $2 == k && $3 != "failed" { print $3 }' "$aggregated"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'; }

report="$work/report.md"
{
  echo "# guestbook benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  if [ -n "$PREBUILT" ]; then
    echo "- binaries: prebuilt, from \`$PREBUILT\` (guestbook sha256 $(sha256sum "$bin" | cut -c1-12), modified $(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC')); the commit above is the work tree's, not necessarily theirs"
  else
    echo "- binaries: built from the work tree (\`--profile dist --features bundled\`)"
  fi
  echo "- command: \`$command_line\`"
  echo "- settings: DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS ROUNDS=$ROUNDS OTHER_ROUNDS=$OTHER_ROUNDS SCENARIOS=$SCENARIOS CONFIGS=$CONFIGS MSGPACK_CONFIGS=$MSGPACK_CONFIGS"
  echo "- data per instance: $COMMENTS comments, $SESSIONS stored sessions (none for signed_cookies; made by fresh visitors' posts for cache-memory), $((1 + ${#other_members[@]})) members (seeded after the comments, so no comment is a member's)"
  echo "- load: \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency\` (logins: \`-t1 -c$LOGIN_CLIENTS\`); $({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $1, $2 }')"
  if [ -n "$pgbench_url" ]; then
    echo "- pg: \`pgbench -S|-N -M prepared -c$pgbench_clients -j$pgbench_threads -T$DURATION --log\` on a throwaway database made by \`pgbench -i -q -s $pgbench_scale\` (pgbench $(pgbench --version | awk '{ print $3 }')); its rows are transactions per second without the initial connection time, percentiles from its per-transaction log, errors its failed transactions"
  fi
  echo "- cases 1, 2, 5 and 6, pgbench -S and scale: median of $ROUNDS alternating rounds; cases 3 and 4 and pgbench -N: $OTHER_ROUNDS round(s). Errors: non-2xx/3xx answers plus socket errors, all rounds."
  echo "- took $(($(date +%s) - started_at)) s"
  echo
  echo "| case | configuration | req/s | p50 ms | p99 ms | errors | peak RSS MiB | req/s per round |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
  while IFS=$'\t' read -r case key rps p50 p99 errors peak runs; do
    echo "| $case | ${LABEL[$key]:-$key} | $rps | $p50 | $p99 | $errors | $peak | $runs |"
  done <"$aggregated"
  echo
  echo "## Ratios"
  echo
  echo "| ratio | configuration | value |"
  echo "| --- | --- | ---: |"
  bare_rps="$(value "$bare_case" bare)"
  for c in "${configs[@]}"; do
    r="$(ratio "$(value "1 anonymous GET /" "$c")" "$bare_rps")" &&
      echo "| anonymous / bare | ${LABEL[$c]} | $r |"
  done
  for c in "${configs[@]}"; do
    r="$(ratio "$(value "2 member GET /" "$c")" "$(value "1 anonymous GET /" "$c")")" &&
      echo "| member / anonymous | ${LABEL[$c]} | $r |"
  done
  for c in "${msgpack_configs[@]}"; do
    r="$(ratio "$(value "2 member GET /" "$c/msgpack")" "$(value "2 member GET /" "$c")")" &&
      echo "| member page msgpack / json | $c | $r |"
  done
  for c in "${configs[@]}"; do
    r="$(ratio "$(value "4 member GET / during logins" "$c")" "$(value "2 member GET /" "$c")")" &&
      echo "| member page during logins / alone (case 4 / case 2) | ${LABEL[$c]} | $r |"
  done
  for c in db-sqlite db-postgres; do
    r="$(ratio "$(value "5 member GET /, stored sessions" "$c@$LARGE_SESSIONS")" \
      "$(value "5 member GET /, stored sessions" "$c@$SMALL_SESSIONS")")" &&
      echo "| member page, $LARGE_SESSIONS / $SMALL_SESSIONS stored sessions | $c, json | $r |"
  done
  r="$(ratio "$(value "2 member GET /" db-postgres)" "$(value "$pgbench_select_case" pgbench)")" &&
    echo "| member \`GET /\`, db on PostgreSQL / pgbench -S | ${LABEL[db-postgres]} | $r |"
  for c in db-postgres cached_db-postgres; do
    r="$(ratio "$(value "3 POST /comments, fresh visitors" "$c")" "$(value "$pgbench_update_case" pgbench)")" &&
      echo "| new-visitor comments / pgbench -N | ${LABEL[$c]} | $r |"
  done
  r="$(ratio "$(value "$scale_case" scale/two)" "$(value "$scale_case" scale/one)")" &&
    echo "| member page through nginx, two instances / one | cached_db on PostgreSQL + Redis | $r |"
  echo
  echo "## Memory"
  echo
  echo "| instance | idle RSS after start, MiB (target < 12) |"
  echo "| --- | ---: |"
  idle_keys=("${configs[@]}")
  for c in "${msgpack_configs[@]}"; do idle_keys+=("$c/msgpack"); done
  for key in "${idle_keys[@]}" bare; do
    if [ -n "${IDLE[$key]:-}" ]; then echo "| ${LABEL[$key]} | ${IDLE[$key]} |"; fi
  done
  echo
  [ -z "$memory_line" ] || echo "- $memory_line"
  if [ -n "${PORT[scale/one]:-}" ]; then
    echo
    echo "## Scale-out"
    echo
    echo "- The scale rows: wrk as in case 2, with one member's cookie, through nginx $("$nginx_bin" -v 2>&1 | sed 's|.*version: nginx/||') (\`worker_processes auto\`: ${#nginx_workers[@]} workers; HTTP/1.1 keep-alive to the instances) to one guestbook instance or to two in turn, both on SESSION_ENGINE=cached_db with one PostgreSQL database and one Redis key prefix, $COMMENTS comments and $SESSIONS stored sessions; peak RSS is the larger instance's."
    echo "- This machine has $(nproc) cores, and nginx, wrk, both instances (each with $(nproc) workers), PostgreSQL and Redis all share them: the second instance brings no CPU of its own, so two / one measures what sharing the same cores costs or gains, not what a second machine would add."
    [ -z "$scale_line" ] || echo "- $scale_line"
  fi
  if [ "${#notes[@]}" -gt 0 ]; then
    echo
    echo "## Notes"
    echo
    printf -- '- %s\n' "${notes[@]}"
  fi
} >"$report"

mkdir -p target/bench
saved="target/bench/results-$(date -u +%Y%m%d-%H%M%S).md"
cp "$report" "$saved"
cat "$report"
echo
echo "Saved to $saved"
