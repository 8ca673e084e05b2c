#!/usr/bin/env python3
"""pyconc's benchmark harness: pyconc against Python and the C++ peers, side by side.

Usage: run.py --bin DIR [--quick] [--rounds R] [--only WORKLOAD ...]

Every implementation of a workload is a program that prints one JSON object per line,
{"workload", "impl", "value", "unit", "n"} (bench/README.md). The harness runs them
interleaved (A B C, A B C, ...) after a warm-up round, keeps every sample, and reports per
workload the median, min and max of each implementation and the ratio pyconc/peer,
oriented so that > 1 means pyconc is better. Results go to bench/results/latest.json (with
the machine, the compilers and the versions of the peer libraries and tools) and a chart
of the ratios to bench/results/latest.png.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
PY = sys.executable or "python3"
PY_PEER = os.path.join(HERE, "peers", "python_workloads.py")
LOWER_IS_BETTER = {"us/roundtrip", "us/call", "ms/pool"}
# Debian packages of the peers and tools whose versions latest.json records.
VERSIONED_PACKAGES = ("libtbb-dev", "libasio-dev", "libconcurrentqueue-dev", "libabsl-dev", "libbenchmark-dev",
                      "python3", "wrk", "python3-uvloop", "python3-joblib")


def workloads(bin_dir, quick):
    """The workloads pyconc implements so far: id, N (full, quick), implementations."""
    def prog(name, *args):
        return [os.path.join(bin_dir, name), *args]

    def py(workload, n):
        return [PY, PY_PEER, workload, "--n", str(n)]

    table = []
    n = 200_000 if quick else 1_000_000
    table.append({
        "id": "lock_2threads", "n": n, "primary": "pyconc",
        "impls": {
            "pyconc": prog("lock_2threads", "pyconc", "--n", str(n)),
            "pyconc-acquire/release": prog("lock_2threads", "pyconc-acquire/release", "--n", str(n)),
            "std::mutex": prog("lock_2threads", "std::mutex", "--n", str(n)),
            "absl::Mutex": prog("lock_2threads", "absl::Mutex", "--n", str(n)),
            "atomic-fetch_add-nolock": prog("lock_2threads", "atomic-fetch_add-nolock", "--n", str(n)),
            "python-stdlib": py("lock_2threads", n),
        },
    })
    n = 20_000 if quick else 100_000
    table.append({
        "id": "thread_pool_submit", "n": n, "primary": "pyconc",
        "impls": {name: prog("thread_pool_submit", name, "--n", str(n)) for name in (
            "pyconc", "packaged_task-pool", "tbb-task_group-nofuture", "asio-thread_pool-post-nofuture")}
        | {"python-stdlib": py("thread_pool_submit", n)},
    })
    n = 100_000 if quick else 1_000_000
    table.append({
        "id": "queue_1p1c", "n": n, "primary": "pyconc",
        "impls": {name: prog("queue_1p1c", name, "--n", str(n)) for name in (
            "pyconc", "std-mutex-2condvar-bounded", "tbb-concurrent_bounded_queue",
            "moodycamel-BlockingConcurrentQueue-unbounded")}
        | {"python-stdlib": py("queue_1p1c", n)},
    })
    limit = 60_000 if quick else 300_000
    table.append({
        "id": "cpu_bound_speedup.threads", "n": limit, "primary": "pyconc",
        "impls": {
            "pyconc": prog("cpu_bound_speedup", "--n", str(limit)),
            "python-stdlib": py("cpu_bound_speedup", limit),
        },
    })
    # A speedup is a ratio of times, so each side gets a LIMIT that makes its serial run
    # last long enough (~0.3-1 s) for the split of the work to show rather than the
    # scheduler's first placement of two fresh processes: C++ counts 7x further.
    big = 600_000 if quick else 2_000_000
    table.append({
        "id": "cpu_bound_speedup.processes", "n": big, "primary": "pyconc",
        "impls": {
            "pyconc": prog("cpu_bound_speedup", "processes", "--n", str(big)),
            "pyconc-Pool.map": prog("cpu_bound_speedup", "pool", "--n", str(big)),
            "python-stdlib": py("cpu_bound_speedup_processes", limit),
        },
    })
    n = 20_000 if quick else 100_000
    table.append({
        "id": "pipe_pingpong", "n": n, "primary": "pyconc",
        "impls": {
            "pyconc": prog("pipe_pingpong", "pyconc", "--n", str(n)),
            "python-stdlib": py("pipe_pingpong", n // 5),
        },
    })
    n = 200_000 if quick else 2_000_000
    table.append({
        "id": "mp_queue_stream", "n": n, "primary": "pyconc",
        "impls": {
            "pyconc": prog("mp_queue_stream", "pyconc", "--n", str(n)),
            "python-stdlib": py("mp_queue_stream", n // 10),
        },
    })
    n = 256 if quick else 2048
    table.append({
        "id": "mp_queue_bulk", "n": n, "primary": "pyconc",
        "impls": {
            "pyconc": prog("mp_queue_stream", "pyconc", "--bulk", "--n", str(n)),
            "python-stdlib": py("mp_queue_bulk", max(n // 8, 32)),
        },
    })
    n = 20_000 if quick else 100_000
    table.append({
        "id": "manager_dict", "n": n, "primary": "pyconc",
        "impls": {
            "pyconc": prog("manager_dict", "pyconc", "--n", str(n)),
            "python-stdlib": py("manager_dict", n // 10),
        },
    })
    # The process pools: pyconc runs 10x the tasks of Python and loky (each ~7k tasks/s) so
    # that every side's round lasts a similar time.
    n = 20_000 if quick else 200_000
    table.append({
        "id": "process_pool_submit", "n": n, "primary": "pyconc",
        "impls": {
            "pyconc": prog("process_pool_submit", "pyconc", "--n", str(n)),
            "pyconc-Pool.apply_async": prog("process_pool_submit", "pyconc-Pool.apply_async", "--n", str(n)),
            "python-stdlib": py("process_pool_submit", n // 10),
            "python-loky": py("process_pool_submit_loky", n // 10),
        },
    })
    n = 100_000 if quick else 1_000_000
    table.append({
        "id": "pool_map", "n": n, "primary": "pyconc",
        "impls": {
            "pyconc": prog("pool_map", "pyconc", "--n", str(n)),
            "pyconc-ProcessPoolExecutor.map": prog("pool_map", "pyconc-ProcessPoolExecutor.map", "--n", str(n)),
            "python-stdlib": py("pool_map", n),
            "python-loky": py("pool_map_loky", n),
        },
    })
    n = 5 if quick else 20
    table.append({
        "id": "pool_start", "n": n, "primary": "pyconc",
        "impls": {
            "pyconc": prog("pool_start", "pyconc", "--n", str(n)),
            "python-stdlib": py("pool_start", max(n // 2, 2)),
        },
    })
    return table


def run_once(argv, timeout):
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}):\n{out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def package_version(pkg):
    """The installed version of a Debian package, None if it is not installed."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", pkg],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    status, _, version = out.stdout.partition("\t")
    # A removed package whose configuration files remain still has a Version: not installed.
    if out.returncode != 0 or not status.endswith(" installed") or not version:
        return None
    return version


