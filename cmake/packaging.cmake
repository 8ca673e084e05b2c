# `cpack -G DEB` in a build tree: a Debian package of the installed tree (headers, the
# libraries, the CMake package and pyconc.pc). `make test-package` builds one from a
# shared-library build configured with CMAKE_INSTALL_PREFIX=/usr, installs it with apt,
# builds programs against it and purges it (tools/test_package.sh).
#
# One package, "pyconc", for development: pyconc is used by compiling against its
# headers, so the headers, the libraries and the link files travel together (Debian
# splits a library into libfoo<soversion> and libfoo-dev when other packages link against
# it; there are none yet).
set(CPACK_PACKAGE_NAME pyconc)
set(CPACK_PACKAGE_VENDOR "pyconc")
# The Maintainer field: a placeholder address (.invalid is reserved) until the project has
# one; a packager sets their own with -DPYCONC_PACKAGE_MAINTAINER="Name <address>".
set(PYCONC_PACKAGE_MAINTAINER "pyconc maintainers <maintainers@pyconc.invalid>" CACHE STRING
    "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${PYCONC_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION
  "Python's threading, queue, concurrent.futures, pickle and multiprocessing modules as a C++20 library for Linux: headers, libraries, CMake package (find_package(pyconc)) and pkg-config file (pyconc.pc).")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# The package installs where the build was configured to: configure with
# -DCMAKE_INSTALL_PREFIX=/usr for a Debian package (GNUInstallDirs then picks the
# multiarch libdir, lib/x86_64-linux-gnu, and pyconc.pc gets absolute paths).
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # pyconc_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# The run-time dependencies of the shared libraries (libc6, libstdc++6, libgcc-s1, libssl3
# for libcrypto) come from dpkg-shlibdeps (Debian dpkg-dev). The headers need more, named
# here: cereal (the pickle headers include it), OpenSSL's development files
# (pyconcConfig.cmake's find_dependency(OpenSSL), pyconc.pc's libcrypto; for a static
# build also the library to link), and a C++20 compiler.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcereal-dev (>= 1.3), libssl-dev (>= 3)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "g++ (>= 4:12) | clang (>= 1:14), cmake (>= 3.21), pkg-config")
# A shlibs file, so that packages built against this one depend on it, and postinst/postrm
# scripts that run ldconfig, so that the loader's cache follows the libraries.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_GENERATOR DEB)
include(CPack)
