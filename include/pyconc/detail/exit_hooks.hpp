// Work to do when the program exits normally, before non-daemon threads are joined
// (Python's threading._register_atexit): executors use it to stop their idle workers.
#pragma once

#include <cstdint>
#include <functional>

namespace pyconc::detail {

/// Runs `hook` at normal program exit (main returns or exit() is called), before the
/// non-daemon threads are joined; hooks run in reverse order of registration. Returns
/// an id for unregister_exit_hook().
std::uint64_t register_exit_hook(std::function<void()> hook);
/// Forgets a hook (its owner went away first). Unknown ids are ignored.
void unregister_exit_hook(std::uint64_t id);

/// Does now what normal exit does: runs the exit hooks, then joins the non-daemon
/// threads (a multiprocessing child, before it _exit()s).
void run_exit_handlers();

/// In a child made by fork(), before anything else: forgets the parent's threads, exit
/// hooks and thread-registry locks; the calling thread becomes the main thread.
void threading_after_fork_in_child();

}  // namespace pyconc::detail
