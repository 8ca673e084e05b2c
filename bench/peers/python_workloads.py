#!/usr/bin/env python3
"""The Python standard library's side of pyconc's benchmark workloads.

Usage: python_workloads.py WORKLOAD [--n N]
Prints one JSON object per line: {"workload", "impl", "value", "unit", "n"}, the same
definitions as the C++ programs in bench/workloads/ (see bench/README.md).
"""
import json
import sys
import threading
import time

IMPL = "python-stdlib"


def emit(workload, value, unit, n):
    print(json.dumps({"workload": workload, "impl": IMPL, "value": round(value, 3),
                      "unit": unit, "n": n}), flush=True)


def check(ok, what):
    if not ok:
        sys.exit(f"benchmark self-check failed: {what}")


def lock_2threads(n):
    """2 threads each do n times: acquire the Lock, increment a counter, release."""
    lock = threading.Lock()
    total = [0]
    go = threading.Event()

    def work():
        go.wait()
        for _ in range(n):
            with lock:
                total[0] += 1

    workers = [threading.Thread(target=work) for _ in range(2)]
    for w in workers:
        w.start()
    start = time.perf_counter()
    go.set()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    check(total[0] == 2 * n, "counter == 2n")
    emit("lock_2threads", 2 * n / elapsed, "acquisitions/s", 2 * n)


def count_primes(lo, hi):
    """Primes in [lo, hi) by trial division (the cpu_bound_speedup job)."""
    found = 0
    for k in range(max(lo, 2), hi):
        d = 2
        while d * d <= k:
            if k % d == 0:
                break
            d += 1
        else:
            found += 1
    return found


def cpu_bound_speedup(limit):
    """Serial time over the time with the range halved onto 2 threads (the GIL's effect)."""
    from concurrent.futures import ThreadPoolExecutor
    half = limit // 2
    start = time.perf_counter()
    serial = count_primes(0, limit)
    serial_time = time.perf_counter() - start
    with ThreadPoolExecutor(2) as ex:
        start = time.perf_counter()
        threaded = sum(ex.map(count_primes, (0, half), (half, limit)))
        threaded_time = time.perf_counter() - start
    check(serial == threaded, "serial == threaded")
    emit("cpu_bound_speedup.threads", serial_time / threaded_time, "x", limit)


WORKLOADS = {f.__name__: f for f in (lock_2threads, cpu_bound_speedup)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in WORKLOADS:
        sys.exit(f"usage: {sys.argv[0]} WORKLOAD [--n N]; known: {', '.join(WORKLOADS)}")
    args = sys.argv[2:]
    n = int(args[args.index("--n") + 1]) if "--n" in args else None
    fn = WORKLOADS[sys.argv[1]]
    fn(n) if n is not None else fn(fn.__defaults__[0] if fn.__defaults__ else 1_000_000)
