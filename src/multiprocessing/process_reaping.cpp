// Reaping: learning that a child has ended, and its exit code.
//
//   child ends ──► its pidfd turns readable ──► poll_state: waitpid(WNOHANG) ──► returncode
//                                                 └─ forkserver child: the server reaps;
//                                                    the status comes through status_fd
//   then forget_child(pid): the children table lets go of its state
//
// join() waits in ppoll on the pidfd; is_alive(), exitcode() and active_children() poll.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "pyconc/detail/lock_guard.hpp"
#include "process_internal.hpp"

namespace pyconc::multiprocessing::detail {

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return 255;
}

std::optional<int> poll_state(ProcessState& st) {
  int pid = st.pid.load();
  {
    pyconc::detail::LockGuard guard(st.mutex);
    if (st.returncode || pid <= 0) return st.returncode;
    if (st.status_fd.load() >= 0) {
      // A fork server's child: it reaps; we learn the status through the pipe.
      pollfd p{st.pidfd.load(), POLLIN, 0};
      if (::poll(&p, 1, 0) != 1) return std::nullopt;
      st.returncode = read_forkserver_status(st, true);
      if (!st.returncode) st.returncode = 255;
      int sfd = st.status_fd.exchange(-1);
      ::close(sfd);
    } else {
      int status = 0;
      pid_t r;
      do r = ::waitpid(pid, &status, WNOHANG); while (r < 0 && errno == EINTR);
      if (r == 0) return std::nullopt;
      // r < 0 (ECHILD): someone else reaped it; its status is lost.
      st.returncode = r == pid ? decode_status(status) : 255;
    }
  }
  forget_child(pid);
  pyconc::detail::LockGuard guard(st.mutex);
  return st.returncode;
}

bool wait_state(ProcessState& st, const pyconc::detail::Deadline& deadline) {
  for (;;) {
    if (poll_state(st)) return true;
    int fd = st.pidfd.load();
    if (fd < 0) return false;
    pollfd p{fd, POLLIN, 0};
    int rc;
    if (deadline.is_never()) {
      rc = ::ppoll(&p, 1, nullptr, nullptr);
    } else {
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.remaining()).count();
      timespec ts{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
      rc = ::ppoll(&p, 1, &ts, nullptr);
    }
    if (rc == 0 && deadline.expired()) return poll_state(st).has_value();
    if (rc < 0 && errno != EINTR) return poll_state(st).has_value();
  }
}

void signal_state(ProcessState& st, int sig) {
  pyconc::detail::LockGuard guard(st.mutex);
  int pid = st.pid.load();
  if (st.returncode || pid <= 0) return;
  // Not reaped yet (we hold the lock that reaping takes); the pidfd names exactly it.
  int fd = st.pidfd.load();
  if (fd >= 0)
    ::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0);
  else
    ::kill(pid, sig);
}

void reap_finished_children() {
  for (auto& st : children_snapshot()) (void)poll_state(*st);
}

void join_children_at_exit() {
  std::vector<std::shared_ptr<ProcessState>> kids = children_snapshot();
  for (auto& st : kids)
    if (st->daemon.load() && !poll_state(*st)) signal_state(*st, SIGTERM);
  for (auto& st : kids) wait_state(*st, pyconc::detail::Deadline::never());
}

}  // namespace pyconc::multiprocessing::detail
