#!/usr/bin/env bash
# bench/gpu-check.sh — the one prepared script for the GPU machine. Run from anywhere:
#     bash bench/gpu-check.sh
# Needs: nvcc, cmake, ninja, a CUDA GPU (written for one H200, sm_90). No Node. Optional: python3 with
# torch + torchvision (the cuDNN peer), compute-sanitizer.
#   1. configure + build the Node-free harness for sm_90 (Ninja, -DVGGNET_ADDON=OFF -DVGGNET_HARNESS=ON)
#   2. vggnet_harness cuda-check        every CUDA op vs the reference kernels per precision over the
#                                       shared case list (test/cases), a small network replayed as a CUDA
#                                       graph vs op by op (bit for bit), whole networks vs the cpu backend,
#                                       error paths                                        (must pass)
#   3. compute-sanitizer memcheck on cuda-check --quick, then racecheck and synccheck on its smoke cases, when
#      the tool exists and time allows (must pass; a tool that reports "Device not supported" for this GPU is
#      a warning, whatever its exit status)
#   4. the SASS of the peak loops (cuobjdump, when present): HMMA/FFMA per loop, to confirm that the
#      FLOPs cuda-bench counts for its measured peak all execute (information, not a pass/fail)
#   5. vggnet_harness cuda-bench        vgg16/vgg19 at batch 1, 8, 64 per precision, op by op; batch 1 also
#                                       with the runtime's CUDA graph per plan (Network graphs): eager vs
#                                       graph batch-1 latency printed after it
#   6. python3 bench/torch_peer.py      torchvision vgg16/vgg19 + cuDNN, same batches and precisions
#                                       (channels_last, CUDA events, CUDA graph at batch 1)
#   7. a short table: vggnet vs PyTorch per model, precision and batch
#   Node (after step 2, when .device/ was carried: bench/gpu-bundle.sh packs it on the build machine): the jest
#   CUDA suites (device-resident tensors included) and `vggnet classify --device cuda` on the embedded model,
#   on the addon built there with nvcc                                                     (must pass)
# Every step runs under `timeout`; the whole script stays under 8 minutes. Exit status 0 only when the
# build, cuda-check, the sanitizer run (if any) and cuda-bench all succeeded. Logs: $GPU_CHECK_OUT, else
# $OUT/gpu-check (the device tool brings $OUT back), else /tmp/vggnet-gpu-check.
set -u -o pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOGS=${GPU_CHECK_OUT:-${OUT:+$OUT/gpu-check}}
LOGS=${LOGS:-/tmp/vggnet-gpu-check}
mkdir -p "$LOGS"
BUILD=${GPU_CHECK_BUILD:-$ROOT/build-gpu}
HARNESS=$BUILD/vggnet_harness
CASES=$ROOT/test/cases
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-465}   # 7 m 45 s: leave the tail of the 8 minutes for the table
JOBS=$(nproc 2>/dev/null || echo 8)

# CMake finds the CUDA compiler through PATH only: add the usual install if PATH lacks nvcc.
if ! command -v nvcc >/dev/null 2>&1; then
  for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do
    if [[ -x $d/nvcc ]]; then export PATH="$d:$PATH"; break; fi
  done
fi
NVCC=$(command -v nvcc || true)

FAILED=()
WARNINGS=()
elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( BUDGET - $(elapsed) )); }
step() { printf '\n===== [%3ss] %s\n' "$(elapsed)" "$*"; }
# cap LIMIT: the smaller of LIMIT and the time left (at least 10 s)
cap() { local l; l=$(left); (( l < $1 )) && echo $(( l > 10 ? l : 10 )) || echo "$1"; }

step "machine"
{
  (timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true)
  (nvcc --version | tail -2 || true)
  (cmake --version | head -1 || true)
  (ninja --version || true)
  echo "cores: $JOBS"
} 2>&1 | tee "$LOGS/machine.txt"

