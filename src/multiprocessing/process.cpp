// multiprocessing.Process and the module's process functions: the API over a
// ProcessState. The machinery, each in its own source:
//
//   Process p(target, args...) ──► ProcessState (name, identity, authkey, target)
//   p.start() ──► launch by start method (context.cpp)
//                 ├ fork: process_fork.cpp ─┐
//                 ├ spawn: spawn.cpp ───────┼─► the launcher thread forks (process_launcher.cpp)
//                 └ forkserver.cpp ─────────┘   the child runs and exits (process_child.cpp)
//             ──► children table (process_tables.cpp)
//   p.join(), is_alive(), exitcode ──► pidfd + waitpid (process_reaping.cpp)
#include "pyconc/multiprocessing/process.hpp"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <typeinfo>

#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/resource_tracker.hpp"
#include "pyconc/threading/timeout.hpp"
#include "process_internal.hpp"

namespace pyconc::multiprocessing::detail {

ProcessState::ProcessState(Role r, std::string n, bool d) : role(r), name(std::move(n)), daemon(d) {}

ProcessState::~ProcessState() {
  int fd = pidfd.load();
  if (fd >= 0 && role != Role::current) ::close(fd);
  if (int sfd = status_fd.load(); sfd >= 0) ::close(sfd);
}

}  // namespace pyconc::multiprocessing::detail

