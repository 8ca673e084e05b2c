// What spawn and forkserver share: the launch record a new program receives, and the
// child's bootstrap.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "pyconc/multiprocessing/detail/process_target.hpp"
#include "process_internal.hpp"

namespace pyconc::multiprocessing::detail {

/// Everything a spawn or forkserver child needs to become the Process.
struct LaunchRecord {
  CodeAddress entry;               // child_main<F, Args...>, subclass_main<T> or the no-op
  std::vector<std::byte> payload;  // for the entry
  std::string name;
  bool daemon = false;
  std::vector<int> identity;
  std::vector<std::byte> authkey;  // the child's current_process().authkey()
  int family_pid = 0;
  int parent_pid = 0;
  std::string parent_name;
  std::optional<std::string> default_method;
  std::vector<int> fds;  // spawn: the inherited fds that travel, in export order

  template <class Archive>
  void serialize(Archive& ar) {
    ar(entry, payload, name, daemon, identity, authkey, family_pid, parent_pid, parent_name, default_method, fds);
  }
};

/// The record of `st` (its entry and pickled target); the fds its arguments export.
LaunchRecord prepare_launch(ProcessState& st);

/// The child's side: installs the tables, loads the target (fds from `fds`), acks on
/// `ack_fd` ('A'; 'E' + message when loading failed), runs it, exits.
[[noreturn]] void run_launched_child(LaunchRecord record, std::vector<int> fds, int ack_fd);

/// What the parent learnt from the child's ack pipe.
struct AckResult {
  enum Kind { ok, no_freeze_support, error, exited } kind = exited;
  std::string message;
};
/// Waits for the child's ack on `ack_fd` while watching `pidfd`.
AckResult wait_ack(int ack_fd, int pidfd);
/// The ProcessError for a failed ack (`code`: the child's exit code, if known).
[[noreturn]] void raise_launch_error(const AckResult& ack, std::optional<int> code, const std::string& method);

/// A launched child whose ack failed: killed unless it has ended, reaped, its pidfd
/// closed; its exit code. It ended (or will, being told nothing more).
int reap_failed_launch(int pid, int pidfd);

/// Fork (from the launcher thread) and exec /proc/self/exe with the same arguments and
/// `extra_env`; the fds in `keep` stay open in the new program, all others are closed.
/// Returns the pid (its pidfd in *pidfd_out).
int fork_exec_self(const std::vector<std::string>& extra_env, const std::vector<int>& keep, int* pidfd_out);

/// The fork server's loop (in the server program, from freeze_support).
[[noreturn]] void run_forkserver(int sock);
/// In a fork child: forget the parent's fork server connection.
void forkserver_forget_in_child();

}  // namespace pyconc::multiprocessing::detail
