#!/usr/bin/env bash
# Run-time inflation of each profile mode against the unprofiled run of the same workload, side by
# side: the Python sampler, cProfile (the study's method), torch operators and perf on the PyTorch
# NCF training workload, then perf and torch operators on the LibTorch one (or the C++ cpu-load
# where LibTorch is not built). The profiled commands are what `joulebench profile` runs, without
# joulebench around them, so only the profiler's own cost is measured.
#
#   bench/profile_overhead.sh [ROUNDS] [STEPS]
# ROUNDS (default 5): each round runs every command once (hyperfine --runs 1), in an order rotated
# from round to round, so drift spreads evenly over the commands; medians over the rounds.
# STEPS: training steps of the NCF workloads (default: the quick size's own).
# MODES (default "python cprofile torch perf") the profile modes measured, e.g. MODES="python perf"
# for long runs, where torch mode's event conversion takes minutes.
# BUILD (default build) is the build folder with joulebench and the workloads; HELPERS (default
# BUILD) the one with the Python profilers (joulebench_profile.py, joulebench_torch_profile.py).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
steps=${2:-}
build=${BUILD:-build}
helpers=${HELPERS:-$build}
python=${JOULEBENCH_PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/joulebench" workload data --model ncf --size quick --seed 42 >&2
data=${JOULEBENCH_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/joulebench/data}/ncf-quick-seed42
step_args=${steps:+--steps $steps}

perf_record="perf record -q -e cpu-clock -c 5000000 -g --clockid CLOCK_MONOTONIC --no-bpf-event --no-buildid --no-buildid-cache -o $work/perf.data --"
if ! perf record -q -e cpu-clock -o "$work/check.data" -- true 2>/dev/null; then
  echo "perf cannot record here (kernel.perf_event_paranoid = $(cat /proc/sys/kernel/perf_event_paranoid)): perf rows left out" >&2
  perf_record=""
fi
profile_env="JOULEBENCH_PROFILE_OUT=$work/trace JOULEBENCH_PROFILE_INTERVAL_NS=5000000"

modes=" ${MODES:-python cprofile torch perf} "
names=()
commands=()
# Bare runs always; a profiled one only when its mode was asked for.
add() {
  local mode=${1#*: }
  mode=${mode#python }
  case "$mode" in bare | sampler) ;; *) [[ "$modes" == *" $mode "* ]] || return 0 ;; esac
  [[ "$mode" != sampler || "$modes" == *" python "* ]] || return 0
  names+=("$1")
  commands+=("$2")
}

script="$build/joulebench_pytorch.py --model ncf --phase train --data $data --threads 1 --checkpoint $work/py.ckpt $step_args"
add "pytorch: bare" "$python $script"
add "pytorch: python sampler" "$python $helpers/joulebench_profile.py --mode python --interval-ns 5000000 --out $work/trace -- $script"
add "pytorch: cprofile" "$python $helpers/joulebench_profile.py --mode cprofile --out $work/trace -- $script"
[ -n "$perf_record" ] && add "pytorch: perf" "$perf_record $python $script"
if [ -f "$helpers/joulebench_torch_profile.py" ]; then
  add "pytorch: torch" "env $profile_env JOULEBENCH_PROFILE_MODE=torch $python $helpers/joulebench_torch_profile.py $script"
fi

if [ -x "$build/joulebench-libtorch" ]; then
  native="$build/joulebench-libtorch --model ncf --phase train --data $data --threads 1 --checkpoint $work/lt.ckpt $step_args"
  add "libtorch: bare" "$native"
  [ -n "$perf_record" ] && add "libtorch: perf" "$perf_record $native"
  # The built-in LibTorch workload writes operator traces when it includes torch_profile.hpp.
  if grep -q "torch_profile.hpp" workloads/libtorch/*.cpp 2>/dev/null; then
    add "libtorch: torch" "env $profile_env JOULEBENCH_PROFILE_MODE=torch $native"
  fi
else
  native="$build/joulebench-cpu-load --seconds 5 --threads 1"
  add "cpu-load: bare" "$native"
  [ -n "$perf_record" ] && add "cpu-load: perf" "$perf_record $native"
fi

n=${#names[@]}
for ((r = 0; r < rounds; r++)); do
  args=()
  for ((k = 0; k < n; k++)); do
    i=$(((k + r) % n))
    args+=(-n "${names[$i]}" "${commands[$i]}")
  done
  echo "round $((r + 1)) of $rounds" >&2
  hyperfine --runs 1 --style none --export-json "$work/round$r.json" "${args[@]}" >&2
done

out=${OUT:-$build/bench-profile-overhead.json}
python3 - "$work" "$rounds" "$out" <<'PY'
import json, statistics, sys
work, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times = {}
cpu = {}  # user + system CPU seconds of each run (hyperfine --runs 1 reports the run's own)
order = []
for r in range(rounds):
    for result in json.load(open(f"{work}/round{r}.json"))["results"]:
        times.setdefault(result["command"], []).extend(result["times"])
        cpu.setdefault(result["command"], []).append(result["user"] + result["system"])
for r in json.load(open(f"{work}/round0.json"))["results"]:
    order.append(r["command"])
order.sort(key=lambda name: (name.split(":")[0], not name.endswith("bare"), name))
print(f"\n{'command':<26}{'median (s)':>12}{'min (s)':>10}{'max (s)':>10}{'inflation':>11}{'CPU (s)':>10}{'CPU infl.':>11}")
medians = {}
cpu_medians = {}
for name in order:
    workload = name.split(":")[0]
    m = statistics.median(times[name])
    medians[name] = m
    c = statistics.median(cpu[name])
    cpu_medians[name] = c
    bare = medians.get(workload + ": bare", m)
    bare_cpu = cpu_medians.get(workload + ": bare", c)
    print(f"{name:<26}{m:>12.3f}{min(times[name]):>10.3f}{max(times[name]):>10.3f}{(m / bare - 1) * 100:>10.1f}%"
          f"{c:>10.3f}{(c / bare_cpu - 1) * 100:>10.1f}%")
json.dump({"rounds": rounds, "times": times, "cpu": cpu, "medians": medians, "cpu_medians": cpu_medians}, open(out, "w"), indent=2)
print(f"\n{rounds} rounds, interleaved; times in {out}")
PY
