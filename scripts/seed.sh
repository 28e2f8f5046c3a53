# Sourced by the benchmark scripts: fills the site at $1 with 20 comments from 20 visitors,
# logs in as bencher/benchpass123, and sets $cookie to that member's Cookie header value.
seed_site() {
  local base="$1" jar token
  jar="$(mktemp)"
  for i in $(seq 20); do
    rm -f "$jar"
    token=$(curl -s -c "$jar" "$base/" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
    curl -s -b "$jar" -c "$jar" -o /dev/null \
      --data-urlencode "comment=Benchmark comment number $i, long enough to look like a real one." \
      --data-urlencode "csrf_token=$token" "$base/comments"
  done
  rm -f "$jar"
  token=$(curl -s -c "$jar" "$base/" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
  curl -s -b "$jar" -c "$jar" -o /dev/null -d "username=bencher&password=benchpass123&csrf_token=$token" "$base/login"
  csrf=$(awk '$6=="csrftoken"{print $7}' "$jar")
  session_cookie=$(awk '$6=="sessionid"{print $7}' "$jar")
  rm -f "$jar"
  [ -n "$session_cookie" ] || { echo "login failed" >&2; return 1; }
  cookie="csrftoken=$csrf; sessionid=$session_cookie"
  curl -s -H "Cookie: $cookie" "$base/" | grep -q "Logged in as" || { echo "session not honoured" >&2; return 1; }
}
