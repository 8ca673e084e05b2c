// Listener / Client: a unix socket introduces the two ends of a Pipe.
//
// Handshake on the accepted socket (framed as a 4-byte little-endian length + bytes,
// at most kMaxFrame):
//   1. With an authkey, mutual HMAC-SHA256 challenge: the listener challenges, then the
//      client does (Python's order: accept() delivers then answers; Client answers then
//      delivers).
//   2. The listener makes a duplex Pipe, sends the client's end (pickled inside an
//      FdExport scope: the segment name, its fds by SCM_RIGHTS) and waits for a 1-byte
//      acknowledgement that the client has imported it; then the socket is closed. The
//      Pipe's own socketpair carries liveness from then on.
#include "pyconc/multiprocessing/listener.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string_view>

#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/detail/connection_access.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/reduction.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::multiprocessing::connection {

namespace {

using pyconc::detail::Deadline;

constexpr std::size_t kMaxFrame = 4096;
constexpr std::size_t kNonceSize = 40;
constexpr std::string_view kChallenge = "#CHALLENGE#";
constexpr std::string_view kWelcome = "#WELCOME#";
constexpr std::string_view kFailure = "#FAILURE#";
constexpr std::string_view kDigestTag = "{sha256}";
constexpr auto kHandshakeTimeout = std::chrono::seconds(20);

using Bytes = std::vector<std::byte>;

// `prefix` followed by tail[0, n). (Built by resize + memcpy: g++ 12 at -O3 warns
// falsely on vector::insert of a few bytes.)
Bytes concat(std::string_view prefix, const void* tail = nullptr, std::size_t n = 0) {
  Bytes b(prefix.size() + n);
  if (!prefix.empty()) std::memcpy(b.data(), prefix.data(), prefix.size());
  if (n) std::memcpy(b.data() + prefix.size(), tail, n);
  return b;
}

Bytes to_bytes(std::string_view s) { return concat(s); }

bool starts_with(const Bytes& b, std::string_view prefix) {
  return b.size() >= prefix.size() && std::memcmp(b.data(), prefix.data(), prefix.size()) == 0;
}

bool equals(const Bytes& b, std::string_view s) { return b.size() == s.size() && starts_with(b, s); }

// "{sha256}" + HMAC-SHA256(key, message).
Bytes digest(const Bytes& key, const Bytes& message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const unsigned char empty = 0;
  if (!HMAC(EVP_sha256(), key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data()),
            static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()), message.size(), out,
            &len))
    throw AuthenticationError("HMAC-SHA256 failed");
  return concat(kDigestTag, out, len);
}

Bytes random_bytes(std::size_t n) {
  Bytes b(n);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(b.data() + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      raise_os_error(errno, "getrandom");
    }
    got += static_cast<std::size_t>(r);
  }
  return b;
}

// Where the challenge's messages go: a Connection, or the raw handshake socket.
struct Channel {
  virtual ~Channel() = default;
  virtual void send(const Bytes& b) = 0;
  virtual Bytes recv() = 0;  // at most kMaxFrame bytes
};

struct ConnectionChannel final : Channel {
  explicit ConnectionChannel(Connection& c) : conn(c) {}
  void send(const Bytes& b) override { conn.send_bytes(std::span<const std::byte>(b)); }
  Bytes recv() override { return conn.recv_bytes(static_cast<long long>(kMaxFrame)); }
  Connection& conn;
};

// Waits until `fd` is ready for `events` or the deadline (AuthenticationError), or
// until `cancel` (an eventfd, -1: none) is readable (OSError: the listener was closed).
void wait_fd(int fd, short events, const Deadline& deadline, const char* what, int cancel = -1) {
  for (;;) {
    pollfd p[2] = {{fd, events, 0}, {cancel, POLLIN, 0}};
    int ms = -1;
    if (!deadline.is_never()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline.remaining()).count();
      ms = static_cast<int>(std::max<long long>(0, std::min<long long>(left + 1, 1 << 30)));
    }
    int r = ::poll(p, cancel >= 0 ? 2 : 1, ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      raise_os_error(errno, what);
    }
    if (cancel >= 0 && (p[1].revents & POLLIN)) throw OSError("listener is closed");
    if (r == 0) throw AuthenticationError(std::string(what) + ": the peer did not answer in time");
    return;
  }
}

