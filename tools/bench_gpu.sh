#!/usr/bin/env bash
# GPU benchmark of bvae_tf training, ready for the day a CUDA machine is lent; prints JSON.
#
#   bash tools/bench_gpu.sh            # <= ~5 minutes on a GPU; extra flags go to tools/bench/gpu.py
#
# On a CUDA machine: installs this repository (pip install -e ., quietly, offline when TensorFlow
# is already there), then runs `python -m tools.bench.gpu` from the repository root, which prints: the GPU's
# name; images/s for float32 and mixed_float16 at batch 64, 256 and 1024, for the model alone
# (in-memory images) and with the TFRecord pipeline; the pipeline alone, and whether it keeps
# up; the mean training loss of steps 201-300 for both precisions from the same seed and data,
# and whether they agree within 2 %; at mixed_float16, batch 256: steps_per_execution=16 and
# jit_compile=False against compile()'s default (jit_compile="auto", which is XLA on a GPU).
# Without a GPU it exits 0 at once with {"gpu": null, "note": "no GPU found ..."}.
# Progress and pip's messages go to stderr; stdout holds the JSON only.
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-$(command -v python || command -v python3)}"

no_gpu() {
    printf '{"gpu": null, "note": "no GPU found: %s; nothing was measured"}\n' "$1"
    exit 0
}

command -v nvidia-smi >/dev/null 2>&1 || no_gpu "nvidia-smi is not on PATH"
gpus="$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | paste -sd ';' -)"
[ -n "$gpus" ] || no_gpu "nvidia-smi lists no GPU"
[ -n "$python" ] || { printf '{"gpu": "%s", "error": "no python found"}\n' "$gpus"; exit 1; }

export PIP_DISABLE_PIP_VERSION_CHECK=1 TF_CPP_MIN_LOG_LEVEL=2
if "$python" -c "import tensorflow, keras" >/dev/null 2>&1; then
    # Dependencies present: install the package alone, no index needed.
    timeout 120 "$python" -m pip install -q --retries 1 --timeout 15 --no-deps --no-build-isolation -e "$root" >&2 \
        || echo "bench_gpu: pip install -e $root failed; running from the source tree" >&2
else
    timeout 150 "$python" -m pip install -q --retries 1 --timeout 15 -e "$root" >&2 \
        || echo "bench_gpu: pip install -e $root failed" >&2
fi
if ! "$python" -c "import sys, tensorflow as tf; sys.exit(not tf.config.list_physical_devices('GPU'))" \
        >/dev/null 2>&1; then
    # A GPU, but a TensorFlow without the CUDA libraries: add them (same TensorFlow version).
    version="$("$python" -c "import tensorflow as tf; print(tf.__version__)" 2>/dev/null)"
    [ -n "$version" ] && timeout 150 "$python" -m pip install -q --retries 1 --timeout 15 "tensorflow[and-cuda]==$version" >&2 \
        || echo "bench_gpu: could not install tensorflow[and-cuda]" >&2
fi

export BENCH_GPU_NVIDIA_SMI="$gpus"
cd "$root" || exit 1
exec timeout 290 "$python" -m tools.bench.gpu "$@"
