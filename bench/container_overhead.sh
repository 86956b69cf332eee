#!/usr/bin/env bash
# What running a workload in a container costs, side by side with the same command on the host, in
# one campaign (interleaved, so drift hits both alike): the run's own time (container start-up is
# inside it, as the study measured it; the `container-start` region says how much), and joulebench's
# cost between runs (for a container: the runtime's kill and rm, the image was inspected once).
#
#   bench/container_overhead.sh [IMAGE] [RUNS]    (default: an image made from busybox-static; 20)
#
# Needs podman (scripts/setup --tests). On hybrid-cgroup VMs like this project's, CONTAINERS_CONF
# must name a containers.conf as in docs/containers.md (this script writes one when unset).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
image=${1:-}
runs=${2:-20}
if [ -z "${CONTAINERS_CONF:-}" ]; then
  cat > "$work/containers.conf" <<'CONF'
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
CONF
  export CONTAINERS_CONF="$work/containers.conf"
fi
if [ -z "$image" ]; then
  image=localhost/joulebench-bench-busybox:latest
  mkdir -p "$work/rootfs/bin"
  cp /bin/busybox "$work/rootfs/bin/busybox"
  ln -s busybox "$work/rootfs/bin/true"
  tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
  podman import "$work/rootfs.tar" "$image" > /dev/null 2>&1
  trap 'podman rmi --force '"$image"' > /dev/null 2>&1; rm -rf "$work"' EXIT
fi
cat > "$work/plan.toml" <<PLAN
[campaign]
name = "container-overhead"
repetitions = $runs
warmup = 1
order = "interleaved"
idle = "0s"
cooldown = "0s"

[[workload]]
name = "host"
framework = "host"
model = "true"
phase = "run"
command = ["true"]

[[workload]]
name = "container"
framework = "container"
model = "true"
phase = "run"
container = { image = "$image", runtime = "podman" }
command = ["true"]
PLAN
build/joulebench run "$work/plan.toml" --db "$work/runs.db" > /dev/null 2>&1
build/joulebench export --db "$work/runs.db" --format json -o "$work/runs.json" 2> /dev/null
python3 - "$work/runs.json" <<'PY'
import json, statistics, sys
runs = json.load(open(sys.argv[1]))["runs"]
runs.sort(key=lambda r: r["started_unix_s"])
by = {"host": [], "container": []}
gaps = {"host": [], "container": []}  # from this run's end to the next run's start
starts = {"container": []}
for this, following in zip(runs, runs[1:] + [None]):
    by[this["workload"]].append(this["time_s"])
    if following is not None:
        gaps[this["workload"]].append(following["started_unix_s"] - this["started_unix_s"] - this["time_s"])
    for region in this["regions"]:
        if region["name"] == "container-start":
            starts["container"].append(region["end_s"] - region["start_s"])
host, box = statistics.median(by["host"]), statistics.median(by["container"])
print(f"{len(runs)} measured runs, interleaved")
print(f"run time, median: host {host * 1e3:.1f} ms, container {box * 1e3:.1f} ms ({box / host:.0f}x)")
print(f"  of which container-start, median: {statistics.median(starts['container']) * 1e3:.1f} ms")
print(f"joulebench between runs, median: after a host run {statistics.median(gaps['host']) * 1e3:.1f} ms, "
      f"after a container run {statistics.median(gaps['container']) * 1e3:.1f} ms")
PY
