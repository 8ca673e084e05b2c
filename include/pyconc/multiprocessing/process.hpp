// multiprocessing.Process and the module-level process functions.
#pragma once

#include <concepts>
#include <cstddef>
#include <typeinfo>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyconc/detail/timeout.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/process_subclass.hpp"
#include "pyconc/multiprocessing/detail/process_target.hpp"

namespace pyconc::multiprocessing {

class Context;

namespace detail {
struct ProcessState;
struct ProcessAccess;
}  // namespace detail

/// Process's keyword options (Python: Process(name=..., daemon=...)).
struct ProcessOptions {
  /// Default "Process-N" ("Process-1:N" in a child of Process-1), N counting from 1.
  std::optional<std::string> name;
  /// Default: the daemon flag of the calling process (false in the main process).
  std::optional<bool> daemon;
};

/// A child process (Python's multiprocessing.Process): give it a target and arguments,
/// or derive from it and override run(); start() launches it, join() waits for it.
///
///     void f(std::string who) { std::printf("hello %s\n", who.c_str()); }
///     multiprocessing::Process p(f, std::string("bob"));   // Process(target=f, args=("bob",))
///     p.start();
///     p.join();
///     // p.exitcode() == 0
///
/// The target runs in the child with copies of the arguments. It must be *transferable*
/// (docs/conventions.md, "Callables across processes"): a function pointer, a
/// captureless lambda / stateless function object, or a serialisable function object;
/// the arguments must be picklable. A capturing
/// lambda does not compile (pass the captured values as arguments instead). The child
/// ends with exit code 0 when the target returns, 1 when it throws (after printing
/// "Process NAME:" and the exception to stderr), n after exit(n); exitcode() is -N when
/// a signal N killed it. Before it _exit()s, the child joins its own non-daemon threads
/// and children and flushes stdio.
///
/// Authentication key (Python's Process.authkey): the main process gets 32 random bytes;
/// a new Process copies current_process().authkey(), set_authkey() may replace it, and
/// the child's current_process().authkey() is the key its Process had at start() (so
/// grandchildren inherit it): the family's shared secret (Python's managers and
/// listeners default to it).
///
/// Lifetime: the child does not depend on the handle; dropping it stops nothing. A child
/// dies when its parent process dies (SIGKILL via PR_SET_PDEATHSIG). At normal exit of the
/// parent, daemon children are terminated and then every child is joined (reaped).
///
/// Errors (Python's): start() twice, start() of a Process made in another process,
/// join() before start() or by another process, set_daemon() after start(), a daemonic
/// process starting children → RuntimeError (Python's AssertionError); any call but
/// name()/daemon() after close() → ValueError; close() of a running process → ValueError;
/// sentinel() before start() → ValueError.
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: under fork, the child sees the parent's memory as at start().
/// Nothing is shared afterwards except through process-shared objects.
///
/// Differences from Python: exitcode(), pid() and ident() return std::optional (None).
/// join(timeout) returns true when the process has finished. terminate()/kill() before
/// start() raise RuntimeError (Python: AttributeError). sentinel() is a pidfd (pollable,
/// POLLIN once the child ended; not readable with read()). authkey() is a plain
/// std::vector<std::byte> (Python's AuthenticationString refuses pickling outside
/// spawning; ours is plain bytes). Movable, not copyable; moving a started subclass
/// object is fine (the child runs its own copy).
class Process {
 public:
  /// For subclasses that override run().
  Process();
  explicit Process(ProcessOptions options);

  /// Process(target=f, args=(args...)).
  template <class F, class... Args>
    requires(!std::same_as<std::decay_t<F>, ProcessOptions> &&
             std::invocable<std::decay_t<F>, std::decay_t<Args>...>)
  explicit Process(F&& target, Args&&... args)
      : Process(ProcessOptions{}, std::forward<F>(target), std::forward<Args>(args)...) {}

  /// Process(target=f, args=(args...), name=..., daemon=...).
  template <class F, class... Args>
    requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  Process(ProcessOptions options, F&& target, Args&&... args) : Process(std::move(options)) {
    using Fn = std::conditional_t<std::is_function_v<std::remove_cvref_t<F>>,
                                  std::add_pointer_t<std::remove_cvref_t<F>>, std::decay_t<F>>;
    constexpr bool transferable = detail::transferable_v<Fn>;
    constexpr bool picklable_args = (detail::picklable_v<std::decay_t<Args>> && ...);
    static_assert(transferable,
                  "pyconc::multiprocessing::Process: the target cannot be sent to another process "
                  "(docs/conventions.md, \"Callables across processes\"). A capturing lambda "
                  "cannot cross a process boundary: pass the captured values as arguments, "
                  "Process(f, args...), or use a function, a captureless lambda, or a "
                  "serialisable function object.");
    static_assert(picklable_args,
                  "pyconc::multiprocessing::Process: every argument must be picklable "
                  "(pyconc::pickle::dumps must accept it): use values (numbers, strings, "
                  "standard containers, pyconc handles) or give the type a cereal serialize().");
    if constexpr (transferable && picklable_args)
      set_target(std::make_unique<detail::TargetOf<Fn, std::decay_t<Args>...>>(std::forward<F>(target),
                                                                               std::forward<Args>(args)...));
  }

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  virtual ~Process();

