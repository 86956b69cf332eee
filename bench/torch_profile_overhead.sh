#!/usr/bin/env bash
# Run-time inflation of the torch profile mode's trace writers, against the unprofiled run of the
# same workload: LibTorch with joulebench/torch_profile.hpp's RecordFunction callbacks switched on
# by the environment, PyTorch under python/joulebench_torch_profile.py (torch.profiler). NCF and
# ResNet, train phase, one thread each.
#
#   bench/torch_profile_overhead.sh [ROUNDS]        (default 5; BUILD=build, JOULEBENCH_BENCH_SIZE=quick)
#
# Each round times every command once with hyperfine (no shell), the unprofiled and profiled runs
# of a workload back to back in alternating order (ABBA), after one unmeasured warm-up round: a
# machine's drift then lands on both sides alike. Reported per workload: median wall and CPU time
# of the whole process (PyTorch's profiled run includes writing the trace after the script ends;
# CPU time is the steadier figure on a shared machine), median time of the workload's own train
# region (its "train N s" line: the per-operator cost alone), the inflations as ratios of medians,
# and the trace's size. JOULEBENCH_BENCH_SIZE=tiny for a smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."

build=$(cd "${BUILD:-build}" && pwd)
rounds=${1:-5}
size=${JOULEBENCH_BENCH_SIZE:-quick}
python=/usr/bin/python3
for needed in "$build/joulebench-data" "$build/joulebench-libtorch" "$build/joulebench_pytorch.py" \
              "$build/joulebench_torch_profile.py"; do
  [[ -e $needed ]] || { echo "torch_profile_overhead: $needed is not built" >&2; exit 2; }
done
command -v hyperfine >/dev/null || { echo "torch_profile_overhead: hyperfine is not installed" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for model in ncf resnet; do
  "$build/joulebench-data" --model "$model" --size "$size" --seed 42 --out "$work/data" >/dev/null
done

profile_env="JOULEBENCH_PROFILE_MODE=torch JOULEBENCH_PROFILE_OUT=$work/trace"
declare -A plain profiled
for model in ncf resnet; do
  arguments="--model $model --phase train --threads 1 --data $work/data/$model-$size-seed42"
  plain[libtorch-$model]="env $build/joulebench-libtorch $arguments --checkpoint $work/libtorch.ckpt"
  profiled[libtorch-$model]="env $profile_env $build/joulebench-libtorch $arguments --checkpoint $work/libtorch.ckpt"
  plain[pytorch-$model]="env $python $build/joulebench_pytorch.py $arguments --checkpoint $work/pytorch.ckpt"
  profiled[pytorch-$model]="env $profile_env $python $build/joulebench_torch_profile.py $build/joulebench_pytorch.py $arguments --checkpoint $work/pytorch.ckpt"
done
workloads=(libtorch-ncf pytorch-ncf libtorch-resnet pytorch-resnet)

# time_once NAME SIDE ROUND: one hyperfine run; its JSON and the program's output are kept.
time_once() {
  local command
  if [[ $2 == plain ]]; then command=${plain[$1]}; else command=${profiled[$1]}; fi
  hyperfine -N --runs 1 --style none --export-json "$work/$1.$2.$3.json" --output "$work/$1.$2.$3.out" \
    "$command" >/dev/null
  if [[ $2 == profiled ]]; then wc -l <"$work/trace" >"$work/$1.trace-lines"; fi
}

for round in $(seq 0 "$rounds"); do  # round 0: the warm-up, not counted
  for name in "${workloads[@]}"; do
    if (( round % 2 == 0 )); then
      time_once "$name" plain "$round"; time_once "$name" profiled "$round"
    else
      time_once "$name" profiled "$round"; time_once "$name" plain "$round"
    fi
  done
  echo "round $round of $rounds done" >&2
done

"$python" - "$work" "$rounds" "${workloads[@]}" <<'EOF'
import json, re, statistics, sys
work, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def result(name, side, r):
    return json.load(open(f"{work}/{name}.{side}.{r}.json"))["results"][0]

def wall(name, side, r):
    return result(name, side, r)["times"][0]

def cpu(name, side, r):
    return result(name, side, r)["user"] + result(name, side, r)["system"]

def train(name, side, r):
    found = re.search(r"^\s*train\s+([0-9.]+) s", open(f"{work}/{name}.{side}.{r}.out").read(), re.M)
    return float(found.group(1))

print(f"{'':16} {'wall time (whole process)':^30}   {'CPU time (user + system)':^30}   {'train region':^30}")
print(f"{'workload':16}" + f" {'plain':>9} {'profiled':>9} {'inflation':>9}  " * 3 + f" {'trace lines':>11}")
for name in names:
    row = ""
    for measure in (wall, cpu, train):
        a = statistics.median(measure(name, "plain", r) for r in range(1, rounds + 1))
        b = statistics.median(measure(name, "profiled", r) for r in range(1, rounds + 1))
        row += f" {a:8.3f}s {b:8.3f}s {100 * (b / a - 1):+8.1f}%  "
    lines = int(open(f"{work}/{name}.trace-lines").read())
    print(f"{name:16}{row} {lines:11,}")
print(f"medians of {rounds} interleaved rounds; inflation = profiled median / plain median - 1")
EOF
