#!/usr/bin/env python3
"""Fails when a file of one pyconc module includes a header of a higher layer.

    tools/check_layers.py [ROOT]      check the tree at ROOT (default: this repository)
    tools/check_layers.py --self-test check that the checker catches an upward include

A file belongs to the module named by its path:
    include/pyconc/<module>.hpp, include/pyconc/<module>/..., src/<module>/...,
    tests/<module>/...; the shared core (include/pyconc/detail/, include/pyconc/errors.hpp,
    the files directly in src/ and tests/) belongs to the lowest layer, threading.
An include names a header either from the include root ("pyconc/queue/queue.hpp") or
relative to the including file, tests/ or src/ ("support.hpp", "queue/held_move.hpp");
headers outside the tree (the standard library, gtest, cereal) are not checked.
A module may include its own files and those of every module below it in LAYERS.
ctest runs this as layers.includes (and the self-test as layers.self_test).
"""
import os
import re
import sys
import tempfile

# module: the modules it sits on directly (it may include everything below them too).
# A new module is one line here.
LAYERS = {
    "threading": [],
    "queue": ["threading"],
    "futures": ["queue"],
    "pickle": ["futures"],
    "multiprocessing": ["pickle"],
    "asyncio": ["futures"],
    "mpi": ["futures", "pickle"],
}
CORE = "threading"  # include/pyconc/detail/, errors.hpp, src/*.cpp, tests/*.hpp
SCANNED = ("include/pyconc", "src", "tests")
SKIPPED = ("tests/consumer/", "tests/pkgconfig/")  # programs of a user: they may include everything
SOURCE_SUFFIXES = (".hpp", ".h", ".cpp", ".cc", ".ipp")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def below(module):
    """The modules `module` may include: itself and everything under it."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(LAYERS[m])
    return seen


def module_of(rel):
    """The module a repository-relative path belongs to, or None when outside the layers."""
    parts = rel.split("/")
    if parts[:2] == ["include", "pyconc"]:
        rest = parts[2:]
        if rest[0] == "detail" or rest == ["errors.hpp"]:
            return CORE
        if len(rest) == 1:  # an umbrella header: include/pyconc/<module>.hpp
            return os.path.splitext(rest[0])[0]
        return rest[0]
    if parts[0] in ("src", "tests"):
        if len(parts) == 2:
            return CORE
        return parts[1]
    return None


def resolve(root, rel, name):
    """The repository-relative path of the header `name` included from `rel`, or None."""
    candidates = [os.path.join(os.path.dirname(rel), name), os.path.join("include", name)]
    if rel.startswith("tests/"):
        candidates.append(os.path.join("tests", name))
    if rel.startswith("src/"):
        candidates.append(os.path.join("src", name))
    for c in candidates:
        c = os.path.normpath(c)
        if os.path.isfile(os.path.join(root, c)):
            return c
    if name.startswith("pyconc/"):  # a pyconc header that does not exist: judge by its name
        return os.path.join("include", name)
    return None


def check(root):
    """Returns the list of violations (strings) in the tree at root."""
    problems = []
    for top in SCANNED:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for filename in sorted(filenames):
                if not filename.endswith(SOURCE_SUFFIXES):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, filename), root)
                if rel.startswith(SKIPPED):
                    continue
                module = module_of(rel)
                if module not in LAYERS:
                    problems.append(f"{rel}: module '{module}' is not in the LAYERS table of {sys.argv[0]}")
                    continue
                allowed = below(module)
                with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = resolve(root, rel, m.group(1))
                        if target is None:
                            continue
                        used = module_of(target)
                        if used is not None and used not in allowed:
                            problems.append(f"{rel}:{lineno}: {module} includes {m.group(1)} "
                                            f"({used}, a higher layer or a sibling)")
    return problems


def self_test():
    """A fake tree: clean, it passes; with one upward include, it fails naming that line."""
    files = {
        "include/pyconc/detail/futex.hpp": "#pragma once\n",
        "include/pyconc/threading/lock.hpp": '#include "pyconc/detail/futex.hpp"\n',
        "include/pyconc/queue/queue.hpp": "#include <pyconc/threading/lock.hpp>\n#include <vector>\n",
        "include/pyconc/futures/future.hpp": '#include "pyconc/queue/queue.hpp"\n',
        "include/pyconc/futures.hpp": '#include "pyconc/futures/future.hpp"\n',
        "src/futures/pool.cpp": '#include "pyconc/futures.hpp"\n#include "work.hpp"\n',
        "src/futures/work.hpp": '#include "pyconc/queue/queue.hpp"\n',
        "tests/support.hpp": "#include <thread>\n",
        "tests/queue/helper.hpp": '#include "support.hpp"\n',
        "tests/queue/test_queue.cpp": '#include "queue/helper.hpp"\n#include <pyconc/queue/queue.hpp>\n',
    }
    # Each case: files written over the clean tree, and the file whose include must be reported.
    upward = [
        ({"include/pyconc/queue/queue.hpp": "#include <pyconc/futures/future.hpp>\n"},
         "include/pyconc/queue/queue.hpp"),
        ({"include/pyconc/detail/futex.hpp": '#include "pyconc/queue.hpp"\n'},  # core -> umbrella
         "include/pyconc/detail/futex.hpp"),
        ({"src/futures/work.hpp": '#include "pyconc/multiprocessing/process.hpp"\n'},  # judged by name
         "src/futures/work.hpp"),
        ({"tests/support.hpp": '#include "queue/helper.hpp"\n'},  # relative, into tests/queue
         "tests/support.hpp"),
        ({"tests/queue/test_queue.cpp": '#include "futures/helper.hpp"\n', "tests/futures/helper.hpp": "\n"},
         "tests/queue/test_queue.cpp"),
        ({"include/pyconc/pickle/archive.hpp": '#include "pyconc/mpi/comm.hpp"\n'},
         "include/pyconc/pickle/archive.hpp"),
        ({"include/pyconc/asyncio/loop.hpp": '#include "pyconc/pickle.hpp"\n'},  # a sibling
         "include/pyconc/asyncio/loop.hpp"),
        ({"include/pyconc/sockets/socket.hpp": "\n"}, "include/pyconc/sockets/socket.hpp"),  # no layer
    ]

    def tree(dir, contents):
        for rel, text in contents.items():
            path = os.path.join(dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)

    ok = True
    with tempfile.TemporaryDirectory() as clean:
        tree(clean, files)
        if check(clean):
            print("self-test: a clean tree was reported:", *check(clean), sep="\n  ")
            ok = False
    for overlay, rel in upward:
        with tempfile.TemporaryDirectory() as bad:
            tree(bad, files)
            tree(bad, overlay)
            problems = check(bad)
            if not any(p.startswith(rel + ":") for p in problems):
                print(f"self-test: the upward include in {rel} was not reported")
                ok = False
    print("self-test:", "passed" if ok else "FAILED")
    return ok


def main(argv):
    if argv[1:] == ["--self-test"]:
        return 0 if self_test() else 1
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} include(s) reach up a layer; layers: "
              + ", ".join(f"{m} on {'+'.join(on) or 'nothing'}" for m, on in LAYERS.items()))
        return 1
    print("layers: no include reaches up a layer")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
