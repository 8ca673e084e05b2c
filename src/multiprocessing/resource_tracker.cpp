// The family's resource tracker (see detail/resource_tracker.hpp for the whole picture).
//
//   track(kind, name) ─► send(one datagram) ─► [SOCK_SEQPACKET pair] ─► tracker: read ─► table
//   every send end closed (the family is gone) ─► EOF ─► unlink what is left ─► _exit
//
// Client side: one SOCK_SEQPACKET socketpair; the family holds the send end (inherited by
// fork, passed to spawned children through PYCONC_MP_TRACKER), the tracker the other.
// A message is one datagram: a kind byte ('I' internal, 'S' user SharedMemory, 'U'
// untrack) and the name; datagrams are atomic and never interleave. send() uses
// MSG_NOSIGNAL, so a dead tracker costs an EPIPE, never a SIGPIPE.
//
// Tracker side: runs in a grandchild made by fork() then a raw clone(); the intermediate
// exits at once and is reaped by the starter, so the tracker is re-parented to init (or
// to a subreaper above us: we clear our own PR_SET_CHILD_SUBREAPER around the double fork,
// else the tracker would come back to us as a child). From the fork on, the tracker makes
// only raw system calls over memory mapped before the fork: it never touches malloc,
// locks or stdio of the (possibly multi-threaded) program it was forked from.
#include "pyconc/multiprocessing/detail/resource_tracker.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"

namespace pyconc::multiprocessing::detail {
namespace {

// ---------------------------------------------------------------------------------------
// The tracker process.

constexpr std::size_t kMaxName = 250;  // SharedSegment's limit on names
constexpr int kReadFd = 3;

struct Entry {
  std::uint8_t state;  // 0 empty, 1 live, 2 deleted
  char kind;
  std::uint8_t length;
  char name[253];
};
static_assert(sizeof(Entry) == 256);

constexpr std::size_t kCapacity = std::size_t{1} << 16;  // entries per table
constexpr std::size_t kTableBytes = kCapacity * sizeof(Entry);

struct Table {
  Entry* entries;
  Entry* spare;  // a second table of the same size, for compaction
  std::size_t live;
  std::size_t used;  // live + deleted
};

std::uint64_t hash_name(const char* name, std::size_t length) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < length; ++i) h = (h ^ static_cast<unsigned char>(name[i])) * 1099511628211ull;
  return h;
}

bool same(const Entry& e, const char* name, std::size_t length) noexcept {
  if (e.length != length) return false;
  for (std::size_t i = 0; i < length; ++i)
    if (e.name[i] != name[i]) return false;
  return true;
}

// The slot holding `name`, or the first free slot of its probe run (nullptr when full).
Entry* probe(Entry* entries, const char* name, std::size_t length, bool for_insert) noexcept {
  std::size_t i = hash_name(name, length) & (kCapacity - 1);
  Entry* reusable = nullptr;
  for (std::size_t n = 0; n < kCapacity; ++n, i = (i + 1) & (kCapacity - 1)) {
    Entry& e = entries[i];
    if (e.state == 0) return for_insert ? (reusable ? reusable : &e) : nullptr;
    if (e.state == 1 && same(e, name, length)) return &e;
    if (e.state == 2 && !reusable) reusable = &e;
  }
  return for_insert ? reusable : nullptr;
}

void compact(Table& t) noexcept {
  // Live entries into the spare table, then swap; the old pages are given back.
  for (std::size_t i = 0; i < kCapacity; ++i) {
    const Entry& e = t.entries[i];
    if (e.state != 1) continue;
    Entry* slot = probe(t.spare, e.name, e.length, true);
    *slot = e;
  }
  Entry* old = t.entries;
  t.entries = t.spare;
  t.spare = old;
  ::syscall(SYS_madvise, old, kTableBytes, MADV_DONTNEED);  // reads back as zeros
  t.used = t.live;
}

void table_track(Table& t, char kind, const char* name, std::size_t length) noexcept {
  if (Entry* found = probe(t.entries, name, length, false)) {
    found->kind = kind;
    return;
  }
  if (t.used + 1 > kCapacity / 4 * 3) {
    if (t.live + 1 > kCapacity / 4 * 3) return;  // full: this name goes untracked
    compact(t);
  }
  Entry* slot = probe(t.entries, name, length, true);
  if (slot == nullptr) return;
  if (slot->state == 0) ++t.used;
  slot->state = 1;
  slot->kind = kind;
  slot->length = static_cast<std::uint8_t>(length);
  for (std::size_t i = 0; i < length; ++i) slot->name[i] = name[i];
  ++t.live;
}