struct SocketChannel final : Channel {
  SocketChannel(int fd, Deadline d, int cancel_fd = -1) : sock(fd), deadline(d), cancel(cancel_fd) {}

  void send_all(const void* data, std::size_t n) {
    auto* p = static_cast<const char*>(data);
    while (n > 0) {
      wait_fd(sock, POLLOUT, deadline, "handshake send", cancel);
      ssize_t r = ::send(sock, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        if (errno == EPIPE || errno == ECONNRESET) throw BrokenPipeError(errno, "the peer closed the connection");
        raise_os_error(errno, "send");
      }
      p += r;
      n -= static_cast<std::size_t>(r);
    }
  }
  void recv_all(void* data, std::size_t n) {
    auto* p = static_cast<char*>(data);
    while (n > 0) {
      wait_fd(sock, POLLIN, deadline, "handshake receive", cancel);
      ssize_t r = ::recv(sock, p, n, MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        if (errno == ECONNRESET) throw EOFError("the peer closed the connection during the handshake");
        raise_os_error(errno, "recv");
      }
      if (r == 0) throw EOFError("the peer closed the connection during the handshake");
      p += r;
      n -= static_cast<std::size_t>(r);
    }
  }
  void send(const Bytes& b) override {
    std::uint32_t len = static_cast<std::uint32_t>(b.size());
    send_all(&len, sizeof len);
    if (!b.empty()) send_all(b.data(), b.size());
  }
  Bytes recv() override {
    std::uint32_t len = 0;
    recv_all(&len, sizeof len);
    if (len > kMaxFrame) throw AuthenticationError("handshake: message of " + std::to_string(len) + " bytes is too long");
    Bytes b(len);
    if (len) recv_all(b.data(), len);
    return b;
  }

  int sock;
  Deadline deadline;
  int cancel;  // the listener's close() eventfd, or -1
};

void deliver(Channel& ch, const Bytes& key) {
  Bytes r = random_bytes(kNonceSize);
  Bytes nonce = concat(kDigestTag, r.data(), r.size());
  Bytes msg = concat(kChallenge, nonce.data(), nonce.size());
  ch.send(msg);
  Bytes response = ch.recv();
  Bytes expected = digest(key, nonce);
  if (response.size() != expected.size() || CRYPTO_memcmp(response.data(), expected.data(), expected.size()) != 0) {
    try {
      ch.send(to_bytes(kFailure));
    } catch (...) {
    }
    throw AuthenticationError("digest received was wrong");
  }
  ch.send(to_bytes(kWelcome));
}

void answer(Channel& ch, const Bytes& key) {
  Bytes msg = ch.recv();
  if (!starts_with(msg, kChallenge))
    throw AuthenticationError("Protocol error, expected challenge (got " + std::to_string(msg.size()) + " bytes)");
  Bytes nonce(msg.begin() + static_cast<std::ptrdiff_t>(kChallenge.size()), msg.end());
  if (!starts_with(nonce, kDigestTag)) throw AuthenticationError("Protocol error, unsupported digest in the challenge");
  ch.send(digest(key, nonce));
  Bytes response = ch.recv();
  if (!equals(response, kWelcome)) throw AuthenticationError("digest sent was rejected");
}

void check_family(const std::string& family) {
  if (!family.empty() && family != "AF_UNIX")
    throw ValueError("connection family " + family +
                     " is not offered: pyconc's Listener/Client work on one machine (AF_UNIX)");
}

sockaddr_un make_sockaddr(const std::string& address, socklen_t& len) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (address.empty()) throw ValueError("empty AF_UNIX address");
  if (address.size() > sizeof(sa.sun_path) - (address[0] == '\0' ? 0 : 1))
    throw ValueError("AF_UNIX address is too long (" + std::to_string(address.size()) + " bytes)");
  std::memcpy(sa.sun_path, address.data(), address.size());
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + (address[0] == '\0' ? 0 : 1));
  return sa;
}

