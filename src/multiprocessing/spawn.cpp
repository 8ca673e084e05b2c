// The spawn start method: fork (from the launcher thread) and exec /proc/self/exe with
// the same arguments; the new program's freeze_support() reads the launch record from
// a memfd, becomes the Process, acks on a pipe once its arguments are loaded, and runs.
//
//   parent start() ── memfd(record) + ack pipe ──► fork+exec ──► child main(): freeze_support
//        ◄──────────────────── 'A' (arguments loaded) ───────────────────────┘
//
// A child whose main() lacks freeze_support() says so ('N') at its first Process
// start() or at exit; the parent's start() raises ProcessError naming the fix.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <typeindex>

#include "pyconc/multiprocessing/detail/resource_tracker.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/reduction.hpp"
#include "spawn_internal.hpp"

extern char** environ;

namespace pyconc::multiprocessing::detail {

namespace {

constexpr const char* kSpawnEnv = "PYCONC_MP_SPAWN";          // "<memfd>,<ack fd>"
constexpr const char* kForkServerEnv = "PYCONC_MP_FORKSERVER";  // "<socket fd>"
constexpr const char* kFix =
    "call pyconc::multiprocessing::freeze_support(argc, argv) as the first line of main() in a "
    "program that uses the 'spawn' or 'forkserver' start method";

std::atomic<bool> g_freeze_support_called{false};
std::atomic<int> g_pending_ack_fd{-1};  // a spawned program that has not reached freeze_support

void write_all(int fd, const void* data, std::size_t size) {
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void report_missing_freeze_support() {
  int fd = g_pending_ack_fd.exchange(-1);
  if (fd < 0) return;
  char tag = 'N';
  write_all(fd, &tag, 1);
}

int parse_fd(const char*& s) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  s = end && *end == ',' ? end + 1 : end;
  return v >= 0 && v < INT_MAX ? static_cast<int>(v) : -1;
}

// Before main(): is this a spawned program? Then it must reach freeze_support().
[[maybe_unused]] const bool g_bootstrap_noted = [] {
  int ack = -1;
  if (const char* s = std::getenv(kSpawnEnv)) {
    (void)parse_fd(s);
    ack = parse_fd(s);
  } else if (const char* f = std::getenv(kForkServerEnv)) {
    ack = parse_fd(f);
  }
  if (ack >= 0) {
    g_pending_ack_fd = ack;
    std::atexit(report_missing_freeze_support);
  }
  return true;
}();

// ---- subclasses ----------------------------------------------------------------------

struct Subclasses {
  threading::Lock mutex;
  std::map<std::type_index, std::pair<ChildEntry, SubclassPickler>> types PYCONC_GUARDED_BY(mutex);
};

Subclasses& subclasses() {
  static auto* s = new Subclasses;
  return *s;
}

void noop_entry(std::span<const std::byte>, void (*loaded)()) { loaded(); }

// ---- the child's bootstrap ------------------------------------------------------------

FdImport* g_import = nullptr;
int g_ack_fd = -1;
bool g_loaded = false;

void on_loaded() {
  if (g_loaded) return;
  g_loaded = true;
  delete g_import;  // closes the fds nobody took
  g_import = nullptr;
  char tag = 'A';
  write_all(g_ack_fd, &tag, 1);
  ::close(g_ack_fd);
  g_ack_fd = -1;
}

std::vector<std::byte> read_fd_fully(int fd) {
  std::vector<std::byte> bytes;
  std::byte buf[65536];
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.insert(bytes.end(), buf, buf + n);
    offset += n;
  }
  return bytes;
}

}  // namespace

void register_process_subclass(const std::type_info& type, ChildEntry entry, SubclassPickler pickler) {
  auto& s = subclasses();
  pyconc::detail::LockGuard guard(s.mutex);
  s.types[std::type_index(type)] = {entry, pickler};
}

void check_bootstrap() {
  if (g_pending_ack_fd.load() >= 0 && !g_freeze_support_called.load()) {
    report_missing_freeze_support();
    std::fputs("pyconc: this program was started as a multiprocessing child but main() did not call "
               "freeze_support() first: ",
               stderr);
    std::fputs(kFix, stderr);
    std::fputs("\n", stderr);
    ::_exit(1);
  }
}

std::vector<std::string> own_argv() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  return args;
}