step "configure + build (CMake, Ninja, sm_90)"
BUILD_OK=1
timeout "$(cap 120)" cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVGGNET_ADDON=OFF \
  -DVGGNET_HARNESS=ON -DVGGNET_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=90-real;90-virtual" \
  ${NVCC:+"-DCMAKE_CUDA_COMPILER=$NVCC"} >"$LOGS/configure.txt" 2>&1 \
  || BUILD_OK=0
grep -E "CUDA backend|Error|error" "$LOGS/configure.txt" || true
if (( BUILD_OK )) && ! grep -q "vggnet: CUDA backend ON" "$LOGS/configure.txt"; then
  echo "configure did not enable CUDA (nvcc not found by CMake?)"
  BUILD_OK=0
fi
if (( BUILD_OK )); then
  timeout "$(cap 300)" cmake --build "$BUILD" --target vggnet_harness -j "$JOBS" >"$LOGS/build.txt" 2>&1 || BUILD_OK=0
  grep -E "warning|error|FAILED" "$LOGS/build.txt" | head -40 || true
fi
if (( ! BUILD_OK )) || [[ ! -x $HARNESS ]]; then
  tail -40 "$LOGS/configure.txt" "$LOGS/build.txt" 2>/dev/null
  echo "BUILD FAILED"
  exit 2
fi
echo "built $HARNESS in $(elapsed) s"

step "cuda-check (all precisions, networks, error paths)"
timeout "$(cap 240)" "$HARNESS" cuda-check --cases "$CASES" >"$LOGS/check.txt" 2>&1
RC=$?
grep -vE "^PASS " "$LOGS/check.txt" | tail -60
grep -E "^PASS (network|ForwardDevice|out of memory|graphs)" "$LOGS/check.txt" | cut -c1-220
if (( RC != 0 )); then FAILED+=("cuda-check (exit $RC$( ((RC == 124)) && echo ', timed out'))"); fi

if [[ -f $ROOT/.device/node.xz && -f $ROOT/.device/node_modules.tar.xz ]]; then
  step "Node: the jest CUDA suites and vggnet classify --device cuda (the carried .device/)"
  NODE_BIN=$(mktemp -d)/node
  if xz -dc "$ROOT/.device/node.xz" > "$NODE_BIN" && chmod +x "$NODE_BIN" &&
    { [[ -d $ROOT/node_modules/jest ]] || tar -xJf "$ROOT/.device/node_modules.tar.xz" -C "$ROOT"; }; then
    "$NODE_BIN" --version
    export VGGNET_NATIVE=$ROOT/.device/vggnet.node VGGNET_TESTING_NATIVE=$ROOT/.device/vggnet_testing.node
    timeout "$(cap 150)" "$NODE_BIN" "$ROOT/node_modules/jest/bin/jest.js" -c "$ROOT/bench/gpu-node/jest.config.js" \
      --ci --verbose >"$LOGS/node-jest.txt" 2>&1
    RC=$?
    grep -E "✓|✕|○|Tests:|●" "$LOGS/node-jest.txt" | head -60
    if (( RC != 0 )); then FAILED+=("jest CUDA suites under Node (exit $RC; see $LOGS/node-jest.txt)"); fi
    timeout 60 "$NODE_BIN" "$ROOT/.device/js/lib/cli.js" classify "$ROOT/samples/digit-7-1401.png" \
      "$ROOT/samples/canvas-0.png" --device cuda --top 3 2>&1 | tee "$LOGS/node-classify.txt"
    RC=${PIPESTATUS[0]}
    if (( RC != 0 )); then FAILED+=("vggnet classify --device cuda (exit $RC)"); fi
    unset VGGNET_NATIVE VGGNET_TESTING_NATIVE
  else
    FAILED+=("unpacking the carried Node (.device/node.xz, node_modules.tar.xz)")
  fi
else
  WARNINGS+=("no .device/ carried (bench/gpu-bundle.sh): the Node step did not run")
fi

