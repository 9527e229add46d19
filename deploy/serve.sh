#!/usr/bin/env bash
# Serve the dashboard from K Streamlit replicas behind HAProxy on one machine.
#
#   deploy/serve.sh K [PORT]        e.g. deploy/serve.sh 2 8501
#
# Replicas listen on 127.0.0.1:BASE_PORT.. (default PORT+10..), all on one run store
# (SOFTMAX_RUNS_DIR, default ~/.cache/softmax-dashboard/runs): a run trained through one is
# cached for all, and two asking for one new run at once train it once (the store's file lock).
# HAProxy listens on BIND:PORT (default 0.0.0.0:8501). Ctrl-C (or SIGTERM) stops everything.
# Settings from the environment: BIND, BASE_PORT, PYTHON, HAPROXY, SOFTMAX_DATA_DIR, SOFTMAX_RUNS_DIR,
# and HAProxy's per-source limits SRC_MAX_CONNECTIONS (default 1000 open connections) and
# SRC_MAX_REQUESTS_10S (default 20000 requests in 10 s): one address may be a whole class behind
# a NAT, see deploy/haproxy.cfg. HAProxy also refuses request bodies over 16 MB, answers 404 for
# Streamlit's /_stcore/metrics, and forbids framing by other sites.
# The replicas believe the X-Forwarded-For of HAProxy only (SOFTMAX_TRUSTED_PROXIES, default 127.0.0.1):
# the training queue bounds and orders jobs by the student's address.
# Sign-in (docs/sign-in.md): every replica reads the same .streamlit/secrets.toml (or STREAMLIT_SECRETS_FILES),
# so they share one cookie secret; its redirect_uri must be the balancer's address, not a replica's.
set -euo pipefail
K=${1:?usage: deploy/serve.sh K [PORT]}
export PORT=${2:-${PORT:-8501}}
export BIND=${BIND:-0.0.0.0}
BASE_PORT=${BASE_PORT:-$((PORT + 10))}
PYTHON=${PYTHON:-python3}
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
HERE=$(cd "$(dirname "$0")" && pwd)
export SOFTMAX_TRUSTED_PROXIES=${SOFTMAX_TRUSTED_PROXIES:-127.0.0.1}
cd "$HERE/.."

pids=()
work=$(mktemp -d)
stop_all() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  echo "serve.sh: stopped HAProxy and ${K} replica(s)"
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

cp deploy/haproxy.cfg "$work/haproxy.cfg"
for i in $(seq 1 "$K"); do
  port=$((BASE_PORT + i - 1))
  "$PYTHON" -m streamlit run streamlit_app.py --server.port "$port" --server.address 127.0.0.1 \
    --server.headless true >"$work/replica-$i.log" 2>&1 &
  pids+=($!)
  echo "serve.sh: replica r$i pid $! port $port"
  echo "    server r$i 127.0.0.1:$port cookie r$i" >>"$work/haproxy.cfg"
done

"$HAPROXY" -c -q -f "$work/haproxy.cfg"
"$HAPROXY" -db -f "$work/haproxy.cfg" &
balancer=$!
pids+=("$balancer")
echo "serve.sh: haproxy pid $balancer on http://$BIND:$PORT (replica logs in $work)"
# Runs until Ctrl-C or until HAProxy exits; a replica that dies is taken out by the health check.
wait "$balancer"