LaunchRecord prepare_launch(ProcessState& st) {
  LaunchRecord rec;
  {
    FdExport exported;
    if (st.self) {
      std::pair<ChildEntry, SubclassPickler> reg{nullptr, nullptr};
      {
        auto& s = subclasses();
        pyconc::detail::LockGuard guard(s.mutex);
        auto it = s.types.find(std::type_index(typeid(*st.self)));
        if (it != s.types.end()) reg = it->second;
      }
      if (!reg.first)
        throw ProcessError(std::string("a Process subclass started with the 'spawn' or 'forkserver' start method must "
                                       "be registered: write PYCONC_REGISTER_PROCESS(YourClass) after the class (type ") +
                           typeid(*st.self).name() + ")");
      rec.entry = code_address(reinterpret_cast<const void*>(reg.first));
      rec.payload = reg.second(*st.self);
    } else if (st.target) {
      rec.entry = code_address(reinterpret_cast<const void*>(st.target->entry()));
      rec.payload = st.target->pickle();
    } else {
      rec.entry = code_address(reinterpret_cast<const void*>(&noop_entry));
    }
    rec.fds = exported.fds();
  }
  {
    pyconc::detail::LockGuard guard(st.mutex);
    rec.name = st.name;
    rec.authkey = st.authkey;
  }
  rec.daemon = st.daemon.load();
  rec.identity = st.identity;
  rec.family_pid = family_pid();
  rec.parent_pid = self_pid();
  rec.parent_name = current_process().name();
  rec.default_method = get_start_method(true);
  return rec;
}

void run_launched_child(LaunchRecord record, std::vector<int> fds, int ack_fd) {
  set_family_pid(record.family_pid);
  install_child_tables(record.name, record.daemon, record.identity, record.authkey, record.parent_pid,
                       record.parent_name);
  ::on_exit(exit_in_child, nullptr);
  if (record.default_method) {
    try {
      set_start_method(*record.default_method, true);
    } catch (...) {
    }
  }
  g_ack_fd = ack_fd;
  g_loaded = false;
  g_import = new FdImport(std::move(fds));
  int code = 0;
  try {
    auto entry = reinterpret_cast<ChildEntry>(resolve_code_address(record.entry));
    entry(record.payload, &on_loaded);
    on_loaded();
  } catch (...) {
    std::string what = describe_exception(std::current_exception());
    if (!g_loaded) {
      std::string msg = "E" + what;
      write_all(g_ack_fd, msg.data(), msg.size());
      ::_exit(1);
    }
    std::string text = "Process " + current_process().name() + ":\n" + what + "\n";
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
    code = 1;
  }
  child_finish(code);
}