void table_untrack(Table& t, const char* name, std::size_t length) noexcept {
  if (Entry* found = probe(t.entries, name, length, false)) {
    found->state = 2;
    --t.live;
  }
}

void write_all(int fd, const char* text, std::size_t length) noexcept {
  while (length > 0) {
    long n = ::syscall(SYS_write, fd, text, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text += n;
    length -= static_cast<std::size_t>(n);
  }
}

std::size_t format_unsigned(char* out, std::size_t value) noexcept {
  char digits[24];
  std::size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (std::size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  return n;
}

void cleanup(Table& t) noexcept {
  std::size_t user = 0;
  for (std::size_t i = 0; i < kCapacity; ++i)
    if (t.entries[i].state == 1 && t.entries[i].kind == 'S') ++user;
  if (user > 0) {
    char line[160];
    const char head[] = "resource_tracker: There appear to be ";
    const char tail[] = " leaked shared_memory objects to clean up at shutdown\n";
    std::size_t n = 0;
    for (char c : head)
      if (c) line[n++] = c;
    n += format_unsigned(line + n, user);
    for (char c : tail)
      if (c) line[n++] = c;
    write_all(2, line, n);
  }
  char path[9 + kMaxName + 1] = "/dev/shm/";
  for (std::size_t i = 0; i < kCapacity; ++i) {
    const Entry& e = t.entries[i];
    if (e.state != 1) continue;
    for (std::size_t k = 0; k < e.length; ++k) path[9 + k] = e.name[k];
    path[9 + e.length] = '\0';
    ::syscall(SYS_unlinkat, AT_FDCWD, path, 0);  // shm_unlink is exactly this
  }
}

[[noreturn]] void tracker_main(int read_fd, void* tables) noexcept {
  // Own session: the family's process group signals (Ctrl-C, kill -TERM -pgid, and a
  // group SIGKILL) do not reach the tracker; the end of the family does (EOF).
  // (The signals it ignores were set to SIG_IGN before it was born: see start_tracker.)
  ::syscall(SYS_setsid);
  sigset_t none;
  sigemptyset(&none);
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof(std::uint64_t));

  // Keep stderr (the warning) and the read end, as fd 3; drop everything else the program
  // had open (a pipe end held here would hide an EOF from its peer forever).
  if (read_fd != kReadFd) {
    ::syscall(SYS_dup3, read_fd, kReadFd, 0);
  }
  if (::syscall(SYS_close_range, kReadFd + 1, ~0u, 0) != 0)
    for (int fd = kReadFd + 1; fd < 65536; ++fd) ::syscall(SYS_close, fd);
  int null_fd = static_cast<int>(::syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR, 0));
  if (null_fd >= 0) {
    if (null_fd != 0) ::syscall(SYS_dup3, null_fd, 0, 0);
    if (null_fd != 1) ::syscall(SYS_dup3, null_fd, 1, 0);
    if (null_fd > 2 && null_fd != kReadFd) ::syscall(SYS_close, null_fd);
  }
  // The tracker needs no working directory: do not pin a mount.
  ::syscall(SYS_chdir, "/");

  Table t{static_cast<Entry*>(tables), static_cast<Entry*>(tables) + kCapacity, 0, 0};
  char message[1 + kMaxName + 8];
  for (;;) {
    long n = ::syscall(SYS_read, kReadFd, message, sizeof message);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) break;  // every holder of the send end is gone
    if (n < 2 || static_cast<std::size_t>(n) > 1 + kMaxName) continue;
    auto length = static_cast<std::size_t>(n) - 1;
    switch (message[0]) {
      case 'I':
      case 'S':
        table_track(t, message[0], message + 1, length);
        break;
      case 'U':
        table_untrack(t, message + 1, length);
        break;
      default:
        break;
    }
  }
  cleanup(t);
  ::syscall(SYS_exit_group, 0);
  __builtin_unreachable();
}

// ---------------------------------------------------------------------------------------
// The family's side.

enum State : int { kIdle = 0, kStarting = 1, kReady = 2, kFailed = 3 };

std::atomic<int> g_state{kIdle};
std::atomic<int> g_fd{-1};
std::atomic<int> g_tracker_pid{0};
std::atomic<bool> g_env_checked{false};

