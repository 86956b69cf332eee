#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: (1) the PyTorch workloads with --device cuda under
# `joulebench measure`: throughput and NVML energy per model and phase; (2) NVML's energy counter,
# as joulebench reads it, against nvidia-smi's power readings integrated over the same run.
#
#   bench/gpu_check.sh JOULEBENCH DATA_DIR OUT_DIR [PYTHON] [STEPS]
#
# DATA_DIR holds the quick data sets (joulebench-data --model all --size quick --out DATA_DIR);
# the GPU machine needs no package registry: a portable joulebench (scripts/build-portable), the
# data and the workload script are all it takes, with the machine's own Python and PyTorch.
set -u
jb=$1 data=$2 out=$3 python=${4:-python3} steps=${5:-3000}
mkdir -p "$out"
script=$(dirname "$0")/../workloads/pytorch/joulebench_pytorch.py
export PYTHONPATH=$(dirname "$0")/../python${PYTHONPATH:+:$PYTHONPATH}

nvidia-smi --query-gpu=name,driver_version,power.limit,temperature.gpu --format=csv | tee "$out/gpu.csv"
"$jb" sensors | tee "$out/sensors.txt"

for model in ncf transformer resnet; do
  dir="$data/$model-quick-seed42"
  for phase in train infer; do
    extra=()
    [ "$phase" = train ] && extra=(--steps "$steps")
    smi_log="$out/$model-$phase-smi.csv"
    nvidia-smi --query-gpu=timestamp,power.draw --format=csv,noheader,nounits -lms 50 > "$smi_log" &
    smi=$!
    sleep 1
    before=$(date +%s.%N)
    "$jb" measure --json --output "$out/$model-$phase.json" -- "$python" "$script" --model "$model" --phase "$phase" \
      --data "$dir" --device cuda --threads 2 --checkpoint "$out/$model.ckpt" "${extra[@]}" > "$out/$model-$phase.log" 2>&1
    echo "$model $phase: exit $?"
    after=$(date +%s.%N)
    sleep 1
    kill "$smi"; wait "$smi" 2>/dev/null
    echo "$before $after" > "$out/$model-$phase.window"
  done
done

# NVML counter (joulebench) against nvidia-smi's power integrated by the trapezoid rule over the
# measured window, per run.
"$python" - "$out" <<'EOF'
import json, sys, datetime, glob, os
out = sys.argv[1]
rows = []
for path in sorted(glob.glob(os.path.join(out, "*-*.json"))):
    name = os.path.basename(path)[:-5]
    try:
        m = json.load(open(path))
    except Exception as e:
        print(name, "no measurement:", e); continue
    start, end = map(float, open(os.path.join(out, name + ".window")).read().split())
    samples = []
    for line in open(os.path.join(out, name + "-smi.csv")):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2: continue
        try:
            t = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
            samples.append((t, float(parts[1])))
        except ValueError:
            continue
    inside = [(t, p) for t, p in samples if start <= t <= end]
    smi_j = sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(inside, inside[1:]))
    gpu = [d for d in m.get("domains", []) if d.get("name") == "gpu"]
    nvml_j = gpu[0]["energy_j"] if gpu else float("nan")
    method = [c["method"] for c in m.get("channels", []) if c.get("domain") == "gpu"]
    print(f"{name:18s} wall {m['wall_time_s']:7.2f} s  NVML {nvml_j:9.1f} J ({','.join(method)})  "
          f"nvidia-smi integrated {smi_j:9.1f} J over {len(inside)} samples  ratio {nvml_j / smi_j if smi_j else float('nan'):.3f}")
EOF
grep -h -E "throughput|examples_per_s|accuracy|hr@10" "$out"/*.log | head -40
