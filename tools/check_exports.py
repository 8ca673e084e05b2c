#!/usr/bin/env python3
"""Checks pyconc's shared libraries: a versioned soname, and only pyconc's symbols exported.

    tools/check_exports.py --soversion 0.1 LIB.so... [--require SYMBOL]... [--header-only LIB.so]...

For each library: its SONAME is lib<name>.so.<soversion> (readelf -d) and a file of that
name sits beside it; every defined dynamic symbol (nm -D --defined-only, demangled by
c++filt) is a C++ name of namespace pyconc, or the typeinfo, vtable, guard variable,
thread-local wrapper or thunk of one (src/exports.map); no std::, cereal or C helper is
exported. The symbols given with --require (demangled) must be exported by one of the
libraries: the pyconc::detail functions that header-inline code calls.
ctest runs it in a BUILD_SHARED_LIBS build as shared.exports; tools/test_package.sh on the
libraries that go into the .deb.
"""
import argparse
import os
import re
import subprocess
import sys

ALLOWED = re.compile(
    r"^(?:pyconc::"
    r"|typeinfo for pyconc::|typeinfo name for pyconc::|vtable for pyconc::|VTT for pyconc::"
    r"|construction vtable for .*-in-pyconc::"
    r"|guard variable for pyconc::|TLS init function for pyconc::|TLS wrapper function for pyconc::"
    r"|(?:non-)?virtual thunk to pyconc::)")

# Functions the headers' inline code calls: they must stay exported.
REQUIRED = [
    "pyconc::detail::small_allocate(unsigned long)",
    "pyconc::detail::futex_wake_all(std::atomic<unsigned int>&, bool)",
]


def output(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def demangle(names):
    if not names:
        return []
    out = subprocess.run(["c++filt"], input="\n".join(names) + "\n", check=True, capture_output=True,
                         text=True).stdout
    return out.splitlines()


def check(path, soversion, header_only):
    problems = []
    name = os.path.basename(path)
    base = name[: name.index(".so") + 3]  # libpyconc_threading.so
    want = f"{base}.{soversion}"
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", output("readelf", "-d", path))
    soname = m.group(1) if m else None
    if soname != want:
        problems.append(f"{name}: soname {soname!r}, expected {want!r}")
    elif not os.path.exists(os.path.join(os.path.dirname(path), soname)):
        problems.append(f"{name}: no file {soname} beside it (the soname link)")
    mangled = [line.split()[-1] for line in output("nm", "-D", "--defined-only", path).splitlines()
               if line.strip()]
    exported = demangle(mangled)
    for sym in exported:
        if not ALLOWED.match(sym):
            problems.append(f"{name}: exports {sym}")
    if header_only:
        # A module whose code is all templates (queue): its library exists for the
        # layering and the link line, and exports nothing.
        if exported:
            problems.append(f"{name}: declared header-only, yet exports {len(exported)} symbols")
    elif not any(s.startswith("pyconc::") for s in exported):
        problems.append(f"{name}: exports no pyconc:: function (is it empty?)")
    return problems, exported


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--soversion", required=True)
    parser.add_argument("--require", action="append", default=[])
    parser.add_argument("--header-only", action="append", default=[],
                        help="a library (file name up to .so) whose module is all templates")
    parser.add_argument("libraries", nargs="+")
    args = parser.parse_args()
    problems, everything = [], set()
    for lib in args.libraries:
        base = os.path.basename(lib)
        p, exported = check(lib, args.soversion, base[: base.index(".so") + 3] in args.header_only)
        problems += p
        everything.update(exported)
        print(f"{os.path.basename(lib)}: {len(exported)} symbols exported, {len(p)} problem(s)")
    for sym in REQUIRED + args.require:
        if sym not in everything:
            problems.append(f"not exported: {sym}")
    for p in problems:
        print(p)
    if problems:
        return 1
    print("exports: sonames versioned, only pyconc's symbols exported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
