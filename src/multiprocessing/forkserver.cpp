// The forkserver start method. A server program (this binary, spawned; it enters its
// loop from freeze_support) forks each child on request:
//
//   client start() ──sendmsg(record, SCM_RIGHTS[status w, ack w, fds...])──► server: fork()
//      ◄── socket: sendmsg(child pid, SCM_RIGHTS[pidfd]) ──────────────────────┤    │
//      ◄── status pipe: the child's wait status (the server reaps) ────────────┘    │
//      ◄── ack pipe: 'A' once the child loaded its arguments ──────────────── child ┘
//
// The client watches the child through the pidfd (the sentinel) and signals it through
// it. The server opens that pidfd right after fork(), before it could reap the child, so
// it names exactly that child even after the pid is reused; a pid the client opened
// itself could already name another process. The server dies with its client
// (PR_SET_PDEATHSIG, and EOF on the socket), and its children die with it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>

#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/detail/forkserver.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "spawn_internal.hpp"

namespace pyconc::multiprocessing::detail {

namespace {

constexpr std::size_t kMaxFds = 250;

struct Client {
  threading::Lock mutex;
  int sock PYCONC_GUARDED_BY(mutex) = -1;
  int pid PYCONC_GUARDED_BY(mutex) = 0;
  int pidfd PYCONC_GUARDED_BY(mutex) = -1;
};

Client* g_client = nullptr;
Client* g_replaced[16] = {};  // what fork children replaced stays reachable (LeakSanitizer)
std::size_t g_replaced_count = 0;

Client& client() {
  static const bool made = [] {
    if (!g_client) g_client = new Client;
    return true;
  }();
  (void)made;
  return *g_client;
}

bool read_exact(int fd, void* data, std::size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool write_exact(int fd, const void* data, std::size_t size) {
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// A message: u64 length with the fds attached, then the bytes.
bool send_message(int sock, const std::vector<std::byte>& bytes, const std::vector<int>& fds) {
  std::uint64_t size = bytes.size();
  iovec iov{&size, sizeof size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = ::sendmsg(sock, &msg, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof size)) return false;
  return write_exact(sock, bytes.data(), bytes.size());
}

bool receive_message(int sock, std::vector<std::byte>& bytes, std::vector<int>& fds) {
  std::uint64_t size = 0;
  iovec iov{&size, sizeof size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFds));
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      std::vector<int> got(count);
      std::memcpy(got.data(), CMSG_DATA(c), count * sizeof(int));
      fds.insert(fds.end(), got.begin(), got.end());
    }
  }
  if (n < static_cast<ssize_t>(sizeof size) && !read_exact(sock, reinterpret_cast<char*>(&size) + n, sizeof size - static_cast<std::size_t>(n)))
    return false;
  if (size > (std::uint64_t{1} << 32)) return false;
  bytes.resize(size);
  return read_exact(sock, bytes.data(), bytes.size());
}

// The server's reply to a launch: the child's pid (-1: fork failed) with its pidfd.
bool send_reply(int sock, std::int32_t pid, int pidfd) {
  std::vector<std::byte> bytes(sizeof pid);
  std::memcpy(bytes.data(), &pid, sizeof pid);
  return send_message(sock, bytes, pidfd >= 0 ? std::vector<int>{pidfd} : std::vector<int>{});
}

// The client's side: false when no reply came (the server is gone). Otherwise `pid` is
// the child's (-1: fork failed) and `pidfd` its pidfd (-1 when none came).
bool receive_reply(int sock, std::int32_t& pid, int& pidfd) {
  std::vector<std::byte> bytes;
  std::vector<int> fds;
  if (!receive_message(sock, bytes, fds) || bytes.size() != sizeof pid || fds.size() > 1) {
    for (int fd : fds) ::close(fd);
    return false;
  }
  std::memcpy(&pid, bytes.data(), sizeof pid);
  pidfd = fds.empty() ? -1 : fds[0];
  return true;
}

// Starts the server (the caller holds the client mutex).
void start_server(Client& c) PYCONC_REQUIRES(c.mutex) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) raise_os_error(errno, "socketpair");
  int pidfd = -1;
  int pid = -1;
  try {
    pid = fork_exec_self({"PYCONC_MP_FORKSERVER=" + std::to_string(sv[1])}, {sv[1]}, &pidfd);
  } catch (...) {
    ::close(sv[0]);
    ::close(sv[1]);
    throw;
  }
  ::close(sv[1]);
  AckResult hello = wait_ack(sv[0], pidfd);
  if (hello.kind != AckResult::ok) {
    int code = reap_failed_launch(pid, pidfd);
    ::close(sv[0]);
    raise_launch_error(hello, code, "forkserver");
  }
  c.sock = sv[0];
  c.pid = pid;
  c.pidfd = pidfd;
  register_machinery_fd(c.sock);
  register_machinery_fd(c.pidfd);
}

