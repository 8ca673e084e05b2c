// Internals shared by the Process sources (process*.cpp), the start methods and the
// contexts, grouped by the source that defines them.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/timeout.hpp"
#include "pyconc/multiprocessing/process.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::multiprocessing::detail {

enum class Role {
  child,    // a Process made here (started or not)
  current,  // current_process()
  parent,   // parent_process()
};

struct ProcessState {
  ProcessState(Role r, std::string n, bool d);
  ~ProcessState();
  ProcessState(const ProcessState&) = delete;
  ProcessState& operator=(const ProcessState&) = delete;

  const Role role;
  mutable threading::Lock mutex;
  std::string name PYCONC_GUARDED_BY(mutex);
  std::atomic<bool> daemon;
  std::vector<int> identity;               // (1, 2) names "Process-1:2"; set before start
  int creator_pid = 0;                     // the process that made this object
  std::optional<std::string> method;       // the context's start method; nullopt: default
  std::unique_ptr<ProcessTarget> target;   // Process(target, args...)
  Process* self = nullptr;                 // a subclass object, during start()
  std::atomic<bool> started{false};
  std::atomic<bool> closed{false};
  std::atomic<int> pid{0};
  std::atomic<int> pidfd{-1};              // the sentinel
  std::atomic<int> status_fd{-1};          // forkserver: the server writes the wait status here
  std::optional<int> returncode PYCONC_GUARDED_BY(mutex);
  // Python's Process.authkey: a copy of the creator's current_process() key; what the
  // child's current_process() holds. 32 random bytes in the main process.
  std::vector<std::byte> authkey PYCONC_GUARDED_BY(mutex);
};

struct ProcessAccess {
  static Process alias(std::shared_ptr<ProcessState> st) { return Process(std::move(st), Process::AliasTag{}); }
  static ProcessState& state(const Process& p) { return p.state_ref(); }
  static void set_state(Process& p, std::shared_ptr<ProcessState> st) { p.state_ = std::move(st); }
};

// ---- the tables (process_tables.cpp) ----

Process& current_alias();
std::shared_ptr<ProcessState> current_state();
std::shared_ptr<ProcessState> parent_state();
/// Records a started child (and, the first time, the exit work that joins children).
void add_child(const std::shared_ptr<ProcessState>& st);
/// The children table lets go of a reaped child.
void forget_child(int pid);
std::vector<std::shared_ptr<ProcessState>> children_snapshot();
std::string next_default_name(std::vector<int>& identity_out);
/// In a child (fork, spawn, forkserver): fresh tables; this process is `name` with key
/// `authkey`, its parent is `parent_pid` named `parent_name`.
void install_child_tables(std::string name, bool daemon, std::vector<int> identity, std::vector<std::byte> authkey,
                          int parent_pid, std::string parent_name);
/// In a fork child: keeps what the parent's tables pointed at reachable (for
/// LeakSanitizer) once the child has replaced it.
void keep_reachable(void* p);

// ---- the launcher thread (process_launcher.cpp) ----

/// Runs `job` on this process's launcher thread and waits for it.
void run_in_launcher(std::function<void()>& job);
/// Forks from the launcher thread (stdio flushed first). The child dies with this
/// process (PR_SET_PDEATHSIG), gets the caller's signal mask back and runs `in_child`,
/// which must exec or exit. Returns the child's pid, its pidfd in *pidfd_out; OSError
/// when fork or pidfd_open fails (the child is then killed and reaped).
int fork_child(const std::function<void()>& in_child, int* pidfd_out);
/// pidfd_open(pid): -1 with errno on failure.
int open_pidfd(int pid) noexcept;
/// In a child: the parent's launcher thread is not here; a new one starts on demand.
void launcher_forget_in_child();

// ---- reaping (process_reaping.cpp) ----

/// Reaps the child when it has ended; its exit code, or nullopt while it runs.
std::optional<int> poll_state(ProcessState& st);
/// Waits until the child has ended or `deadline`; true when it has ended.
bool wait_state(ProcessState& st, const pyconc::detail::Deadline& deadline);
/// Sends `sig` unless the child was reaped already.
void signal_state(ProcessState& st, int sig);
void reap_finished_children();
/// The exit work of the process (Python's _exit_function): daemonic children are
/// terminated, then every child is joined.
void join_children_at_exit();
int decode_status(int status);

// ---- launching, by start method ----

/// Launches `st` with its start method; sets pid and pidfd (context.cpp).
void launch(ProcessState& st);
/// The start methods (process_fork.cpp, spawn.cpp, forkserver.cpp).
void launch_fork(ProcessState& st);
void launch_spawn(ProcessState& st);
void launch_forkserver(ProcessState& st);
/// In a spawned child whose main() did not call freeze_support(): report it to the
/// parent and _exit (called by start()).
void check_bootstrap();
/// The wait status the fork server reported, decoded; nullopt when not there yet.
std::optional<int> read_forkserver_status(ProcessState& st, bool block);
/// Reads /proc/self/cmdline.
std::vector<std::string> own_argv();

// ---- the child's life (process_child.cpp) ----

/// In a child: runs the Process's activity; its exit code (1 after an exception, which
/// is reported to stderr).
int child_run(ProcessState& st);
/// An on_exit() handler for children: exit(n) becomes child_finish(n).
void exit_in_child(int status, void*);
/// In a child: the exit work (threads, children), flush, _exit(code).
[[noreturn]] void child_finish(int code);

/// The start method a Process with `st` uses.
std::string start_method_of(const ProcessState& st);

}  // namespace pyconc::multiprocessing::detail
