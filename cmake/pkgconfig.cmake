# pyconc.pc: `pkg-config --cflags --libs pyconc` gives what a program needs to build against
# an installed pyconc; installed to <libdir>/pkgconfig.
#
# - Cflags carry -std=c++20: the headers are C++20 (concepts, designated initializers),
#   and pkg-config has no other way to say so. A program built as C++23 puts its own -std
#   after pkg-config's (the last -std wins). -pthread: the headers use std::thread.
# - Libs list the libraries in link order, highest layer first.
# - The libraries pyconc uses privately: libcrypto (OpenSSL, the Listener's HMAC; its own
#   libcrypto.pc from libssl-dev), libdl and the threads library. A shared library names
#   them itself (DT_NEEDED), so they are Requires.private/Libs.private, which pkg-config
#   adds for `--static` only. A static library cannot name them, so a static build puts
#   them in Requires/Libs: a plain `pkg-config --libs pyconc` then links either way.
# - cereal (the pickle headers) is header-only and installs to /usr/include: no flags.
# - prefix: under /usr (a distribution's package) the paths are absolute; under any other
#   prefix they are relative to the .pc file (${pcfiledir}), so that an installed tree can
#   be moved (a staging prefix, DESTDIR) and stay right.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(PYCONC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(PYCONC_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
else()
  file(RELATIVE_PATH _up "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" _up "${_up}")
  set(PYCONC_PC_PREFIX "\${pcfiledir}/${_up}")
  set(PYCONC_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(PYCONC_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  set(PYCONC_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
if(CMAKE_DL_LIBS)
  set(_private "-pthread -l${CMAKE_DL_LIBS}")
else()
  set(_private "-pthread")
endif()
if(BUILD_SHARED_LIBS)
  set(PYCONC_PC_REQUIRES "Requires.private: libcrypto")
  set(PYCONC_PC_LIBS "")
  set(PYCONC_PC_LIBS_PRIVATE "Libs.private: ${_private}")
else()
  set(PYCONC_PC_REQUIRES "Requires: libcrypto")
  set(PYCONC_PC_LIBS " ${_private}")
  set(PYCONC_PC_LIBS_PRIVATE "")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/pyconc.pc.in ${PROJECT_BINARY_DIR}/pyconc.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/pyconc.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