std::string fresh_address() {
  char buf[64];
  std::snprintf(buf, sizeof buf, "pyconc-listener-%d-%016llx", multiprocessing::detail::self_pid(),
                static_cast<unsigned long long>(multiprocessing::detail::random_u64()));
  std::string address(1, '\0');
  address.append(buf);
  return address;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int release() noexcept { return std::exchange(fd, -1); }
};

// The listener's half of step 2: hands the client its end of a fresh Pipe.
Connection introduce_server(SocketChannel& ch) {
  auto [mine, theirs] = Pipe(true);
  Bytes wire;
  std::vector<int> fds;
  {
    multiprocessing::detail::FdExport exported;
    wire = pyconc::pickle::dumps(theirs);
    fds = exported.fds();
  }
  std::uint32_t len = static_cast<std::uint32_t>(wire.size());
  std::vector<char> frame(sizeof len + wire.size());
  std::memcpy(frame.data(), &len, sizeof len);
  std::memcpy(frame.data() + sizeof len, wire.data(), wire.size());
  iovec iov{frame.data(), frame.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)]{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fds.size() > 8) throw ValueError("internal: too many fds for the handshake");
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  wait_fd(ch.sock, POLLOUT, ch.deadline, "handshake send", ch.cancel);
  ssize_t r;
  do r = ::sendmsg(ch.sock, &msg, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EPIPE || errno == ECONNRESET) throw BrokenPipeError(errno, "the client closed the connection");
    raise_os_error(errno, "sendmsg");
  }
  if (static_cast<std::size_t>(r) < frame.size()) ch.send_all(frame.data() + r, frame.size() - static_cast<std::size_t>(r));
  char ack = 0;
  ch.recv_all(&ack, 1);
  if (ack != 'k') throw AuthenticationError("handshake: bad acknowledgement");
  connection::detail::unlink_segment(mine);
  return mine;  // `theirs` closes here: the client holds its own copies
}

Connection introduce_client(SocketChannel& ch) {
  std::uint32_t len = 0;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)]{};
  iovec iov{&len, sizeof len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  wait_fd(ch.sock, POLLIN, ch.deadline, "handshake receive", ch.cancel);
  ssize_t r;
  do r = ::recvmsg(ch.sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  while (r < 0 && errno == EINTR);
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      std::vector<int> got(n);
      std::memcpy(got.data(), CMSG_DATA(c), n * sizeof(int));
      fds.insert(fds.end(), got.begin(), got.end());
    }
  multiprocessing::detail::FdImport imported(std::move(fds));  // closes what is not taken
  if (r < 0) raise_os_error(errno, "recvmsg");
  if (r == 0) throw EOFError("the listener closed the connection during the handshake");
  if (static_cast<std::size_t>(r) < sizeof len) ch.recv_all(reinterpret_cast<char*>(&len) + r, sizeof len - static_cast<std::size_t>(r));
  if (len > kMaxFrame) throw AuthenticationError("handshake: message of " + std::to_string(len) + " bytes is too long");
  Bytes wire(len);
  if (len) ch.recv_all(wire.data(), len);
  if (starts_with(wire, kChallenge)) throw AuthenticationError("the listener requires an authkey");
  auto conn = pyconc::pickle::loads<Connection>(wire);
  char ack = 'k';
  ch.send_all(&ack, 1);
  return conn;
}

}  // namespace

// ---- Listener ----

struct Listener::State {
  mutable threading::Lock mutex;
  int sock = -1;
  int wake = -1;  // eventfd: close() wakes accept()
  std::string address;
  bool unlink_path = false;
  std::optional<Bytes> authkey;
  std::atomic<bool> closed{false};
  std::optional<std::string> last_accepted PYCONC_GUARDED_BY(mutex);
  std::atomic<int> users{0};
};

Listener::Listener(ListenerOptions options) : state_(std::make_shared<State>()) {
  check_family(options.family);
  if (options.backlog < 0) options.backlog = 0;
  auto& s = *state_;
  s.address = options.address ? *options.address : fresh_address();
  s.authkey = std::move(options.authkey);
  socklen_t len = 0;
  sockaddr_un sa = make_sockaddr(s.address, len);
  Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.fd < 0) raise_os_error(errno, "socket");
  if (::bind(sock.fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) raise_os_error(errno, "bind " + s.address);
  s.unlink_path = s.address[0] != '\0';
  if (::listen(sock.fd, options.backlog) != 0) {
    int e = errno;
    if (s.unlink_path) ::unlink(s.address.c_str());
    raise_os_error(e, "listen");
  }
  Fd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wake.fd < 0) {
    int e = errno;
    if (s.unlink_path) ::unlink(s.address.c_str());
    raise_os_error(e, "eventfd");
  }
  s.sock = sock.release();
  s.wake = wake.release();
}

