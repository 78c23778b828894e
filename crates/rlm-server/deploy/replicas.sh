#!/usr/bin/env bash
# Two `rlm serve` replicas on one machine and a client spreading episodes across them
# (docs/server.md, "Beyond one machine"). Needs a built `rlm` (cargo build -p rlm-cli), the test
# venv with openenv-core (scripts/python-env.sh) and a model endpoint; by default the demo
# server of rlm-testkit stands in for it:
#
#   crates/rlm-server/deploy/replicas.sh
#
# Set MODEL and BASE_URL (and the provider's key) to use a real endpoint instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
rlm="${RLM:-$target/debug/rlm}"
python="$(bash "$root/scripts/python-env.sh")"
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait' EXIT

if [[ -z "${BASE_URL:-}" ]]; then
    "$target/debug/rlm-demo-server" 18790 >/dev/null 2>&1 &
    pids+=($!)
    BASE_URL=http://127.0.0.1:18790/v1
    export OPENAI_API_KEY="${OPENAI_API_KEY:-demo}"
fi
for port in 18791 18792; do
    "$rlm" serve --port "$port" --model "${MODEL:-demo}" --base-url "$BASE_URL" &
    pids+=($!)
done
for port in 18791 18792; do
    until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.1; done
done
"$python" "$root/crates/rlm-server/deploy/spread.py" http://127.0.0.1:18791 http://127.0.0.1:18792