void reset_in_child() noexcept {
  // A fork child of a thread that was starting the tracker: start afresh if needed.
  int expected = kStarting;
  g_state.compare_exchange_strong(expected, kIdle);
}

void register_atfork() noexcept {
  static const bool once = [] {
    ::pthread_atfork(nullptr, nullptr, &reset_in_child);
    return true;
  }();
  (void)once;
}

// A spawned child: adopt the fd its launcher passed.
void adopt_from_environment() noexcept {
  if (g_env_checked.exchange(true)) return;
  const char* env = std::getenv(kTrackerEnv);
  if (env == nullptr) return;
  char* end = nullptr;
  long fd = std::strtol(env, &end, 10);
  if (end == env || *end != '\0' || fd < 0 || fd > 1 << 20) return;
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET) return;
  int expected = kIdle;
  if (!g_state.compare_exchange_strong(expected, kStarting)) return;
  ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  register_machinery_fd(static_cast<int>(fd));
  g_fd.store(static_cast<int>(fd));
  g_state.store(kReady);
}

int start_tracker() noexcept {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  void* tables = ::mmap(nullptr, 2 * kTableBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                        -1, 0);
  void* box = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (tables == MAP_FAILED || box == MAP_FAILED) {
    if (tables != MAP_FAILED) ::munmap(tables, 2 * kTableBytes);
    if (box != MAP_FAILED) ::munmap(box, 4096);
    ::close(sv[0]);
    ::close(sv[1]);
    return -1;
  }
  auto* tracker_pid = static_cast<std::atomic<int>*>(box);

  int subreaper = 0;
  ::prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0);
  if (subreaper) ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);

  pid_t middle = ::fork();
  if (middle == 0) {
    // The tracker ignores a terminal's and a group kill's signals from birth: were they
    // set in the tracker itself, a signal sent the moment start_tracker() returns could
    // still kill it (the clone inherits the dispositions; sigaction is async-signal-safe).
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2}) ::sigaction(sig, &ignore, nullptr);
    // One thread from here on; a raw clone skips the program's fork handlers.
    long pid = ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
      ::syscall(SYS_close, sv[1]);
      tracker_main(sv[0], tables);
    }
    if (pid > 0) tracker_pid->store(static_cast<int>(pid));
    ::syscall(SYS_exit_group, pid > 0 ? 0 : 1);
  }
  int status = 0;
  if (middle > 0) {
    while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (subreaper) ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  int pid = tracker_pid->load();
  ::munmap(box, 4096);
  ::munmap(tables, 2 * kTableBytes);
  ::close(sv[0]);
  if (middle < 0 || pid <= 0) {
    ::close(sv[1]);
    return -1;
  }
  g_tracker_pid.store(pid);
  register_machinery_fd(sv[1]);
  return sv[1];
}

int current_fd() noexcept {
  adopt_from_environment();
  return g_state.load() == kReady ? g_fd.load() : -1;
}

void send_message(int fd, char kind, const std::string& name) noexcept {
  if (fd < 0 || name.empty() || name.size() > kMaxName) return;
  char message[1 + kMaxName];
  message[0] = kind;
  std::memcpy(message + 1, name.data(), name.size());
  while (::send(fd, message, 1 + name.size(), MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
  // EPIPE: the tracker was killed; nothing will be cleaned after a crash any more.
}

}  // namespace

int resource_tracker_fd() noexcept { return current_fd(); }

int ensure_resource_tracker() noexcept {
  register_atfork();
  adopt_from_environment();
  for (;;) {
    int state = g_state.load();
    if (state == kReady) return g_fd.load();
    if (state == kFailed) return -1;
    if (state == kIdle) {
      if (!g_state.compare_exchange_strong(state, kStarting)) continue;
      int fd = start_tracker();
      if (fd >= 0) g_fd.store(fd);
      g_state.store(fd >= 0 ? kReady : kFailed);
      return fd;
    }
    std::this_thread::yield();  // another thread is starting it (a few ms)
  }
}

int resource_tracker_pid() noexcept { return g_tracker_pid.load(); }

void track_segment(const std::string& name, TrackKind kind) noexcept {
  send_message(ensure_resource_tracker(), static_cast<char>(kind), name);
}

void track_segment(const std::string& name) noexcept { track_segment(name, TrackKind::internal); }

void untrack_segment(const std::string& name) noexcept { send_message(current_fd(), 'U', name); }

}  // namespace pyconc::multiprocessing::detail
