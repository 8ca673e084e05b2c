// The launcher thread: every child of this process is forked by one long-lived thread.
//
//   start() (any thread) ──job──► launcher thread: fork() ──► child: in_child() (never returns)
//        ◄── pid, pidfd ─────────────┘ parent: pidfd_open ──► sentinel, join, reaping
//
// PR_SET_PDEATHSIG fires when the *thread* that forked exits, and this one never does,
// so children die with the process and only then. Requests are served one at a time:
// the caller posts a job (futex `posted`) and sleeps until it is done (futex `finished`).
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "pyconc/detail/futex.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/threading/lock.hpp"
#include "process_internal.hpp"

namespace pyconc::multiprocessing::detail {

using threading::Lock;

namespace {

struct Launcher {
  Lock request_mutex;                        // one request at a time
  std::function<void()>* job = nullptr;      // written under request_mutex before `posted`
  std::atomic<std::uint32_t> posted{0};      // futex: request count
  std::atomic<std::uint32_t> finished{0};    // futex: requests done
};

Launcher* g_launcher = nullptr;
Lock* g_launcher_mutex = nullptr;  // guards creating g_launcher

void* launcher_main(void* arg) {
  auto* l = static_cast<Launcher*>(arg);
  std::uint32_t seen = 0;
  for (;;) {
    std::uint32_t now;
    while ((now = l->posted.load(std::memory_order_acquire)) == seen) pyconc::detail::futex_wait(l->posted, seen);
    seen = now;
    (*l->job)();
    l->finished.store(seen, std::memory_order_release);
    pyconc::detail::futex_wake_all(l->finished);
  }
  return nullptr;
}

Launcher& launcher() {
  static const bool made = [] {
    if (!g_launcher_mutex) g_launcher_mutex = new Lock;
    return true;
  }();
  (void)made;
  pyconc::detail::LockGuard guard(*g_launcher_mutex);
  if (!g_launcher) {
    auto* l = new Launcher;  // leaked: lives as long as the process
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    // Signals for the process go to other threads; the child gets the caller's mask back.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, launcher_main, l);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      delete l;
      throw RuntimeError(std::string("can't start the process launcher thread: ") + std::strerror(rc));
    }
    g_launcher = l;
  }
  return *g_launcher;
}

}  // namespace

int open_pidfd(int pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

void run_in_launcher(std::function<void()>& job) {
  Launcher& l = launcher();
  pyconc::detail::LockGuard guard(l.request_mutex);
  l.job = &job;
  std::uint32_t ticket = l.posted.load(std::memory_order_relaxed) + 1;
  l.posted.store(ticket, std::memory_order_release);
  pyconc::detail::futex_wake_all(l.posted);
  std::uint32_t done;
  while ((done = l.finished.load(std::memory_order_acquire)) != ticket) pyconc::detail::futex_wait(l.finished, done);
}

int fork_child(const std::function<void()>& in_child, int* pidfd_out) {
  int parent_pid = self_pid();
  sigset_t caller_mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &caller_mask);
  int pid = -1;
  int err = 0;
  std::function<void()> job = [&] {
    std::fflush(nullptr);  // no buffered output written twice
    pid = ::fork();
    if (pid == 0) {
      // Die with the parent. If it died before prctl took effect, we were reparented already.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent_pid) ::_exit(1);
      pthread_sigmask(SIG_SETMASK, &caller_mask, nullptr);
      in_child();
      ::_exit(127);  // in_child() execs or exits; it never returns
    }
    if (pid < 0) err = errno;
  };
  run_in_launcher(job);
  if (pid < 0) raise_os_error(err, "fork");
  int fd = open_pidfd(pid);
  if (fd < 0) {
    err = errno;
    ::kill(pid, SIGKILL);
    int status;
    ::waitpid(pid, &status, 0);
    raise_os_error(err, "pidfd_open");
  }
  *pidfd_out = fd;
  return pid;
}

void launcher_forget_in_child() {
  // The parent's launcher thread does not exist here, and its lock may have been held.
  keep_reachable(g_launcher);
  keep_reachable(g_launcher_mutex);
  g_launcher = nullptr;
  g_launcher_mutex = new Lock;
}

}  // namespace pyconc::multiprocessing::detail
