#!/usr/bin/env bash
# Throughput of every built-in model x framework x phase at 1 and 2 threads, side by side, as
# ratios to LibTorch; and each training workload's achieved FLOP/s (examples/s x the model's FLOPs
# per example, bench/model_flops.py) as a fraction of the peak float32 GEMM at the same thread
# count (bench/gemm_peak, the best square size).
#
# The runs are one joulebench campaign (shuffled, warm-up, the main job's environment), so drift and
# other load on the machine spread evenly over the workloads. Quick size; the figures are the
# workloads' own metrics, timed over their train/infer regions only (process start-up excluded).
#
#   bench/workload_throughput.sh [--repetitions N] [--warmup N] [--threads "1 2"] [--size quick] [--out DIR]
#                                [--joulebench PATH] [--gemm-peak PATH] [--gemm-repetitions N]
# Defaults: 3 repetitions, 1 warm-up, quick size (tiny: a smoke test of the script), build-me/joulebench,
# build-bench/bench/gemm_peak, results in a new folder under /tmp (the store, the export, the GEMM
# figures and summary.md are kept there). Running again with the same --out resumes the campaign.
# About 10 minutes on 2 cores at the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '/^#   bench/,/^# About/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

repetitions=3
warmup=1
threads="1 2"
out=""
joulebench=build-me/joulebench
gemm_peak=build-bench/bench/gemm_peak
gemm_repetitions=5
size=quick
while (($#)); do
  case $1 in
    --repetitions | --warmup | --threads | --out | --joulebench | --gemm-peak | --gemm-repetitions | --size)
      (($# >= 2)) || { echo "workload_throughput.sh: $1 needs a value" >&2; usage; }
      case $1 in
        --repetitions) repetitions=$2 ;;
        --warmup) warmup=$2 ;;
        --threads) threads=$2 ;;
        --out) out=$2 ;;
        --joulebench) joulebench=$2 ;;
        --gemm-peak) gemm_peak=$2 ;;
        --gemm-repetitions) gemm_repetitions=$2 ;;
        --size) size=$2 ;;
      esac
      shift 2 ;;
    -h | --help) usage ;;
    *) echo "workload_throughput.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
for number in "$repetitions" "$warmup" "$gemm_repetitions" $threads; do
  [[ $number =~ ^[0-9]+$ ]] || { echo "workload_throughput.sh: '$number' is not a whole number" >&2; exit 2; }
done
((repetitions >= 1)) || { echo "workload_throughput.sh: --repetitions must be at least 1" >&2; exit 2; }
[[ -x $joulebench ]] || { echo "workload_throughput.sh: $joulebench is not built (--joulebench PATH)" >&2; exit 2; }
joulebench=$(realpath "$joulebench")
out=${out:-$(mktemp -d /tmp/workload-throughput.XXXXXX)}
mkdir -p "$out"
out=$(realpath "$out")
case $size in tiny | quick | standard) ;; *) echo "workload_throughput.sh: --size must be tiny, quick or standard" >&2; exit 2 ;; esac
export JOULEBENCH_WORKLOAD_SIZE=$size

# shellcheck disable=SC2086 # one word per thread count
thread_list=$(printf '%s, ' $threads)
thread_list="[${thread_list%, }]"
# The main job's environment for every workload (examples/frameworks.toml says why).
glibc_tunables=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456
env_line="env = { OMP_WAIT_POLICY = \"PASSIVE\", GLIBC_TUNABLES = \"$glibc_tunables\" }"
# The main job's workloads (examples/frameworks.toml) with a threads matrix. Inference loads a
# checkpoint trained once per model and framework before the campaign (unmeasured; the weights'
# values do not change the work an inference does), which no measured training run overwrites.
cat > "$out/plan.toml" <<PLAN
[campaign]
name = "workload-throughput"
seed = 42
repetitions = $repetitions
warmup = $warmup
order = "shuffled"
cooldown = "0s"
idle = "0s"
interval = "100ms"

[[workload]]
name = "{m}-{fw}-train-t{t}"
framework = "{fw}"
model = "{m}"
phase = "train"
labels = { threads = "{t}" }
command = ["joulebench", "workload", "{m}", "--framework", "{fw}", "--phase", "train", "--threads", "{t}", "--checkpoint", "$out/{m}-{fw}-train-t{t}.ckpt"]
$env_line
timeout = "5m"
matrix = { m = ["ncf", "transformer", "resnet"], fw = ["libtorch", "pytorch"], t = $thread_list }

