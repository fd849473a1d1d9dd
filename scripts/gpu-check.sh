#!/usr/bin/env bash
# CUDA checks: build the `cuda-tests` test binaries here (same torch 2.11 as the GPU machines),
# then run them on a machine with a GPU and PyTorch 2.11.
#
#   bash scripts/gpu-check.sh build   # here: builds into .gpu-check/ (git-ignored)
#   bash scripts/gpu-check.sh run     # on the GPU machine, from the repo root, with .gpu-check
#                                     # carried; finds that machine's torch/lib by itself
#   bash scripts/gpu-check.sh         # both, on a machine that has a GPU and this checkout
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=.gpu-check

build() {
    bash scripts/provision-libtorch.sh
    rm -rf "$OUT" && mkdir -p "$OUT"
    cargo test -p lm-backend --features cuda-tests --no-run --message-format=json 2>/dev/null \
        | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])' \
        | while read -r exe; do cp "$exe" "$OUT/"; done
    ls -la "$OUT"
}

run() {
    local lib="${TORCH_LIB:-}"
    if [[ -z "$lib" ]]; then
        for py in python3 python; do
            lib="$($py -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)" && break
        done
    fi
    [[ -d "$lib" ]] || { echo "gpu-check: no torch/lib found; set TORCH_LIB" >&2; exit 1; }
    export LD_LIBRARY_PATH="$lib:${LD_LIBRARY_PATH:-}"
    export CARGO_MANIFEST_DIR="$PWD/crates/lm-backend"
    nvidia-smi -L || true
    local status=0
    for t in "$OUT"/*; do
        echo "== $t"
        "$t" --test-threads 1 || status=1
    done
    exit $status
}

case "${1:-all}" in
    build) build ;;
    run) run ;;
    all) build && run ;;
    *) echo "usage: $0 [build|run|all]" >&2; exit 2 ;;
esac
