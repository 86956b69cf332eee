#!/usr/bin/env bash
# The checks that need a quiet machine with an NVIDIA GPU, in one call that fits a short lease:
#   1. profile overhead (bench/profile_overhead.sh: sampler, cProfile, perf against bare runs), its
#      rounds sized from one bare run to fit OVERHEAD_BUDGET seconds;
#   2. the sampler's own cost (bench/sampler_cost.py), and its cost at exit after `import torch`;
#   3. each profile mode end to end, the Python ones on the GPU with NVML energy;
#   4. NVML's counter against nvidia-smi (bench/gpu_check.sh).
#
#   bench/gpu_machine_checks.sh PACK OUT_DIR
#
# PACK comes from scripts/pack-gpu-checks. Environment: BUDGET (seconds for everything, default
# 540), OVERHEAD_BUDGET (250), STEPS (NCF training steps of the overhead runs, 3000), ROUNDS (at
# most, 11), CPU_LOAD_ITERATIONS (millions, 300), TRIALS (sampler_cost, 100), GPU_STEPS (2000),
# STARTUP_RUNS (0: skipped; else bench/startup_cost.py's rounds of `import torch`, bare and under
# both samplers, which take about 20 s per round on the H200 machine: lower OVERHEAD_BUDGET to make
# room). Writes OUT_DIR/log.txt, overhead.json, profile-python-cuda.json, gpu.tgz.
set -u
pack=$(cd "$1" && pwd)
out=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$pack/bin
mkdir -p "$out"
export PATH=$bin:$PATH PYTHONUNBUFFERED=1 PYTHONPATH=$bin
export JOULEBENCH_PYTHON=$(command -v python3) JOULEBENCH_DATA_DIR=$pack/data
ncf=$JOULEBENCH_DATA_DIR/ncf-quick-seed42
steps=${STEPS:-3000} iterations=${CPU_LOAD_ITERATIONS:-300} gpu_steps=${GPU_STEPS:-2000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
left() { echo $((${BUDGET:-540} - ($(date +%s) - start))); }
section() { echo; echo "=== $* (t=$(($(date +%s) - start)) s)"; }
exec > >(tee -a "$out/log.txt") 2>&1

section machine
uname -r; nproc; grep -m1 "model name" /proc/cpuinfo
nvidia-smi --query-gpu=name,driver_version,power.draw,power.limit --format=csv
python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())"
echo "perf_event_paranoid: $(cat /proc/sys/kernel/perf_event_paranoid)"
perf record -q -e cpu-clock -o "$work/check.data" -- true && echo "perf records"
joulebench sensors || { echo "joulebench does not run here"; exit 1; }

section "overhead: sizing the rounds"
t0=$(date +%s.%N)
python3 "$bin/joulebench_pytorch.py" --model ncf --phase train --data "$ncf" --threads 1 \
  --checkpoint "$work/c.ckpt" --steps "$steps" >/dev/null
t1=$(date +%s.%N)
joulebench-cpu-load --iterations "$iterations" --threads 1
t2=$(date +%s.%N)
# A round runs five PyTorch commands (bare, the two samplers, cProfile at about +25 %, perf) and two
# native.
rounds=$(python3 -c "print(max(3, min(${ROUNDS:-11}, int(${OVERHEAD_BUDGET:-250} / (5.4 * ($t1 - $t0) + 2.1 * ($t2 - $t1))))))")
echo "bare run $(python3 -c "print(round($t1 - $t0, 2))") s, native $(python3 -c "print(round($t2 - $t1, 2))") s: $rounds rounds"

section "external sampler: can it read this machine's Python?"
"$bin/joulebench" python-sampler --out "$work/check.trace" -- python3 -c pass
grep '^# ' "$work/check.trace"

section "overhead: bench/profile_overhead.sh $rounds $steps"
BUILD=$bin OUT=$out/overhead.json MODES="python cprofile perf" CPU_LOAD_ITERATIONS=$iterations \
  timeout $(($(left) - 200)) "$repo/bench/profile_overhead.sh" "$rounds" "$steps"

if [ "${STARTUP_RUNS:-0}" -gt 0 ]; then
  # Where the sampler's whole-run cost came from on the H200 machine: start-up (importing torch).
  section "start-up: import torch, bare and under the sampler"
  echo "import torch" > "$work/import_torch.py"
  python3 "$repo/bench/startup_cost.py" --rounds "$STARTUP_RUNS" --python "$(command -v python3)" \
    --helper "$bin/joulebench_profile.py" --external "$bin/joulebench" "$work/import_torch.py"
fi

section "sampler cost: bench/sampler_cost.py"
timeout 80 python3 "$repo/bench/sampler_cost.py" --trials "${TRIALS:-100}" "$bin/joulebench_profile.py"
# What the trace costs at exit after an import: deep stacks that hold modules' code.
timeout 60 python3 "$repo/bench/sampler_cost.py" --import-module torch "$bin/joulebench_profile.py"

section "profile modes end to end"
gpu_ncf=(python3 "$bin/joulebench_pytorch.py" --model ncf --phase train --data "$ncf" --threads 2 --device cuda
  --checkpoint "$work/g.ckpt")
timeout 60 joulebench profile --mode python --top 12 -o "$out/profile-python-cuda.json" --format json -- \
  "${gpu_ncf[@]}" --steps "$gpu_steps" >"$work/python-json.log" 2>&1
echo "python mode to JSON: exit $?"
timeout 60 joulebench profile --mode python --top 12 -- "${gpu_ncf[@]}" --steps "$gpu_steps" 2>/dev/null
timeout 60 joulebench profile --mode torch --top 12 -- "${gpu_ncf[@]}" --steps 300 2>&1 | tail -30
timeout 40 joulebench profile --mode cprofile --top 10 -- python3 "$bin/joulebench_pytorch.py" --model ncf \
  --phase train --data "$ncf" --threads 1 --checkpoint "$work/c.ckpt" --steps 300 2>/dev/null
timeout 30 joulebench profile --mode perf --top 8 -- joulebench-cpu-load --iterations 100 2>&1 | tail -20

section "NVML against nvidia-smi: bench/gpu_check.sh"
timeout $(($(left) - 5)) "$repo/bench/gpu_check.sh" "$bin/joulebench" "$JOULEBENCH_DATA_DIR" "$work/gpu" python3 "$gpu_steps"
tar czf "$out/gpu.tgz" -C "$work" gpu
section done