[[workload]]
name = "{m}-{fw}-infer-t{t}"
framework = "{fw}"
model = "{m}"
phase = "infer"
labels = { threads = "{t}" }
command = ["joulebench", "workload", "{m}", "--framework", "{fw}", "--phase", "infer", "--threads", "{t}", "--checkpoint", "$out/{m}-{fw}.ckpt"]
$env_line
timeout = "5m"
matrix = { m = ["ncf", "transformer", "resnet"], fw = ["libtorch", "pytorch"], t = $thread_list }

[[workload]]
name = "{m}-dlib-train-t{t}"
framework = "dlib"
model = "{m}"
phase = "train"
labels = { threads = "{t}" }
command = ["joulebench", "workload", "{m}", "--framework", "dlib", "--phase", "train", "--threads", "{t}", "--checkpoint", "$out/{m}-dlib-train-t{t}.ckpt"]
$env_line
timeout = "5m"
matrix = { m = ["ncf", "resnet"], t = $thread_list }

[[workload]]
name = "{m}-dlib-infer-t{t}"
framework = "dlib"
model = "{m}"
phase = "infer"
labels = { threads = "{t}" }
command = ["joulebench", "workload", "{m}", "--framework", "dlib", "--phase", "infer", "--threads", "{t}", "--checkpoint", "$out/{m}-dlib.ckpt"]
$env_line
timeout = "5m"
matrix = { m = ["ncf", "resnet"], t = $thread_list }
PLAN

echo "results in $out"
echo "load before: $(uptime)" | tee "$out/load.txt"

# The data sets first (their generation is not what is measured), then the model FLOPs from them.
data_dir=${JOULEBENCH_DATA_DIR:-$HOME/.cache/joulebench/data}
"$(dirname "$joulebench")/joulebench-data" --model all --size "$size" --seed 42 --out "$data_dir" >/dev/null
python3 bench/model_flops.py --data-dir "$data_dir" --size "$size" --seed 42 | tee "$out/flops.txt"
python3 bench/model_flops.py --data-dir "$data_dir" --size "$size" --seed 42 --csv > "$out/flops.csv"

if [[ -x $gemm_peak ]]; then
  echo
  echo "peak float32 GEMM (OpenBLAS), $gemm_repetitions repetitions:"
  # shellcheck disable=SC2086
  "$gemm_peak" --threads "$(echo $threads | tr ' ' ',')" --repetitions "$gemm_repetitions" --csv > "$out/gemm.csv"
  tr -d '"' < "$out/gemm.csv" | column -s, -t
else
  echo "workload_throughput.sh: $gemm_peak is not built (configure with -DJOULEBENCH_BENCH=ON and libopenblas-dev);" \
    "the FLOP/s fractions are left out" >&2
  rm -f "$out/gemm.csv"
fi

echo
echo "training the checkpoints that inference loads (not measured)"
for model_framework in ncf-libtorch ncf-pytorch ncf-dlib transformer-libtorch transformer-pytorch resnet-libtorch \
  resnet-pytorch resnet-dlib; do
  checkpoint="$out/$model_framework.ckpt"
  [[ -f $checkpoint ]] && continue
  OMP_WAIT_POLICY=PASSIVE GLIBC_TUNABLES=$glibc_tunables \
    "$joulebench" workload "${model_framework%-*}" --framework "${model_framework#*-}" --phase train --threads 2 \
    --checkpoint "$checkpoint" >/dev/null
done

"$joulebench" run "$out/plan.toml" --db "$out/runs.db"
echo "load after: $(uptime)" | tee -a "$out/load.txt"
"$joulebench" export --db "$out/runs.db" --format csv > "$out/runs.csv"

python3 - "$out" <<'PY' | tee "$out/summary.md"
import csv, os, statistics, sys
from collections import defaultdict

out = sys.argv[1]
runs = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
measured = [r for r in runs if r["warmup"] in ("0", "false") and r["status"] == "ok"]
failed = [r for r in runs if r["status"] != "ok"]
metric = {"train": "metric_train_examples_per_s", "infer": "metric_throughput_examples_per_s"}

def number(text):
    return float(text) if text not in ("", None) else None

groups = defaultdict(list)  # (model, phase, threads, framework) -> runs
for r in measured:
    groups[(r["model"], r["phase"], int(r["threads"]), r["framework"])].append(r)

def median_of(rows, column):
    values = [v for v in (number(r.get(column)) for r in rows) if v is not None]
    return (statistics.median(values), len(values)) if values else (None, 0)

frameworks = ["libtorch", "pytorch", "dlib"]
models = ["ncf", "transformer", "resnet"]
thread_counts = sorted({key[2] for key in groups})
print(f"\n## Throughput (examples/s, median of the measured runs; ratio to LibTorch)\n")
print(f"{len(measured)} measured runs, {len(failed)} not ok; {os.environ.get('JOULEBENCH_WORKLOAD_SIZE', 'quick')} size; the workloads' own metrics "
      "(`train_examples_per_s`, `throughput_examples_per_s`), timed over the train/infer region.\n")