void stop_server(Client& c) PYCONC_REQUIRES(c.mutex) {
  if (c.sock < 0) return;
  unregister_machinery_fd(c.sock);
  unregister_machinery_fd(c.pidfd);
  ::close(c.sock);  // the server sees EOF and exits
  int status;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  ::close(c.pidfd);
  c.sock = -1;
  c.pidfd = -1;
  c.pid = 0;
}

}  // namespace

void stop_forkserver() {
  Client& c = client();
  pyconc::detail::LockGuard guard(c.mutex);
  stop_server(c);
}

void forkserver_forget_in_child() PYCONC_NO_THREAD_SAFETY_ANALYSIS {
  // The parent's server is the parent's: close our copies (its lock may have been held
  // at fork(), so no locking), and start our own when needed.
  if (g_client) {
    if (g_client->sock >= 0) {
      unregister_machinery_fd(g_client->sock);
      ::close(g_client->sock);
    }
    if (g_client->pidfd >= 0) {
      unregister_machinery_fd(g_client->pidfd);
      ::close(g_client->pidfd);
    }
    if (g_replaced_count < 16) g_replaced[g_replaced_count++] = g_client;
    g_client = new Client;
  }
}

std::optional<int> read_forkserver_status(ProcessState& st, bool block) {
  (void)block;
  std::int32_t status = 0;
  if (!read_exact(st.status_fd.load(), &status, sizeof status)) return std::nullopt;
  return decode_status(status);
}

