# pyconc — the two commands of README.md, and a few more.
#
#   make demo    install what is missing, build (demo preset), run the ported Python programs
#   make test    install what is missing, build and run every test suite:
#                g++ release, clang ThreadSanitizer, g++ ASan+UBSan, clang -Wthread-safety,
#                and the Debian package (built, installed, used, removed)
#   make bench   install what is missing, build (release), run every benchmark workload
#                for pyconc, Python and the C++ peers (QUICK=1: a short smoke run;
#                ONLY="pool_map pool_start": only the workloads named)
#
# Each target installs the Debian packages it needs (apt-get, as root; sudo otherwise).

SHELL := /bin/bash
JOBS ?= $(shell nproc)

# pkg-config: the pyconc.pc tests; dpkg-dev (dpkg-shlibdeps) and file: cpack's Depends.
DEPS_BUILD := cmake ninja-build g++ clang libclang-rt-14-dev libgtest-dev python3 libcurl4-openssl-dev libcereal-dev libssl-dev \
              pkg-config dpkg-dev file
DEPS_BENCH := libbenchmark-dev libabsl-dev libtbb-dev libasio-dev libconcurrentqueue-dev python3-matplotlib wrk python3-uvloop python3-joblib
# Python of the benchmarks: Debian's, which sees Debian's python3-matplotlib.
PYTHON := /usr/bin/python3

QUICK ?=

.PHONY: all deps demo bench test test-release test-tsan test-asan test-thread-safety test-package test-dev clean

all: demo

# Installs the Debian packages in $(PKGS) that are missing.
define install_missing
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call install_missing,$(DEPS_BUILD) $(DEPS_BENCH))

# What make demo needs: the library (cereal, OpenSSL), libcurl for the web examples,
# python3 for the demo's optional comparison with Python.
DEPS_DEMO := cmake ninja-build g++ libcereal-dev libssl-dev libcurl4-openssl-dev python3

demo:
	$(call install_missing,$(DEPS_DEMO))
	cmake --preset demo >/dev/null
	cmake --build --preset demo -j $(JOBS) --target pyconc_demo
	./build/demo/examples/pyconc_demo

bench: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	$(PYTHON) bench/run.py --bin build/release/bench $(if $(QUICK),--quick) $(if $(ONLY),--only $(ONLY))

test: deps test-release test-tsan test-asan test-thread-safety test-package
	@echo "make test: all suites passed (release, tsan, asan+ubsan, thread-safety, package)"

define run_suite
	cmake --preset $(1) >/dev/null
	cmake --build --preset $(1) -j $(JOBS)
	ctest --preset $(1)
endef

test-release: deps
	$(call run_suite,release)

test-tsan: deps
	$(call run_suite,tsan)

test-asan: deps
	$(call run_suite,asan)

test-dev: deps
	$(call run_suite,dev)

# Compile-only: clang's thread-safety analysis over the library, tests and benchmarks;
# then pickle's libFuzzer target runs for 30 s (built in this clang configuration).
test-thread-safety: deps
	cmake --preset thread-safety >/dev/null
	cmake --build --preset thread-safety -j $(JOBS)
	ctest --test-dir build/thread-safety -R '^pickle\.fuzz_loads$$' --output-on-failure

# The Debian package: a shared release build of the libraries, `cpack -G DEB`, installed
# with apt-get, the find_package and pkg-config programs built and run against it, removed.
test-package: deps
	JOBS=$(JOBS) tools/test_package.sh

clean:
	rm -rf build