print("| model | phase | threads | libtorch | pytorch | pytorch / libtorch | dlib | dlib / libtorch |")
print("|---|---|---|---|---|---|---|---|")
for model in models:
    for phase in ("train", "infer"):
        for threads in thread_counts:
            cells = []
            base, _ = median_of(groups.get((model, phase, threads, "libtorch"), []), metric[phase])
            for framework in frameworks:
                value, n = median_of(groups.get((model, phase, threads, framework), []), metric[phase])
                if value is None:
                    cells += ["-"] if framework == "libtorch" else ["-", "-"]
                    continue
                cells.append(f"{value:,.0f} (n={n})")
                if framework != "libtorch":
                    cells.append(f"{value / base:.2f}" if base else "-")
            print(f"| {model} | {phase} | {threads} | " + " | ".join(cells) + " |")

print("\n## Scaling from 1 to 2 threads (median examples/s at 2 / at 1)\n")
if 1 in thread_counts and 2 in thread_counts:
    print("| model | phase | libtorch | pytorch | dlib |")
    print("|---|---|---|---|---|")
    for model in models:
        for phase in ("train", "infer"):
            cells = []
            for framework in frameworks:
                one, _ = median_of(groups.get((model, phase, 1, framework), []), metric[phase])
                two, _ = median_of(groups.get((model, phase, 2, framework), []), metric[phase])
                cells.append(f"{two / one:.2f}" if one and two else "-")
            print(f"| {model} | {phase} | " + " | ".join(cells) + " |")

print("\n## Where the process time goes (median seconds: whole process, load region, train/infer region)\n")
print("CPU use: the process tree's CPU time / its wall time (median); about 1 per thread when the workload had "
      "its cores, less when other load took them.\n")
print("| model | phase | threads | framework | process | load | train/infer | outside the regions | CPU use |")
print("|---|---|---|---|---|---|---|---|---|")
for model in models:
    for phase in ("train", "infer"):
        for threads in thread_counts:
            for framework in frameworks:
                rows = groups.get((model, phase, threads, framework))
                if not rows:
                    continue
                process, _ = median_of(rows, "time_s")
                load, _ = median_of(rows, "region_load_time_s")
                work, _ = median_of(rows, f"region_{phase}_time_s")
                # Per run, then the median: a difference of medians need not be any run's.
                outside = statistics.median(
                    float(r["time_s"]) - sum(number(r.get(f"region_{name}_time_s")) or 0.0 for name in ("load", phase, "eval"))
                    for r in rows)
                cpu_use = statistics.median((float(r["user_cpu_s"]) + float(r["system_cpu_s"])) / float(r["time_s"])
                                            for r in rows)
                fmt = lambda v: "-" if v is None else f"{v:.2f}"
                print(f"| {model} | {phase} | {threads} | {framework} | {fmt(process)} | {fmt(load)} | {fmt(work)} | "
                      f"{outside:.2f} | {cpu_use:.2f} |")

gemm_path = os.path.join(out, "gemm.csv")
if os.path.exists(gemm_path):
    flops = {r["model"]: float(r["train_flops"]) for r in csv.DictReader(open(os.path.join(out, "flops.csv")))}
    gemm = list(csv.DictReader(open(gemm_path)))
    peak = {}
    for r in gemm:
        if r["shape"] == "square":
            peak[int(r["threads"])] = max(peak.get(int(r["threads"]), 0.0), float(r["best_gflops"]))
    print("\n## Training FLOP/s against the machine's float32 GEMM peak\n")
    print("Peak: the best square cblas_sgemm (OpenBLAS) at the same thread count: " +
          ", ".join(f"{peak[t]:.1f} GFLOP/s at {t} thread{'s' if t > 1 else ''}" for t in sorted(peak)) +
          ". FLOPs per example (train = forward + backward; bench/model_flops.py): " +
          ", ".join(f"{m} {flops[m] / 1e6:.3g} M" for m in models) + ".\n")
    print("| model | threads | framework | examples/s | GFLOP/s | fraction of peak |")
    print("|---|---|---|---|---|---|")
    for model in models:
        for threads in thread_counts:
            for framework in frameworks:
                value, _ = median_of(groups.get((model, "train", threads, framework), []), metric["train"])
                if value is None or threads not in peak:
                    continue
                achieved = value * flops[model] / 1e9
                print(f"| {model} | {threads} | {framework} | {value:,.0f} | {achieved:.2f} | "
                      f"{achieved / peak[threads] * 100:.1f} % |")

if failed:
    print("\nRuns not ok:")
    for r in failed:
        print(f"- {r['workload']} repetition {r['repetition']}: {r['status']}")
PY