void launch_forkserver(ProcessState& st) {
  LaunchRecord rec = prepare_launch(st);
  std::vector<int> travelling = rec.fds;
  rec.fds.clear();
  std::vector<std::byte> bytes = pyconc::pickle::dumps(rec);
  int status[2], ack[2];
  if (::pipe2(status, O_CLOEXEC) != 0) raise_os_error(errno, "pipe");
  if (::pipe2(ack, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(status[0]);
    ::close(status[1]);
    raise_os_error(err, "pipe");
  }
  std::vector<int> fds{status[1], ack[1]};
  fds.insert(fds.end(), travelling.begin(), travelling.end());
  if (fds.size() > kMaxFds) {
    for (int fd : {status[0], status[1], ack[0], ack[1]}) ::close(fd);
    throw ValueError("too many file descriptors in the arguments of a forkserver process");
  }
  std::int32_t pid = -1;
  int pidfd = -1;
  bool sent = false;
  bool replied = false;
  {
    Client& c = client();
    pyconc::detail::LockGuard guard(c.mutex);
    for (int attempt = 0; attempt < 2 && !sent; ++attempt) {
      if (c.sock >= 0 && !process_alive(c.pid)) stop_server(c);
      if (c.sock < 0) {
        try {
          start_server(c);
        } catch (...) {
          for (int fd : {status[0], status[1], ack[0], ack[1]}) ::close(fd);
          throw;
        }
      }
      sent = send_message(c.sock, bytes, fds);
      if (!sent) stop_server(c);
    }
    // The reply comes before the server reads another request: read it under the lock,
    // so that concurrent launches get their own.
    if (sent) {
      replied = receive_reply(c.sock, pid, pidfd);
      if (!replied) stop_server(c);  // it died (and so did what it forked)
    }
  }
  ::close(status[1]);
  ::close(ack[1]);
  if (!replied || pid <= 0 || pidfd < 0) {
    if (pidfd >= 0) ::close(pidfd);
    ::close(status[0]);
    ::close(ack[0]);
    throw ProcessError("the fork server did not start the process");
  }
  AckResult result = wait_ack(ack[0], pidfd);
  ::close(ack[0]);
  if (result.kind != AckResult::ok) {
    ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    std::int32_t ws = 0;
    bool got = read_exact(status[0], &ws, sizeof ws);
    ::close(status[0]);
    ::close(pidfd);
    raise_launch_error(result, got ? std::optional<int>(decode_status(ws)) : std::nullopt, "forkserver");
  }
  st.pid = pid;
  st.pidfd = pidfd;
  st.status_fd = status[0];
}

// ---- the server -------------------------------------------------------------------------

void run_forkserver(int sock) {
  int client_pid = ::getppid();
  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old);
  int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  char hello = 'A';
  if (!write_exact(sock, &hello, 1)) ::_exit(0);
  std::map<int, int> status_fds;  // child pid -> status pipe
  bool client_gone = false;
  while (!client_gone) {
    pollfd p[2] = {{sock, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) continue;
    if (p[1].revents & POLLIN) {
      signalfd_siginfo info;
      while (::read(sfd, &info, sizeof info) > 0) {
      }
    }
    for (;;) {  // reap every ended child; report its status
      int ws = 0;
      pid_t done = ::waitpid(-1, &ws, WNOHANG);
      if (done <= 0) break;
      auto it = status_fds.find(done);
      if (it != status_fds.end()) {
        std::int32_t s = ws;
        write_exact(it->second, &s, sizeof s);
        ::close(it->second);
        status_fds.erase(it);
      }
    }
    if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    std::vector<std::byte> bytes;
    std::vector<int> fds;
    if (!receive_message(sock, bytes, fds)) {
      for (int fd : fds) ::close(fd);
      client_gone = true;
      break;
    }
    if (fds.size() < 2) {
      for (int fd : fds) ::close(fd);
      send_reply(sock, -1, -1);
      continue;
    }
    int status_w = fds[0];
    int ack_w = fds[1];
    std::vector<int> travelling(fds.begin() + 2, fds.end());
    int server_pid = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != server_pid) ::_exit(1);
      ::close(sock);
      ::close(sfd);
      ::close(status_w);
      for (auto& [other, fd] : status_fds) ::close(fd);
      sigprocmask(SIG_SETMASK, &old, nullptr);
      LaunchRecord rec;
      try {
        rec = pyconc::pickle::loads<LaunchRecord>(bytes);
      } catch (...) {
        ::_exit(1);
      }
      (void)client_pid;
      run_launched_child(std::move(rec), std::move(travelling), ack_w);
    }
    // Not reaped before the next waitpid() below: the pidfd names exactly this child.
    int pidfd = pid > 0 ? open_pidfd(pid) : -1;
    if (pid > 0 && pidfd < 0) ::kill(pid, SIGKILL);  // the client could not watch it
    ::close(ack_w);
    for (int fd : travelling) ::close(fd);
    if (pid > 0)
      status_fds[pid] = status_w;  // the wait status goes there once reaped
    else
      ::close(status_w);
    send_reply(sock, pidfd >= 0 ? pid : -1, pidfd);  // a client gone is noticed above
    if (pidfd >= 0) ::close(pidfd);
  }
  // The client went away: so do we (our children get SIGKILL from PR_SET_PDEATHSIG).
  ::_exit(0);
}

}  // namespace pyconc::multiprocessing::detail