Listener::~Listener() { close(); }

void Listener::close() noexcept {
  auto& s = *state_;
  if (s.closed.exchange(true)) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(s.wake, &one, sizeof one);
  for (int u; (u = s.users.load()) != 0;) s.users.wait(u);
  if (s.unlink_path) ::unlink(s.address.c_str());
  ::close(s.sock);
  ::close(s.wake);
  s.sock = s.wake = -1;
}

std::string Listener::address() const { return state_->address; }

std::optional<std::string> Listener::last_accepted() const {
  pyconc::detail::LockGuard guard(state_->mutex);
  return state_->last_accepted;
}

int Listener::fileno() const {
  if (state_->closed.load()) throw OSError("listener is closed");
  return state_->sock;
}

Connection Listener::accept() {
  auto& s = *state_;
  struct Use {
    State& s;
    explicit Use(State& st) : s(st) { s.users.fetch_add(1); }
    ~Use() {
      if (s.users.fetch_sub(1) == 1) s.users.notify_all();
    }
  } use(s);
  if (s.closed.load()) throw OSError("listener is closed");
  int fd = -1;
  sockaddr_un peer{};
  socklen_t peer_len = sizeof peer;
  for (;;) {
    pollfd p[2] = {{s.sock, POLLIN, 0}, {s.wake, POLLIN, 0}};
    int r = ::poll(p, 2, -1);
    if (r < 0 && errno != EINTR) raise_os_error(errno, "poll");
    if (s.closed.load()) throw OSError("listener is closed");
    if (r <= 0 || !(p[0].revents & POLLIN)) continue;
    peer_len = sizeof peer;
    fd = ::accept4(s.sock, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
    if (fd >= 0) break;
    if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
    raise_os_error(errno, "accept");
  }
  Fd conn_sock(fd);
  {
    std::string name;
    if (peer_len > offsetof(sockaddr_un, sun_path)) {
      std::size_t n = peer_len - offsetof(sockaddr_un, sun_path);
      name.assign(peer.sun_path, n);
      if (!name.empty() && name[0] != '\0') name = name.c_str();
    }
    pyconc::detail::LockGuard guard(s.mutex);
    s.last_accepted = std::move(name);
  }
  SocketChannel ch(conn_sock.fd, Deadline::after(Seconds(kHandshakeTimeout)), s.wake);
  if (s.authkey) {
    deliver(ch, *s.authkey);
    answer(ch, *s.authkey);
  }
  return introduce_server(ch);
}

// ---- Client ----

Connection Client(const std::string& address, ClientOptions options) {
  check_family(options.family);
  socklen_t len = 0;
  sockaddr_un sa = make_sockaddr(address, len);
  Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.fd < 0) raise_os_error(errno, "socket");
  int r;
  do r = ::connect(sock.fd, reinterpret_cast<sockaddr*>(&sa), len);
  while (r != 0 && errno == EINTR);
  if (r != 0) {
    int e = errno;
    std::string shown = "connect to ";
    if (address[0] == '\0') {
      shown.push_back('@');
      shown.append(address, 1, std::string::npos);
    } else {
      shown.append(address);
    }
    raise_os_error(e, shown);
  }
  SocketChannel ch(sock.fd, Deadline::never());
  if (options.authkey) {
    answer(ch, *options.authkey);
    deliver(ch, *options.authkey);
  }
  return introduce_client(ch);
}

void deliver_challenge(Connection& connection, const std::vector<std::byte>& authkey) {
  ConnectionChannel ch(connection);
  deliver(ch, authkey);
}

void answer_challenge(Connection& connection, const std::vector<std::byte>& authkey) {
  ConnectionChannel ch(connection);
  answer(ch, authkey);
}

}  // namespace pyconc::multiprocessing::connection