if command -v compute-sanitizer >/dev/null 2>&1; then
  if (( $(left) > 200 )); then
    step "compute-sanitizer memcheck: cuda-check --quick --precision fp32,tf32,bf16 --no-network"
    timeout "$(cap 90)" compute-sanitizer --tool memcheck --error-exitcode 3 --print-limit 20 \
      "$HARNESS" cuda-check --cases "$CASES" --quick --precision fp32,tf32,bf16 --no-network >"$LOGS/memcheck.txt" 2>&1
    RC=$?
    grep -iE "ERROR SUMMARY|Invalid|out of bounds|not supported|cuda-check:|^FAIL" "$LOGS/memcheck.txt" | head -30
    # A sandboxed runtime may refuse the device and still run (or fail) the program unchecked: a warning.
    if grep -qi "device not supported" "$LOGS/memcheck.txt"; then
      WARNINGS+=("compute-sanitizer does not support this device: memcheck did not check (see $LOGS/memcheck.txt)")
    elif (( RC == 124 )); then WARNINGS+=("memcheck timed out (not a failure; see $LOGS/memcheck.txt)");
    elif (( RC != 0 )); then FAILED+=("compute-sanitizer memcheck (exit $RC)"); fi
  else
    WARNINGS+=("memcheck skipped: $(left) s left")
  fi
  # racecheck (shared-memory hazards) and synccheck (barriers) on the smoke cases: slow tools, small cases.
  for tool in racecheck synccheck; do
    if (( $(left) > 150 )); then
      step "compute-sanitizer $tool: cuda-check --quick --tags smoke --precision tf32,fp16 --no-network"
      timeout "$(cap 45)" compute-sanitizer --tool "$tool" --error-exitcode 3 --print-limit 20 \
        "$HARNESS" cuda-check --cases "$CASES" --quick --tags smoke --precision tf32,fp16 --no-network \
        >"$LOGS/$tool.txt" 2>&1
      RC=$?
      grep -iE "ERROR SUMMARY|RACECHECK SUMMARY|hazard|barrier|not supported|cuda-check:|^FAIL" "$LOGS/$tool.txt" | head -20
      if grep -qi "device not supported" "$LOGS/$tool.txt"; then WARNINGS+=("$tool: device not supported")
      elif (( RC == 124 )); then WARNINGS+=("$tool timed out (not a failure; see $LOGS/$tool.txt)")
      elif (( RC != 0 )); then FAILED+=("compute-sanitizer $tool (exit $RC)"); fi
    else
      WARNINGS+=("$tool skipped: $(left) s left")
    fi
  done
else
  WARNINGS+=("compute-sanitizer not found: memcheck, racecheck and synccheck skipped")
fi

if command -v cuobjdump >/dev/null 2>&1; then
  step "SASS of the peak loops (instructions per kernel; each loop iteration issues 8 mma / 8 FFMA per thread)"
  timeout 60 cuobjdump -sass "$HARNESS" 2>/dev/null | awk '
    /Function : / { f = $3; if (f ~ /peak/) { name[f] = f; order[++n] = f } }
    f ~ /peak/ && /HMMA/ { hmma[f]++ } f ~ /peak/ && /FFMA/ { ffma[f]++ }
    END { for (i = 1; i <= n; i++) printf "  %-60s HMMA %4d  FFMA %4d\n", substr(order[i], 1, 60), hmma[order[i]], ffma[order[i]] }' \
    | tee "$LOGS/peak-sass.txt"
fi

step "cuda-bench (vgg16, vgg19; batch 1, 8, 64; fp32, tf32, bf16, fp16)"
timeout "$(cap 180)" "$HARNESS" cuda-bench --cases "$CASES" >"$LOGS/bench.txt" 2>&1
RC=$?
grep -vE "^RESULT |^    " "$LOGS/bench.txt" | tail -50
if (( RC != 0 )); then FAILED+=("cuda-bench (exit $RC$( ((RC == 124)) && echo ', timed out'))"); fi
echo
echo "batch-1 latency, eager (kernel by kernel) vs the plan replayed as a CUDA graph (wall clock of ForwardDevice + sync):"
awk '/^RESULT vggnet / && / batch=1 / {
    m = ""; p = ""; ms = 0; g = 0
    for (i = 3; i <= NF; i++) {
      split($i, kv, "=")
      if (kv[1] == "model") m = kv[2]; else if (kv[1] == "precision") p = kv[2]
      else if (kv[1] == "ms") ms = kv[2]; else if (kv[1] == "graph_ms") g = kv[2]
    }
    printf "  %-6s %-5s eager %8.3f ms   graph %s\n", m, p, ms, (g > 0 ? sprintf("%8.3f ms  (%.2fx)", g, ms / g) : "      -  (no graph: see bench.txt)")
  }' "$LOGS/bench.txt" | tee "$LOGS/graph-latency.txt"