namespace pyconc::multiprocessing {

using detail::ProcessState;
using detail::Role;

namespace {
constexpr const char* kClosed = "process object is closed";
}

Process::Process() : Process(ProcessOptions{}) {}

Process::Process(ProcessOptions options) {
  std::vector<int> identity;
  std::string default_name = detail::next_default_name(identity);
  bool daemon = options.daemon ? *options.daemon : current_process().daemon();
  state_ = std::make_shared<ProcessState>(Role::child, options.name ? std::move(*options.name) : default_name, daemon);
  state_->identity = std::move(identity);
  state_->creator_pid = detail::self_pid();
  std::vector<std::byte> authkey = current_process().authkey();  // Python: _config.copy()
  pyconc::detail::LockGuard guard(state_->mutex);
  state_->authkey = std::move(authkey);
}

Process::Process(std::shared_ptr<ProcessState> state, AliasTag) noexcept : state_(std::move(state)) {}
Process::Process(Process&& other) noexcept = default;
Process& Process::operator=(Process&& other) noexcept = default;
Process::~Process() = default;

void Process::set_target(std::unique_ptr<detail::ProcessTarget> target) { state_->target = std::move(target); }

ProcessState& Process::state_ref() const {
  if (!state_) throw RuntimeError("this Process handle was moved from");
  return *state_;
}

void Process::start() {
  detail::check_bootstrap();
  ProcessState& st = state_ref();
  if (st.closed.load()) throw ValueError(kClosed);
  if (st.role != Role::child || st.started.load()) throw RuntimeError("cannot start a process twice");
  if (st.creator_pid != detail::self_pid())
    throw RuntimeError("can only start a process object created by current process");
  if (current_process().daemon()) throw RuntimeError("daemonic processes are not allowed to have children");
  if (st.started.exchange(true)) throw RuntimeError("cannot start a process twice");
  detail::reap_finished_children();
  // The family's one resource tracker runs before the first child: segments a child
  // creates are then cleaned by it, not by a tracker of the child's own.
  detail::ensure_resource_tracker();
  if (typeid(*this) != typeid(Process)) st.self = this;
  try {
    detail::launch(st);
  } catch (...) {
    st.self = nullptr;
    st.started = false;
    throw;
  }
  st.self = nullptr;
  detail::add_child(state_);
}

void Process::run() {
  ProcessState& st = state_ref();
  if (st.target) st.target->call();
}

namespace {
void check_joinable(const ProcessState& st) {
  if (st.closed.load()) throw ValueError(kClosed);
  if (st.role == Role::current || st.creator_pid != detail::self_pid())
    throw RuntimeError("can only join a child process");
  if (!st.started.load()) throw RuntimeError("can only join a started process");
}
}  // namespace

void Process::join() {
  ProcessState& st = state_ref();
  check_joinable(st);
  detail::wait_state(st, pyconc::detail::Deadline::never());
}

bool Process::join(Seconds timeout) {
  ProcessState& st = state_ref();
  check_joinable(st);
  return detail::wait_state(st, pyconc::detail::deadline_for(pyconc::detail::TimeoutRule::threading_wait, timeout));
}

bool Process::is_alive() const {
  ProcessState& st = state_ref();
  if (st.closed.load()) throw ValueError(kClosed);
  if (st.role == Role::current) return true;
  if (st.creator_pid != detail::self_pid()) throw RuntimeError("can only test a child process");
  if (!st.started.load()) return false;
  if (st.role == Role::parent) return detail::process_alive(st.pid.load());
  return !detail::poll_state(st).has_value();
}

std::optional<int> Process::exitcode() const {
  ProcessState& st = state_ref();
  if (st.closed.load()) throw ValueError(kClosed);
  if (st.role != Role::child || !st.started.load()) return std::nullopt;
  return detail::poll_state(st);
}

std::optional<int> Process::pid() const {
  ProcessState& st = state_ref();
  if (st.closed.load()) throw ValueError(kClosed);
  if (!st.started.load() || st.pid.load() <= 0) return std::nullopt;
  return st.pid.load();
}

std::string Process::name() const {
  ProcessState& st = state_ref();
  pyconc::detail::LockGuard guard(st.mutex);
  return st.name;
}

void Process::set_name(std::string name) {
  ProcessState& st = state_ref();
  pyconc::detail::LockGuard guard(st.mutex);
  st.name = std::move(name);
}

std::vector<std::byte> Process::authkey() const {
  ProcessState& st = state_ref();
  pyconc::detail::LockGuard guard(st.mutex);
  return st.authkey;
}

void Process::set_authkey(std::vector<std::byte> key) {
  ProcessState& st = state_ref();
  pyconc::detail::LockGuard guard(st.mutex);
  st.authkey = std::move(key);
}

bool Process::daemon() const { return state_ref().daemon.load(); }

void Process::set_daemon(bool daemonic) {
  ProcessState& st = state_ref();
  if (st.role != Role::current && st.started.load()) throw RuntimeError("process has already started");
  st.daemon = daemonic;
}

namespace {
void send_signal(ProcessState& st, int sig) {
  if (st.closed.load()) throw ValueError(kClosed);
  if (st.role != Role::child) throw RuntimeError("can only signal a child process");
  if (!st.started.load()) throw RuntimeError("cannot signal a process that was not started");
  detail::signal_state(st, sig);
}
}  // namespace

void Process::terminate() { send_signal(state_ref(), SIGTERM); }

void Process::kill() { send_signal(state_ref(), SIGKILL); }

void Process::close() {
  ProcessState& st = state_ref();
  if (st.closed.load()) return;
  if (st.role == Role::child && st.started.load()) {
    if (!detail::poll_state(st))
      throw ValueError("Cannot close a process while it is still running. You should first call join() or terminate().");
    int fd = st.pidfd.exchange(-1);
    if (fd >= 0) ::close(fd);
  }
  st.closed = true;
}

int Process::sentinel() const {
  ProcessState& st = state_ref();
  if (st.closed.load()) throw ValueError(kClosed);
  int fd = st.pidfd.load();
  if (!st.started.load() || fd < 0) throw ValueError("process not started");
  return fd;
}

// ---- module functions -------------------------------------------------------------------

Process& current_process() { return detail::current_alias(); }

std::optional<Process> parent_process() {
  auto parent = detail::parent_state();
  if (!parent) return std::nullopt;
  return detail::ProcessAccess::alias(std::move(parent));
}

std::vector<Process> active_children() {
  std::vector<Process> out;
  for (auto& st : detail::children_snapshot())
    if (!detail::poll_state(*st)) out.push_back(detail::ProcessAccess::alias(st));
  return out;
}

int cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace pyconc::multiprocessing