  /// Launches the child with the start method of this process's context (the global
  /// default for a plain Process). Returns once the child exists (under spawn and
  /// forkserver: once it has loaded its arguments).
  void start();
  /// The process's activity: calls the target. Override it in a subclass.
  virtual void run();
  /// Waits until the child has ended.
  void join();
  /// Waits at most `timeout` (negative: not at all); true when the child has ended
  /// (Python returns None: check exitcode()).
  bool join(Seconds timeout);
  /// From start() until the child has ended. True for current_process().
  bool is_alive() const;
  /// nullopt while running or before start; 0, the exit code, or -N for signal N.
  std::optional<int> exitcode() const;
  /// The child's pid; nullopt before start.
  std::optional<int> pid() const;
  /// Same as pid().
  std::optional<int> ident() const { return pid(); }
  std::string name() const;
  void set_name(std::string name);
  /// Python's authkey: this process's key (a copy). Also valid after close(); empty for
  /// parent_process().
  std::vector<std::byte> authkey() const;
  /// Replaces the key. Allowed at any time (as in Python); it only affects what a child
  /// started afterwards receives, and, for current_process(), what new Process objects copy.
  void set_authkey(std::vector<std::byte> key);
  bool daemon() const;
  /// RuntimeError once started.
  void set_daemon(bool daemonic);
  /// Sends SIGTERM (nothing when the child has already ended).
  void terminate();
  /// Sends SIGKILL (nothing when the child has already ended).
  void kill();
  /// Releases the handle's resources (the sentinel); ValueError while the child runs.
  /// Later calls other than name()/daemon()/close() raise ValueError.
  void close();
  /// An fd that polls readable (POLLIN) once the child has ended (a pidfd), owned by the
  /// Process (valid until close()). ValueError before start().
  int sentinel() const;

  /// The same process (Python's `is`).
  friend bool operator==(const Process& a, const Process& b) noexcept { return a.state_ == b.state_; }

 private:
  friend struct detail::ProcessAccess;
  friend class Context;
  struct AliasTag {};
  Process(std::shared_ptr<detail::ProcessState> state, AliasTag) noexcept;
  void set_target(std::unique_ptr<detail::ProcessTarget> target);
  void set_start_method(const std::string& method);
  detail::ProcessState& state_ref() const;

  std::shared_ptr<detail::ProcessState> state_;
};

#define PYCONC_PROCESS_CONCAT_(a, b) a##b
#define PYCONC_PROCESS_CONCAT(a, b) PYCONC_PROCESS_CONCAT_(a, b)
/// Makes a Process subclass startable under spawn and forkserver (write it at namespace
/// scope, after the class). The child builds the object once: when the class has a
/// cereal serialize()/save()/load(), it loads the members the parent saved into a blank
/// (built from `pickle::for_loading` if the class has such a constructor, else default-
/// constructed: give it one when its members are handles, so that the child attaches to
/// the parent's objects without creating its own first); otherwise it default-constructs
/// it. Then it calls run(). Under fork no registration is needed.
#define PYCONC_REGISTER_PROCESS(T)                                                   \
  [[maybe_unused]] static const bool PYCONC_PROCESS_CONCAT(pyconc_registered_process_, \
                                                           __COUNTER__) =           \
      ::pyconc::multiprocessing::detail::register_process_type<T>()

/// This process's Process object: "MainProcess" in the program started by the user, the
/// Process that was started in a child. Valid for the life of the process.
Process& current_process();
/// The parent of this process (name, pid, is_alive(), join(timeout)); nullopt in the main
/// process.
std::optional<Process> parent_process();
/// Handles to the children of this process still running; finished ones are reaped
/// (joined) as a side effect, as Python does.
std::vector<Process> active_children();
/// The number of CPUs this process may run on (sched_getaffinity), at least 1.
/// Python's multiprocessing.cpu_count() counts every CPU of the machine; pyconc counts
/// those the process may use (Python 3.13's os.process_cpu_count()), which is what a pool
/// size should follow.
int cpu_count();

/// The first line of main() in a program that uses the spawn or forkserver start method
/// (the twin of Python's `if __name__ == "__main__":` guard plus freeze_support()): in
/// a spawned child it runs the child's work and never returns; in the parent it returns
/// at once.
void freeze_support(int argc, char** argv);

}  // namespace pyconc::multiprocessing
