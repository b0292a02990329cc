#!/usr/bin/env bash
# Soak test (BENCHMARKS.md, "Soak"): `portcullis serve` (release, a temp
# database, the demo cluster, the webhook on TLS) under a fixed-rate mixed load
# from a second process (server/examples/soak.rs): dashboard pages, the JSON
# API, what-ifs and admission reviews (validate and mutate, ~10 KB each), with
# the server's RSS sampled every 10 s. Fails when any request failed or RSS
# grew by more than 20 % from the 1-minute mark to the end. Then SIGTERM: the
# server must exit 0.
#
#   bash bench/soak.sh [DURATION=10m] [RATE=300]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10m}
rate=${2:-300}
work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill "$server"; fi
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release -p portcullis --bin portcullis --example soak --example webhook_ceiling
bin=target/release/portcullis
soak=target/release/examples/soak

"$soak" certs "$work"
target/release/examples/webhook_ceiling body "$work/review.json"

RUST_LOG=warn "$bin" serve --db "$work/soak.db" --listen 127.0.0.1:0 \
  --webhook-listen 127.0.0.1:0 --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
  2>"$work/serve.log" &
server=$!
# The addresses the server printed once it listens.
addr() { sed -n "s|.*$1://\([0-9.:]*\).*|\1|p" "$work/serve.log" | head -1; }
for _ in $(seq 300); do
  [ -n "$(addr https)" ] && break
  kill -0 "$server" || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
dashboard=$(addr http)
webhook=$(addr https)
echo "server pid $server: dashboard $dashboard, webhook $webhook; review $(wc -c <"$work/review.json") bytes"
echo "uptime before: $(uptime)"
status=0
"$soak" run --dashboard "$dashboard" --webhook "$webhook" --ca "$work/ca.crt" \
  --review "$work/review.json" --pid "$server" --duration "$duration" --rate "$rate" || status=$?
echo "uptime after: $(uptime)"
echo "decisions logged: $(curl -s "http://$dashboard/api/v1/admission?perPage=1" | grep -o '"total":[0-9]*')"
curl -s "http://$dashboard/metrics" | grep -E '^portcullis_admission_log_dropped' || true
kill -TERM "$server"
wait "$server" && echo "server exited 0 after SIGTERM" || { echo "server exited $? after SIGTERM"; status=1; }
server=
grep -v '^$' "$work/serve.log" | tail -5
exit $status
