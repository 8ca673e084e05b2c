#!/usr/bin/env python3
"""The Python side of pyconc's benchmark workloads: the standard library's, and joblib's
loky executor (Debian's python3-joblib) for the process pool workloads (`*_loky`).

Usage: python_workloads.py WORKLOAD [--n N]
Prints one JSON object per line: {"workload", "impl", "value", "unit", "n"}, the same
definitions as the C++ programs in bench/workloads/ (see bench/README.md).
"""
import json
import sys
import threading
import time

IMPL = "python-stdlib"
LOKY = "python-loky"


def emit(workload, value, unit, n, impl=IMPL):
    print(json.dumps({"workload": workload, "impl": impl, "value": round(value, 3),
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


def thread_pool_submit(n):
    """One thread submits n tasks returning their int argument to a 2-thread pool; waits."""
    from concurrent.futures import ThreadPoolExecutor, wait
    with ThreadPoolExecutor(2) as ex:
        start = time.perf_counter()
        fs = [ex.submit(identity, i) for i in range(n)]
        wait(fs)
        elapsed = time.perf_counter() - start
    check(fs[-1].result() == n - 1, "last result")
    emit("thread_pool_submit", n / elapsed, "tasks/s", n)


def queue_1p1c(n):
    """A Queue(1024); one producer thread puts n ints then None, one consumer gets them."""
    import queue
    q = queue.Queue(1024)
    total = [0]

    def producer():
        for i in range(n):
            q.put(i)
        q.put(None)

    def consumer():
        s = 0
        while (v := q.get()) is not None:
            s += v
        total[0] = s

    threads = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    check(total[0] == n * (n - 1) // 2, "consumer got every item once")
    emit("queue_1p1c", n / elapsed, "items/s", n)


def identity(x):
    return x


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


BLOCK = 1000


def count_half(limit, part):
    """The primes below limit in half `part` of the blocks of BLOCK numbers (even or odd
    blocks): both halves get the same work, as bench/workloads/cpu_bound_speedup.cpp."""
    return sum(count_primes(lo, min(lo + BLOCK, limit)) for lo in range(part * BLOCK, limit, 2 * BLOCK))


def cpu_bound_speedup(limit):
    """Serial time over the time with the range halved onto 2 threads (the GIL's effect)."""
    from concurrent.futures import ThreadPoolExecutor
    start = time.perf_counter()
    serial = count_primes(0, limit)
    serial_time = time.perf_counter() - start
    with ThreadPoolExecutor(2) as ex:
        start = time.perf_counter()
        threaded = sum(ex.map(count_half, (limit, limit), (0, 1)))
        threaded_time = time.perf_counter() - start
    check(serial == threaded, "serial == threaded")
    emit("cpu_bound_speedup.threads", serial_time / threaded_time, "x", limit)


def pipe_echo(conn):
    """The child of pipe_pingpong: echoes every int until -1."""
    while True:
        v = conn.recv()
        conn.send(v)
        if v == -1:
            return


def pipe_pingpong(n=20_000):
    """A child Process echoes ints on a duplex Pipe; the parent sends n, waiting for each."""
    import multiprocessing
    parent, child = multiprocessing.Pipe()
    p = multiprocessing.Process(target=pipe_echo, args=(child,))
    p.start()
    parent.send(0)
    check(parent.recv() == 0, "echo")  # the child runs
    start = time.perf_counter()
    ok = True
    for i in range(n):
        parent.send(i)
        ok = ok and parent.recv() == i
    elapsed = time.perf_counter() - start
    parent.send(-1)
    parent.recv()
    p.join()
    check(ok, "every int came back")
    emit("pipe_pingpong", elapsed / n * 1e6, "us/roundtrip", n)


def cpu_bound_speedup_processes(limit):
    """Serial time over the time with the range halved onto 2 processes (fork)."""
    import multiprocessing
    start = time.perf_counter()
    serial = count_primes(0, limit)
    serial_time = time.perf_counter() - start
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pool.map(identity, range(2))  # the workers run before the clock starts
        start = time.perf_counter()
        parallel = sum(pool.starmap(count_half, ((limit, 0), (limit, 1))))
        parallel_time = time.perf_counter() - start
    check(serial == parallel, "serial == parallel")
    emit("cpu_bound_speedup.processes", serial_time / parallel_time, "x", limit)


def _mp_stream_child(q, n):
    for i in range(n):
        q.put(i)
    q.put(-1)


def mp_queue_stream(n):
    """A child process puts n ints then -1 into a multiprocessing.Queue; the parent gets them."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    start = time.perf_counter()
    p = ctx.Process(target=_mp_stream_child, args=(q, n))
    p.start()
    total = count = 0
    while (v := q.get()) >= 0:
        total += v
        count += 1
    elapsed = time.perf_counter() - start
    p.join()
    check(count == n and total == n * (n - 1) // 2, "every int arrived once")
    emit("mp_queue_stream", n / elapsed, "items/s", n)


def _mp_bulk_child(q, n):
    item = bytearray(1 << 20)
    for i in range(n):
        item[0] = i & 0xFF
        q.put(bytes(item))


def mp_queue_bulk(n):
    """A child process puts n items of 1 MiB into a multiprocessing.Queue; the parent gets them."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    start = time.perf_counter()
    p = ctx.Process(target=_mp_bulk_child, args=(q, n))
    p.start()
    ok = True
    for i in range(n):
        item = q.get()
        ok = ok and len(item) == 1 << 20 and item[0] == i & 0xFF
    elapsed = time.perf_counter() - start
    p.join()
    check(ok, "every item arrived intact")
    emit("mp_queue_bulk", n * (1 << 20) / elapsed / 1e9, "GB/s", n)


def _manager_child(d, n, report):
    d[-1] = -1
    start = time.perf_counter()
    for i in range(n):
        d[i % 100] = i
    ok = True
    for i in range(n):
        ok = ok and d[i % 100] >= 0
    report.send(time.perf_counter() - start if ok else -1.0)


def manager_dict(n):
    """A child process does d[i % 100] = i n times, then reads d[i % 100] n times, through a
    Manager's dict proxy."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        d = manager.dict()
        reader, writer = ctx.Pipe(False)
        p = ctx.Process(target=_manager_child, args=(d, n, writer))
        p.start()
        seconds = reader.recv()
        p.join()
        check(seconds > 0 and p.exitcode == 0, "the child's calls all worked")
        check(len(d) == 101 and d[(n - 1) % 100] == n - 1, "the dict holds the last values")
    emit("manager_dict", seconds / (2 * n) * 1e6, "us/call", n)


WARM = 100  # tasks run before the clock starts: the pool's workers are up


def square(x):
    return x * x


def loky_executor():
    """joblib's loky executor of 2 workers (its own start method, as joblib uses it)."""
    from joblib.externals.loky import get_reusable_executor
    return get_reusable_executor(max_workers=2)


def _submit_all(ex, n, workload, impl):
    from concurrent.futures import wait
    wait([ex.submit(identity, i) for i in range(WARM)])
    start = time.perf_counter()
    fs = [ex.submit(identity, i) for i in range(n)]
    total = sum(f.result() for f in fs)
    elapsed = time.perf_counter() - start
    check(total == n * (n - 1) // 2, "every task returned its argument")
    emit(workload, n / elapsed, "tasks/s", n, impl)


def process_pool_submit(n):
    """A ProcessPoolExecutor of 2 workers (fork, warm); one thread submits n tasks
    returning their int argument, a future each; waits for all."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as ex:
        _submit_all(ex, n, "process_pool_submit", IMPL)


def process_pool_submit_loky(n):
    """The same on joblib's loky executor."""
    ex = loky_executor()
    try:
        _submit_all(ex, n, "process_pool_submit", LOKY)
    finally:
        ex.shutdown(wait=True)


def check_squares(out, n):
    check(len(out) == n and all(v == i * i for i, v in enumerate(out)), "every item squared, in order")


def pool_map(n):
    """Pool(2).map(square, range(n), chunksize=10000) on a warm pool (fork)."""
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(identity, range(WARM))
        start = time.perf_counter()
        out = pool.map(square, range(n), chunksize=10_000)
        elapsed = time.perf_counter() - start
    check_squares(out, n)
    emit("pool_map", n / elapsed, "items/s", n)


def pool_map_loky(n):
    """The same through loky's executor.map(chunksize=10000)."""
    ex = loky_executor()
    try:
        list(ex.map(identity, range(WARM)))
        start = time.perf_counter()
        out = list(ex.map(square, range(n), chunksize=10_000))
        elapsed = time.perf_counter() - start
    finally:
        ex.shutdown(wait=True)
    check_squares(out, n)
    emit("pool_map", n / elapsed, "items/s", n, LOKY)


def pool_start(n):
    """n times: a Pool(2) under fork is made, runs one apply, is closed and joined."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    start = time.perf_counter()
    for i in range(n):
        pool = ctx.Pool(2)
        check(pool.apply(identity, (i,)) == i, "the pool's one task")
        pool.close()
        pool.join()
    elapsed = time.perf_counter() - start
    emit("pool_start", elapsed / n * 1e3, "ms/pool", n)


WORKLOADS = {f.__name__: f for f in (lock_2threads, thread_pool_submit, queue_1p1c, cpu_bound_speedup,
                                     cpu_bound_speedup_processes, pipe_pingpong, mp_queue_stream, mp_queue_bulk,
                                     manager_dict, process_pool_submit, process_pool_submit_loky, pool_map,
                                     pool_map_loky, pool_start)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in WORKLOADS:
        sys.exit(f"usage: {sys.argv[0]} WORKLOAD [--n N]; known: {', '.join(WORKLOADS)}")
    args = sys.argv[2:]
    n = int(args[args.index("--n") + 1]) if "--n" in args else None
    fn = WORKLOADS[sys.argv[1]]
    fn(n) if n is not None else fn(fn.__defaults__[0] if fn.__defaults__ else 1_000_000)
