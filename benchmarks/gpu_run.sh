#!/bin/bash
# Every GPU figure in one command, on a lent GPU machine (the device tool's `run`, with
# `carry: [".gpu"]` after benchmarks/gpu_wheels.sh):
#
#     bash benchmarks/gpu_run.sh            # figures and logs into $OUT (default .out/gpu)
#
# 1. installs the carried wheels beside the image's own PyTorch (into .gpu/site) and builds
#    the compiled modules in place (a module that does not build falls back, as everywhere);
# 2. benchmarks/gpu_check.py: correctness first (GPU fp32 = CPU, bf16 flips, box error,
#    host copy, programs on the device, no host sync, NaN, training steps);
# 3. benchmarks/prelabel.py on the GPU: full 2048x1024 frames, JPEG and PNG, LRASPP with
#    random and trained weights and Faster R-CNN (end to end against forward only);
# 4. benchmarks/writer.py: what the machine's cores write a second (regions, maps).
#
# Each step has its own time limit and its own files (STEP.json, STEP.err; steps.log says
# how each ended), so a step that fails or hangs costs only its own figures: seven files,
# within what the device tool brings back. The limits (40 + 50 s to set up, 170 + 240 + 60 s
# of steps) stay within the tool's 600 s a command. The exit status is 1 where a step
# failed. DEVICE=cpu QUICK=1 rehearses it all on a CPU at small sizes (SKIP_BUILD=1: the
# compiled modules as they are; tests/test_gpu_run_script.py).
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-.out/gpu}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
WHEELS=${GPU_WHEELS:-.gpu/wheels}
mkdir -p "$OUT"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/steps.log"; }

if [ -d "$WHEELS" ]; then
    if timeout 40 "$PY" -m pip install --quiet --no-index --no-deps --find-links "$WHEELS" \
            --target .gpu/site -r benchmarks/gpu_requirements.txt >>"$OUT/steps.log" 2>&1; then
        log "wheels installed into .gpu/site"
    else
        log "wheels NOT installed (see above)"
    fi
    export PYTHONPATH="$PWD/.gpu/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    log "no $WHEELS: using the packages $PY has"
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    timeout 50 "$PY" setup.py -q build_ext --inplace >>"$OUT/steps.log" 2>&1 \
        || log "setup.py build_ext failed"
fi
"$PY" - >>"$OUT/steps.log" 2>&1 <<'PYEOF'
import importlib, platform
modules = ["roadmark.io.fast_deflate", "roadmark.io.fast_png", "roadmark.analysis.fast_parts",
           "roadmark.analysis.fast_outline", "roadmark.analysis.fast_pieces",
           "roadmark.models.fast_summary"]
for name in modules:  # optional: one that did not build falls back to Python (slower)
    try:
        importlib.import_module(name)
        print("compiled module", name)
    except ImportError as error:
        print("compiled module MISSING", name, error)
import torch
print("python", platform.python_version(), "torch", torch.__version__,
      "cuda", torch.version.cuda, "available", torch.cuda.is_available())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"cuda:{i}", p.name, f"{p.total_memory / 2**30:.0f} GiB", f"sm_{p.major}{p.minor}")
PYEOF
command -v nvidia-smi >/dev/null && nvidia-smi -L >>"$OUT/steps.log" 2>&1

failed=0
step() {  # step NAME SECONDS COMMAND...: COMMAND's stdout into NAME.json, stderr NAME.err
    local name=$1 limit=$2
    shift 2
    log "start $name"
    local started=$SECONDS
    timeout --kill-after=5 "$limit" "$@" >"$OUT/$name.json" 2>"$OUT/$name.err"
    local rc=$?
    log "end $name: rc=$rc after $((SECONDS - started)) s"
    [ "$rc" = 0 ] || failed=1
}

if [ "${QUICK:-0}" = 1 ]; then
    CHECK=(--size 512x256 --frames 2)
    PRELABEL=(--frames 6 --distinct 2 --size 256x128 --input-size 128x64)
    WRITER=(--frames 2 --size 512x256 --input-size 256x128 --repeats 1)
else
    CHECK=()
    PRELABEL=(--frames 128 --distinct 16 --repeat-end-to-end 2)
    WRITER=()
fi
# (${A[@]+"${A[@]}"}: an empty array under `set -u` in bash before 4.4)
step gpu_check 170 "$PY" benchmarks/gpu_check.py --device "$DEVICE" ${CHECK[@]+"${CHECK[@]}"}
step prelabel 240 "$PY" benchmarks/prelabel.py --device "$DEVICE" --skip-quality \
    --archs lraspp_mobilenet_v3_large,demo-lraspp,fasterrcnn_mobilenet_v3_large_fpn \
    --image-formats jpg,png ${PRELABEL[@]+"${PRELABEL[@]}"}
step writer 60 "$PY" benchmarks/writer.py ${WRITER[@]+"${WRITER[@]}"}
log "done (a step failed: $failed)"
exit "$failed"