AckResult wait_ack(int ack_fd, int pidfd) {
  AckResult result;
  std::string data;
  bool child_ended = false;
  for (;;) {
    pollfd p[2] = {{ack_fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int rc = ::poll(p, child_ended ? 1 : 2, child_ended ? 0 : -1);
    if (rc < 0 && errno == EINTR) continue;
    if (p[0].revents) {
      char buf[4096];
      ssize_t n = ::read(ack_fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        data.append(buf, static_cast<std::size_t>(n));
        if (data[0] == 'A') return {AckResult::ok, {}};
        if (data[0] == 'N') return {AckResult::no_freeze_support, {}};
        continue;  // 'E' + message: read up to EOF
      }
      break;  // EOF
    }
    if (child_ended) break;  // ended, nothing more to read
    if (!child_ended && (p[1].revents & POLLIN)) child_ended = true;
  }
  if (!data.empty() && data[0] == 'E') return {AckResult::error, data.substr(1)};
  return result;
}

void raise_launch_error(const AckResult& ack, std::optional<int> code, const std::string& method) {
  std::string code_text = code ? " (exit code " + std::to_string(*code) + ")" : "";
  switch (ack.kind) {
    case AckResult::no_freeze_support:
      throw ProcessError("the '" + method + "' child did not start its work: its main() did not call freeze_support() first; " +
                         kFix);
    case AckResult::error:
      throw ProcessError("the '" + method + "' child could not load its target: " + ack.message);
    default:
      throw ProcessError("the '" + method + "' child ended" + code_text +
                         " before it loaded its arguments; if it never reached freeze_support(): " + kFix);
  }
}

int reap_failed_launch(int pid, int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  if (::poll(&p, 1, 0) != 1) ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ::close(pidfd);
  return decode_status(status);
}

int fork_exec_self(const std::vector<std::string>& extra_env, const std::vector<int>& keep_fds, int* pidfd_out) {
  // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
  // The family's resource tracker socket goes along (its number in PYCONC_MP_TRACKER).
  std::vector<int> keep = keep_fds;
  int tracker = ensure_resource_tracker();
  if (tracker >= 0) keep.push_back(tracker);
  std::vector<std::string> args = own_argv();
  if (args.empty()) throw ProcessError("cannot read this program's arguments from /proc/self/cmdline");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string var = *e;
    if (var.rfind("PYCONC_MP_", 0) == 0) continue;
    env.push_back(std::move(var));
  }
  env.push_back("PYCONC_MP_FAMILY=" + std::to_string(family_pid()));
  for (auto& v : extra_env) env.push_back(v);
  if (tracker >= 0) env.push_back(std::string(kTrackerEnv) + "=" + std::to_string(tracker));
  std::vector<char*> envp;
  for (auto& v : env) envp.push_back(v.data());
  envp.push_back(nullptr);
  return fork_child(
      [&] {
        // Only stdio and `keep` reach the new program.
        if (::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0) {
          for (int fd = 3; fd < 65536; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        for (int fd : keep) ::fcntl(fd, F_SETFD, 0);
        ::execve("/proc/self/exe", argv.data(), envp.data());
        ::_exit(127);
      },
      pidfd_out);
}

void launch_spawn(ProcessState& st) {
  LaunchRecord rec = prepare_launch(st);
  std::vector<std::byte> bytes = pyconc::pickle::dumps(rec);
  int memfd = ::memfd_create("pyconc-spawn", MFD_CLOEXEC);
  if (memfd < 0) raise_os_error(errno, "memfd_create");
  write_all(memfd, bytes.data(), bytes.size());
  int ack[2];
  if (::pipe2(ack, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(memfd);
    raise_os_error(err, "pipe");
  }
  std::vector<int> keep = rec.fds;
  keep.push_back(memfd);
  keep.push_back(ack[1]);
  int pidfd = -1;
  int pid = -1;
  try {
    pid = fork_exec_self({std::string(kSpawnEnv) + "=" + std::to_string(memfd) + "," + std::to_string(ack[1])}, keep,
                         &pidfd);
  } catch (...) {
    ::close(memfd);
    ::close(ack[0]);
    ::close(ack[1]);
    throw;
  }
  ::close(memfd);
  ::close(ack[1]);
  AckResult result = wait_ack(ack[0], pidfd);
  ::close(ack[0]);
  if (result.kind != AckResult::ok) {
    raise_launch_error(result, reap_failed_launch(pid, pidfd), "spawn");
  }
  st.pid = pid;
  st.pidfd = pidfd;
}

}  // namespace pyconc::multiprocessing::detail

namespace pyconc::multiprocessing {

void freeze_support(int argc, char** argv) {
  (void)argc;
  (void)argv;
  detail::g_freeze_support_called = true;
  detail::g_pending_ack_fd = -1;
  // A spawned child (or fork server) adopts the family's tracker socket now, before
  // anything could exec another program that would inherit it.
  detail::resource_tracker_fd();
  if (const char* s = std::getenv(detail::kSpawnEnv)) {
    const char* p = s;
    int memfd = detail::parse_fd(p);
    int ack = detail::parse_fd(p);
    ::unsetenv(detail::kSpawnEnv);
    if (memfd < 0 || ack < 0) ::_exit(1);
    std::vector<std::byte> bytes = detail::read_fd_fully(memfd);
    ::close(memfd);
    detail::LaunchRecord rec;
    try {
      rec = pickle::loads<detail::LaunchRecord>(bytes);
    } catch (const std::exception& e) {
      std::string msg = std::string("E") + "corrupt launch record: " + e.what();
      detail::write_all(ack, msg.data(), msg.size());
      ::_exit(1);
    }
    if (::getppid() != rec.parent_pid) ::_exit(1);  // the parent died before prctl
    std::vector<int> fds = rec.fds;
    detail::run_launched_child(std::move(rec), std::move(fds), ack);
  }
  if (const char* f = std::getenv(detail::kForkServerEnv)) {
    const char* p = f;
    int sock = detail::parse_fd(p);
    ::unsetenv(detail::kForkServerEnv);
    if (sock < 0) ::_exit(1);
    detail::run_forkserver(sock);
  }
}

}  // namespace pyconc::multiprocessing
