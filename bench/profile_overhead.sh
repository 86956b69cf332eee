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

data=${JOULEBENCH_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/joulebench/data}/ncf-quick-seed42
# A machine without the generator (a portable build) can bring the data set along.
[ -f "$data/manifest.json" ] || "$build/joulebench" workload data --model ncf --size quick --seed 42 >&2
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
  mode=${mode%% *}
  case "$mode" in bare | sampler) ;; *) [[ "$modes" == *" $mode "* ]] || return 0 ;; esac
  [[ "$mode" != sampler || "$modes" == *" python "* ]] || return 0
  names+=("$1")
  commands+=("$2")
}

script="$build/joulebench_pytorch.py --model ncf --phase train --data $data --threads 1 --checkpoint $work/py.ckpt $step_args"
add "pytorch: bare" "$python $script"
# The python mode's two samplers: outside the program where joulebench can read the interpreter
# (CPython 3.11, 3.12), inside it (the launcher's thread) elsewhere.
add "pytorch: python sampler in-process" "$python $helpers/joulebench_profile.py --mode python --interval-ns 5000000 --out $work/trace -- $script"
if [ "$("$build/joulebench" python-sampler --out "$work/check.trace" -- "$python" -c pass 2>/dev/null && grep -c '^# sampler: external, CPython' "$work/check.trace")" = 1 ]; then
  add "pytorch: python sampler external" "$build/joulebench python-sampler --interval-ns 5000000 --out $work/trace -- $python $script"
fi
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
  # A fixed amount of work, so that a slower run shows as a longer one.
  native="$build/joulebench-cpu-load --iterations ${CPU_LOAD_ITERATIONS:-300} --threads 1"
  add "cpu-load: bare" "$native"
  [ -n "$perf_record" ] && add "cpu-load: perf" "$perf_record $native"
fi

n=${#names[@]}
printf '%s\n' "${names[@]}" > "$work/names"
for ((r = 0; r < rounds; r++)); do
  args=()
  for ((k = 0; k < n; k++)); do
    i=$(((k + r) % n))
    # Each run's output is kept: the NCF workloads print their training loop's own time.
    args+=(-n "${names[$i]}" "${commands[$i]} > $work/out.$r.$i 2>&1")
  done
  echo "round $((r + 1)) of $rounds" >&2
  hyperfine --runs 1 --style none --export-json "$work/round$r.json" "${args[@]}" >&2
done

out=${OUT:-$build/bench-profile-overhead.json}
python3 - "$work" "$rounds" "$out" <<'PY'
import json, re, statistics, sys
work, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times = {}
cpu = {}  # user + system CPU seconds of each run (hyperfine --runs 1 reports the run's own)
train = {}  # the training loop's time as the workload printed it: no start-up, no imports
order = []
names = [line.rstrip("\n") for line in open(f"{work}/names")]
for r in range(rounds):
    for result in json.load(open(f"{work}/round{r}.json"))["results"]:
        name = result["command"]
        times.setdefault(name, []).extend(result["times"])
        cpu.setdefault(name, []).append(result["user"] + result["system"])
        found = re.search(r"^\s*train\s+([0-9.]+) s", open(f"{work}/out.{r}.{names.index(name)}").read(), re.M)
        if found:
            train.setdefault(name, []).append(float(found.group(1)))
for r in json.load(open(f"{work}/round0.json"))["results"]:
    order.append(r["command"])
order.sort(key=lambda name: (name.split(":")[0], not name.endswith("bare"), name))
# "inflation" compares the medians; "paired" is the median over rounds of each run against the bare
# run of its own round, which cancels drift that lasts a round.
# "train paired" is the same for the training loop's own time, where the workload prints it.
print(f"\n{'command':<26}{'median (s)':>12}{'min (s)':>10}{'max (s)':>10}{'inflation':>11}{'paired':>9}{'CPU (s)':>10}"
      f"{'CPU infl.':>11}{'train (s)':>11}{'train paired':>14}")
medians = {}
cpu_medians = {}
paired_all = {}
train_paired_all = {}
for name in order:
    workload = name.split(":")[0]
    m = statistics.median(times[name])
    medians[name] = m
    c = statistics.median(cpu[name])
    cpu_medians[name] = c
    bare = medians.get(workload + ": bare", m)
    bare_cpu = cpu_medians.get(workload + ": bare", c)
    bare_times = times.get(workload + ": bare", times[name])
    paired = statistics.median(t / b for t, b in zip(times[name], bare_times)) - 1
    paired_all[name] = paired
    train_columns = ""
    bare_train = train.get(workload + ": bare")
    if name in train and bare_train and len(train[name]) == len(bare_train) == len(times[name]):
        train_paired = statistics.median(t / b for t, b in zip(train[name], bare_train)) - 1
        train_paired_all[name] = train_paired
        train_columns = f"{statistics.median(train[name]):>11.3f}{train_paired * 100:>13.1f}%"
    print(f"{name:<26}{m:>12.3f}{min(times[name]):>10.3f}{max(times[name]):>10.3f}{(m / bare - 1) * 100:>10.1f}%"
          f"{paired * 100:>8.1f}%{c:>10.3f}{(c / bare_cpu - 1) * 100:>10.1f}%{train_columns}")
json.dump({"rounds": rounds, "times": times, "cpu": cpu, "medians": medians, "cpu_medians": cpu_medians,
           "paired_inflation": paired_all, "train_s": train, "train_paired_inflation": train_paired_all}, open(out, "w"), indent=2)
print(f"\n{rounds} rounds, interleaved; times in {out}")
PY
