#!/usr/bin/env bash
# make test-package: the Debian package, as a user gets it.
#
#   1. a release build of the shared libraries only (no tests, examples or benchmarks),
#      installed under /usr; its sonames and exports checked (tools/check_exports.py);
#   2. `cpack -G DEB`: build/package/pyconc_<version>_<arch>.deb; its fields shown;
#   3. `apt-get install ./pyconc_*.deb` (apt resolves the Depends);
#   4. tests/consumer built with find_package(pyconc), and tests/pkgconfig/main.cpp with
#      `pkg-config --cflags --libs pyconc`, against the installed package, and run;
#   5. the package purged (also when a step fails), leaving the machine as it was.
# Needs root (or sudo) for apt-get, like the Makefile's other targets.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/package
jobs=${JOBS:-$(nproc)}
cxx=${CXX:-g++}
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
apt_get() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 "$@"; }
installed() { dpkg-query -W -f='${Status}' pyconc 2>/dev/null | grep -q "ok installed"; }

if installed; then
  echo "test-package: a pyconc package is installed already; remove it first (apt-get purge pyconc)" >&2
  exit 1
fi

echo "== 1. shared libraries (release, prefix /usr)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
      -DPYCONC_WERROR=ON -DBUILD_SHARED_LIBS=ON -DCMAKE_INSTALL_PREFIX=/usr \
      -DPYCONC_BUILD_TESTS=OFF -DPYCONC_BUILD_EXAMPLES=OFF -DPYCONC_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$jobs"
cmake --build "$build" --target pyconc_check_exports

echo "== 2. cpack -G DEB"
rm -f "$build"/pyconc_*.deb
(cd "$build" && cpack -G DEB >/dev/null)
debs=("$build"/pyconc_*.deb)
deb=${debs[0]}
dpkg-deb --field "$deb" Package Version Architecture Maintainer Depends Recommends Section
dpkg-deb --contents "$deb" | awk '{print $6, $7, $8}' | grep -E '\.so|\.pc|cmake/pyconc/|include/pyconc/threading.hpp'
depends=$(dpkg-deb --field "$deb" Depends)
for need in libc6 libstdc++6 libssl3 libcereal-dev libssl-dev; do
  if ! grep -q "\b$need\b" <<<"$depends"; then
    echo "test-package: Depends lacks $need: $depends" >&2
    exit 1
  fi
done

echo "== 3. apt-get install $deb"
trap 'echo "== 5. apt-get purge pyconc"; apt_get purge -y -qq pyconc >/dev/null || true' EXIT
apt_get install -y -qq "$deb" >/dev/null
installed
ls -l /usr/lib/*/libpyconc_threading.so* /usr/lib/*/pkgconfig/pyconc.pc

echo "== 4. programs built against the installed package"
rm -rf "$build/consumer" "$build/pkgconfig"
cmake -S "$root/tests/consumer" -B "$build/consumer" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
cmake --build "$build/consumer"
"$build/consumer/consumer"
cmake -DSOURCE="$root/tests/pkgconfig/main.cpp" -DWORK_DIR="$build/pkgconfig" -DCXX_COMPILER="$cxx" \
      -P "$root/tests/pkgconfig/run.cmake"

trap - EXIT
echo "== 5. apt-get purge pyconc"
apt_get purge -y -qq pyconc >/dev/null
if dpkg-query -W pyconc >/dev/null 2>&1 || [ -e /usr/include/pyconc ]; then
  echo "test-package: pyconc is still known to dpkg or installed" >&2
  exit 1
fi
echo "test-package: the .deb installs, programs build and run against it, and it is purged"