def machine_info():
    def cmd(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return None
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
        "python": platform.python_version(), "python_executable": PY,
        "gxx": cmd("g++", "--version"), "clang": cmd("clang++", "--version"),
        "packages": {pkg: package_version(pkg) for pkg in VERSIONED_PACKAGES},
        "load_average_at_start": os.getloadavg(),
    }


def versions_line(info):
    """The peer and tool versions of machine_info() on one line."""
    parts = [f"{pkg} {ver or '(missing)'}" for pkg, ver in info["packages"].items()]
    parts.append(f"python used {info['python']} ({info['python_executable']})")
    return "versions: " + ", ".join(parts)


def fmt(value, unit):
    if unit in ("x",):
        return f"{value:.2f}x"
    if unit in LOWER_IS_BETTER:
        return f"{value:.2f} {unit.split('/')[0]}"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.1f}"


def ratio(primary, peer, unit):
    if primary <= 0 or peer <= 0:
        return float("nan")
    return peer / primary if unit in LOWER_IS_BETTER else primary / peer


def chart(ratios, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib missing: no chart; `apt-get install python3-matplotlib`)")
        return False
    labels = [f"{r['workload']}  vs {r['peer']}" for r in ratios]
    values = [r["ratio"] for r in ratios]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(values) + 1.4))
    colors = ["#2a9d8f" if v >= 1 else "#e76f51" for v in values]
    ax.barh(range(len(values)), values, color=colors)
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.2f}x", va="center", fontsize=8)
    ax.set_xlabel("pyconc / peer (log scale; > 1: pyconc is better)")
    ax.set_title("pyconc against Python and the C++ peers, same machine, same run", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="directory of the built workload programs")
    ap.add_argument("--quick", action="store_true", help="small N: a smoke run of every workload")
    ap.add_argument("--rounds", type=int, help="measured rounds (default 5; 2 with --quick)")
    ap.add_argument("--only", nargs="*", help="workload ids to run")
    ap.add_argument("--out", default=RESULTS, help="directory for latest.json and latest.png")
    args = ap.parse_args()
    # A quick run only shows that everything runs and checks its result: 2 rounds (the
    # loky executor alone takes ~4 s to start and stop, whatever N).
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5

    table = [w for w in workloads(os.path.abspath(args.bin), args.quick) if not args.only or w["id"] in args.only]
    info = machine_info()
    samples = {}  # (workload, impl) -> {"unit", "n", "values"}
    started = time.time()
    total_rounds = args.rounds + 1
    for rnd in range(total_rounds):
        warm = rnd == 0
        print(f"round {rnd}/{args.rounds}{' (warm-up)' if warm else ''}", file=sys.stderr, flush=True)
        for w in table:
            names = list(w["impls"])
            shift = rnd % len(names)  # rotate the order so no impl always runs first
            for name in names[shift:] + names[:shift]:
                for rec in run_once(w["impls"][name], timeout=600):
                    if warm:
                        continue
                    key = (rec["workload"], rec["impl"])
                    entry = samples.setdefault(key, {"unit": rec["unit"], "n": rec["n"], "values": []})
                    entry["values"].append(rec["value"])

    results, ratios = [], []
    for (workload, impl), e in samples.items():
        vals = e["values"]
        results.append({"workload": workload, "impl": impl, "unit": e["unit"], "n": e["n"], "samples": vals,
                        "median": statistics.median(vals), "min": min(vals), "max": max(vals)})
    by_workload = {}
    for r in results:
        by_workload.setdefault(r["workload"], []).append(r)

    print()
    print(f"{'workload':<28} {'implementation':<26} {'median':>10} {'min':>10} {'max':>10}  pyconc/peer")
    print("-" * 100)
    for workload, rows in by_workload.items():
        primary = next((r for r in rows if r["impl"] == "pyconc"), None)
        rows.sort(key=lambda r: (r["impl"] != "pyconc", not r["impl"].startswith("pyconc"), r["impl"]))
        for r in rows:
            rr = ""
            if primary and r is not primary and not r["impl"].startswith("pyconc"):
                x = ratio(primary["median"], r["median"], r["unit"])
                ratios.append({"workload": workload, "peer": r["impl"], "ratio": x})
                rr = f"{x:8.2f}x"
            print(f"{workload:<28} {r['impl']:<26} {fmt(r['median'], r['unit']):>10} {fmt(r['min'], r['unit']):>10}"
                  f" {fmt(r['max'], r['unit']):>10}  {rr}")
        print()

    os.makedirs(args.out, exist_ok=True)
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
           "rounds": args.rounds, "seconds": round(time.time() - started, 1), "machine": info,
           "results": results, "ratios": ratios}
    json_path = os.path.join(args.out, "latest.json")
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1)
    png = os.path.join(args.out, "latest.png")
    drew = chart(ratios, png) if ratios else False
    print(f"results: {json_path}" + (f", chart: {png}" if drew else ""))
    print(f"{len(results)} figures from {args.rounds} rounds in {doc['seconds']} s "
          f"(load average at start {info['load_average_at_start'][0]:.2f})")
    print(versions_line(info))


if __name__ == "__main__":
    main()
