#!/usr/bin/env bash
# The container image's HEALTHCHECK: `GET /readyz` on this instance, with bash alone (the slim
# runtime image has no curl or wget, and needs none). Exits 0 on a 200, 1 otherwise; Docker's
# --timeout bounds the whole check.
set -euo pipefail

# Where `serve` listens: BIND_ADDR, else PORT on every address, as the settings read them.
addr="${BIND_ADDR:-0.0.0.0:${PORT:-8000}}"
port="${addr##*:}"
host="${addr%:*}"
host="${host#[}"
host="${host%]}"
# A wildcard address is reached through the loopback.
case "$host" in
  0.0.0.0 | "") host=127.0.0.1 ;;
  ::) host=::1 ;;
esac

exec 3<>"/dev/tcp/${host}/${port}"
printf 'GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 5 status <&3
[[ "$status" == "HTTP/1."?" 200 "* ]]
