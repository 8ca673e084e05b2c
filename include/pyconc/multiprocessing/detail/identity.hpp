// Who this process is, and whether another one still lives: what every process-shared
// object of pyconc uses to record holders and to recover from a holder that died.
#pragma once

#include <cstdint>

namespace pyconc::multiprocessing::detail {

/// getpid() of the calling process, cached (right again in a child after fork()).
int self_pid() noexcept;

/// Whether process `pid` still runs: false once it has exited or was killed, even
/// while it is an unreaped zombie (pidfd_open + poll). `pid <= 0` is not alive.
/// A pid reused by an unrelated process after the first was reaped reads as alive.
bool process_alive(int pid) noexcept;

/// The pid of the first process of this family (the program that started it all).
/// Children started by fork inherit it; spawn and forkserver children receive it in
/// the environment variable PYCONC_MP_FAMILY (set by the launcher). It tags the names
/// of the /dev/shm segments the family creates, "pyconc-<family>-<random>", so a
/// leak check can find exactly its own.
int family_pid() noexcept;

/// Sets the family pid (a spawned child's bootstrap, before anything else runs).
void set_family_pid(int pid) noexcept;

/// File descriptors that pyconc's long-lived machinery keeps open for the life of the
/// program (the resource tracker's pipe, a fork server's socket): the test suites' fd
/// leak check skips them.
void register_machinery_fd(int fd) noexcept;
void unregister_machinery_fd(int fd) noexcept;
bool is_machinery_fd(int fd) noexcept;

/// 64 random bits from the kernel (getrandom), for unguessable names and keys.
std::uint64_t random_u64();

}  // namespace pyconc::multiprocessing::detail
