#!/usr/bin/env bash
# Admission webhook load test (BENCHMARKS.md, "Admission webhook"): wrk from a
# second process over HTTPS with keep-alive, against portcullis's webhook and
# against the ceiling (same stack, fixed answer: a minimal one, and the very
# bytes portcullis answers), with the same ~10 KB Deployment review. Needs wrk
# (`apt-get install -y wrk`) and openssl. wrk keeps every connection busy, so
# its latencies are those of a saturated server; when oha is installed
# (`cargo install oha`), latency is also measured open loop, at fixed rates
# (RATES, reviews/s), with oha's correction for coordinated omission, after
# a warm-up.
#
#   bash bench/webhook.sh [DURATION=20s] [CONNECTIONS=32] [WRK_THREADS=1] [RATES="5000 10000 15000 20000"]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20s}
conns=${2:-32}
threads=${3:-1}
rates=${4:-5000 10000 15000 20000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release -p portcullis --bin portcullis --example webhook_ceiling >/dev/null
bin=target/release/portcullis
ceiling=target/release/examples/webhook_ceiling

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost \
  -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
"$ceiling" body "$work/review.json"
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/review.json", "rb")
wrk.body = f:read("*a")
f:close()
LUA

# The demo cluster: shop is enforce=baseline:v1.33, warn and audit=restricted,
# so the review is judged in all three modes (allowed, with a warning and an
# audit finding, logged, handed to the alert hook).
RUST_LOG=warn "$bin" serve --db "$work/p.db" --listen 127.0.0.1:18180 \
  --webhook-listen 127.0.0.1:18443 --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
  2>"$work/serve.log" &
"$ceiling" serve 127.0.0.1:18444 "$work/tls.crt" "$work/tls.key" 2>"$work/ceiling.log" &
for port in 18443 18444; do
  for _ in $(seq 100); do
    curl -sk -o /dev/null "https://127.0.0.1:$port/" && break || sleep 0.1
  done
done
echo "review body: $(wc -c <"$work/review.json") bytes"
curl -sk -X POST -H 'content-type: application/json' --data-binary "@$work/review.json" \
  https://127.0.0.1:18443/admission/validate >"$work/answer.json"
echo "answer: $(wc -c <"$work/answer.json") bytes"; head -c 600 "$work/answer.json"; echo
"$ceiling" serve 127.0.0.1:18445 "$work/tls.crt" "$work/tls.key" "$work/answer.json" \
  2>"$work/ceiling-same.log" &
for _ in $(seq 100); do
  curl -sk -o /dev/null "https://127.0.0.1:18445/" && break || sleep 0.1
done

for target in "portcullis 18443" "ceiling 18444" "ceiling-same-answer 18445"; do
  set -- $target
  echo "== $1 (wrk -t$threads -c$conns -d$duration)"
  wrk -t"$threads" -c"$conns" -d"$duration" --latency -s "$work/post.lua" \
    "https://127.0.0.1:$2/admission/validate" | sed -n '/Latency Distribution/,$p'
done
if command -v oha >/dev/null; then
  for target in "portcullis 18443" "ceiling 18444"; do
    set -- $target
    url="https://127.0.0.1:$2/admission/validate"
    oha_run() {
      oha --no-tui --insecure -c "$conns" -m POST -T application/json -D "$work/review.json" "$@" "$url"
    }
    oha_run -z 5s -q 10000 >/dev/null
    for q in $rates; do
      echo "== $1 open loop at $q/s (oha -c$conns -q$q -z10s --latency-correction): $(
        oha_run -z 10s -q "$q" --latency-correction |
          grep -E 'Requests/sec|50.00%|99.00%|99.90%' | sed 's/ in /=/' | tr -s ' \t\n' ' ')"
    done
  done
else
  echo "(oha not installed: no open-loop latencies)"
fi
echo "decisions logged: $(curl -s 'http://127.0.0.1:18180/api/v1/admission?perPage=1' | grep -o '"total":[0-9]*')"
curl -s http://127.0.0.1:18180/metrics | grep -E '^portcullis_admission_(reviews_total|log_dropped)'
