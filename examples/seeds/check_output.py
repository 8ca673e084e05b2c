#!/usr/bin/env python3
"""The test of each seed program: runs it and checks what it prints.

    check_output.py NAME PROGRAM [ARGS...]

Passes (exit 0) when PROGRAM exits with 0 and prints the lines its Python original
prints, in the order Python allows (where threads or processes race, any order they
could take). Otherwise prints the output and what is wrong, and exits with 1. Every seed
needs a checker below: a new one fails until it has one.
"""
import ast
import re
import subprocess
import sys


class Mismatch(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Mismatch(message)


def exactly(*expected):
    def check(lines):
        expect(lines == list(expected), f"expected exactly:\n  " + "\n  ".join(expected))
    return check


def python_list_line(prefix, expected_items):
    """One line `prefix [...]`: a Python list repr holding expected_items in any order."""
    def check(lines):
        expect(len(lines) == 1 and lines[0].startswith(prefix), f"expected one line '{prefix} [...]'")
        items = ast.literal_eval(lines[0][len(prefix):].strip())
        expect(lines[0] == f"{prefix} {items!r}", "not a Python list repr")
        expect(sorted(items) == sorted(expected_items), f"expected the items {expected_items} (any order)")
    return check


def starts_then_finishes(start, finish, names, last):
    """For each name a start line before its finish line (threads in any order), then `last`."""
    def check(lines):
        expect(lines[-1:] == [last], f"expected '{last}' last")
        body = lines[:-1]
        wanted = [start.format(n) for n in names] + [finish.format(n) for n in names]
        expect(sorted(body) == sorted(wanted), "expected, in any order:\n  " + "\n  ".join(wanted))
        for n in names:
            expect(body.index(start.format(n)) < body.index(finish.format(n)), f"{n}: finished before it started")
    return check


def producer_consumer(lines):
    produced, consumed = [], []
    for line in lines:
        m = re.fullmatch(r"(Produced|Consumed) (\d+)", line)
        expect(m, f"unexpected line: {line!r}")
        item = int(m.group(2))
        expect(1 <= item <= 100, f"{item} is not a random.randint(1, 100)")
        (produced if m.group(1) == "Produced" else consumed).append(item)
        # Five in the queue, and the consumer may not have printed the one it took.
        expect(len(produced) - len(consumed) <= 6, "the producer got more than 5 items ahead")
    expect(len(produced) == 20 and len(consumed) == 20, "--quick: expected 20 items each way")
    expect(consumed == produced, "items consumed in another order than produced (a FIFO queue)")


def fetched(line_format, last=None):
    paths = ["/example", "/python", "/github"]

    def check(lines):
        if last is not None:
            expect(lines[-1:] == [last], f"expected '{last}' last")
            lines = lines[:-1]
        pattern = re.escape(line_format).replace(r"\{url\}", r"http://127\.0\.0\.1:\d+(/\w+)")
        got = []
        for line in lines:
            m = re.fullmatch(pattern, line)
            expect(m, f"expected lines like {line_format!r}, got {line!r}")
            got.append(m.group(1))
        expect(sorted(got) == sorted(paths), f"expected one line for each of {paths} (any order)")
    return check


def matching(*patterns):
    def check(lines):
        expect(len(lines) == len(patterns), f"expected {len(patterns)} lines")
        for line, pattern in zip(lines, patterns):
            expect(re.fullmatch(pattern, line), f"{line!r} does not match {pattern!r}")
    return check


def any_order(*expected):
    def check(lines):
        expect(sorted(lines) == sorted(expected), "expected, in any order:\n  " + "\n  ".join(expected))
    return check


CHECKS = {
    "thread_hello": exactly(*["Hello from Thread Thread-1"] * 5, "Main thread finished"),
    "lock_counter": exactly(*[f"Counter: {i}" for i in range(1, 11)], "Final counter value: 10"),
    "producer_consumer": producer_consumer,
    "process_hello": exactly(*["Hello from Process Process-1"] * 5, "Main process finished"),
    "queue_squares": python_list_line("Results:", [(x, x * x) for x in range(1, 6)]),
    "queue_factorials": python_list_line(
        "Factorials:", [(5, 120), (10, 3628800), (15, 1307674368000), (20, 2432902008176640000)]),
    "numbers": exactly(*[f"Number: {i}" for i in range(5)], "Thread has finished executing"),
    "downloads": starts_then_finishes("Starting download of {}...", "Finished downloading {}",
                                      ["file1.zip", "file2.zip", "file3.zip"], "All files have been downloaded."),
    "web_fetch": fetched("Fetched {url} with status 200"),
    "process_squares": any_order(*[f"Square of {i} is {i * i}" for i in range(5)]),
    "threads_vs_processes": matching(r"serial:    \d+ jobs in \d+\.\d\d s",
                                     r"threads:   \d+ jobs in \d+\.\d\d s, speedup \d+\.\d\dx",
                                     r"processes: \d+ jobs in \d+\.\d\d s, speedup \d+\.\d\dx"),
    "five_workers": starts_then_finishes("Worker {} started", "Worker {} finished", range(5),
                                         "All workers completed."),
    "fetch_urls": fetched("Fetched {url}: 200", last="All URLs fetched."),
    "lock_counter_2_threads": exactly("Final counter value: 200000"),
    "pools": matching(r"ThreadPoolExecutor:  \['file1\.zip', 'file2\.zip', 'file3\.zip', 'file4\.zip', 'file5\.zip'\]"
                      r" in \d+\.\d\d s \(serial \d+\.\d\d s\)",
                      r"serial:              148933 primes in \d+\.\d\d s",
                      r"ProcessPoolExecutor: 148933 primes in \d+\.\d\d s, speedup \d+\.\d\dx",
                      r"Pool\.map:            148933 primes in \d+\.\d\d s, speedup \d+\.\d\dx",
                      r"Pool\.imap_unordered: 148933 primes in \d+\.\d\d s, speedup \d+\.\d\dx"),
    # The extras beside the tutorial programs.
    "cpu_bound_pool": matching(r"1 thread: 148933 primes in \d+\.\d\d s",
                               r"pool:     148933 primes in \d+\.\d\d s, 20 chunks",
                               r"speedup: \d+\.\d\dx on \d+ CPUs"),
    "mp_manager": any_order("{'1': '1', '2': '2', '0.25': 'None'}", "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]"),
}


def main():
    name, command = sys.argv[1], sys.argv[2:]
    if name not in CHECKS:
        print(f"check_output.py: no checker for the seed {name!r}: add one to CHECKS")
        return 1
    try:
        run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=50)
    except subprocess.TimeoutExpired as timeout:
        print(timeout.stdout.decode() if timeout.stdout else "", end="")
        print(f"\ncheck_output.py: {name}: still running after {timeout.timeout} s")
        return 1
    print(run.stdout, end="")
    try:
        expect(run.returncode == 0, f"exit code {run.returncode}")
        CHECKS[name](run.stdout.splitlines())
    except Mismatch as problem:
        print(f"\ncheck_output.py: {name}: {problem}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