grep -E "OUTPUT DIFFERS|no CUDA graph" "$LOGS/bench.txt" | head -8

TORCH=0
if timeout 60 python3 -c 'import torch, torchvision; assert torch.cuda.is_available()' >/dev/null 2>&1; then
  if (( $(left) > 40 )); then
    step "PyTorch + cuDNN peer (torchvision vgg16, vgg19; fp32, tf32, bf16, fp16; channels_last; graph at batch 1)"
    timeout "$(cap 200)" python3 "$ROOT/bench/torch_peer.py" --seconds 2 >"$LOGS/torch.txt" 2>&1
    RC=$?
    grep -vE "^RESULT " "$LOGS/torch.txt" | tail -30
    (( RC == 0 )) && TORCH=1 || WARNINGS+=("torch peer exit $RC (see $LOGS/torch.txt)")
  else
    WARNINGS+=("torch peer skipped: $(left) s left")
  fi
else
  WARNINGS+=("python3 with torch+torchvision+CUDA not available: no peer timings")
fi

step "summary"
cat "$LOGS/bench.txt" "$LOGS/torch.txt" 2>/dev/null | awk '
  /^RESULT / {
    who = $2; m = ""; p = ""; b = ""; ms = ""; tf = ""; sh = ""
    for (i = 3; i <= NF; i++) {
      split($i, kv, "=")
      if (kv[1] == "model") m = kv[2]; else if (kv[1] == "precision") p = kv[2]; else if (kv[1] == "batch") b = kv[2]
      else if (kv[1] == "ms") ms = kv[2]; else if (kv[1] == "tflops") tf = kv[2]; else if (kv[1] == "pct_datasheet") sh = kv[2]
    }
    k = m " " p " " b
    if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "graph_ms" && kv[2] > 0) vgr[k] = kv[2] }
    if (who == "vggnet") { vms[k] = ms; vtf[k] = tf; vsh[k] = sh } else { tms[k] = ms; ttf[k] = tf }
  }
  END {
    printf "%-6s %-5s %5s | %10s %10s %8s %6s | %10s %8s | %s\n", "model", "prec", "batch", "eager ms", "graph ms", "TFLOP/s", "%sheet", "torch ms", "TFLOP/s", "torch/vggnet time"
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, f, " ")
      r = (k in vms && k in tms && vms[k] > 0) ? sprintf("%.2fx%s", tms[k] / vms[k], tms[k] >= vms[k] ? " (vggnet faster)" : "") : "-"
      printf "%-6s %-5s %5s | %10s %10s %8s %6s | %10s %8s | %s\n", f[1], f[2], f[3], (k in vms ? vms[k] : "-"), (k in vgr ? vgr[k] : "-"), (k in vtf ? vtf[k] : "-"), (k in vsh ? vsh[k] : "-"), (k in tms ? tms[k] : "-"), (k in ttf ? ttf[k] : "-"), r
    }
  }'
grep -E "^cuda-check: [0-9]+ passed" "$LOGS/check.txt" 2>/dev/null
grep -E "^  FAILED:" "$LOGS/check.txt" 2>/dev/null | head -20 | cut -c1-300
for w in "${WARNINGS[@]}"; do echo "warning: $w"; done
echo "logs: $LOGS ($(elapsed) s in all)"
if (( ${#FAILED[@]} )); then
  for f in "${FAILED[@]}"; do echo "FAILED: $f"; done
  echo "GPU CHECK FAILED"
  exit 1
fi
echo "GPU CHECK PASSED"
exit 0
