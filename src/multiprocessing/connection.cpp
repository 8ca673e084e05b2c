// multiprocessing.Pipe and the Connection API: one end of a Pipe, its lifetime and its
// calls. The parts of a Pipe, each in its own source:
//
//   sender process                  shared memory segment              receiver process
//   ──────────────                  ─────────────────────              ────────────────
//   conn.send(obj)                  Header: per direction head, tail,
//    └ pickle ─► send_bytes           sleepers, rung, locks
//       └ send_message ─ framing ─► ring (1 MiB): [len 8][payload]...
//          (connection_ring.cpp)      head += k, publish ──────────────► recv_bytes()
//          │                                                              └ receive/get
//          └ wake_reader: someone asleep? ─► eventfd "doorbell" ───────► ppoll() wakes
//            (connection_doorbell.cpp)                                     (after a 20 µs spin)
//   ring full: the sender sleeps on the futex space_epoch ◄── reader frees room, wakes it
//   either end gone: EOF/HUP on the liveness socketpair (a sleeper's ppoll sees it)
//
//   Who sleeps where: a reader in ppoll(doorbell eventfd, liveness socket), in slices of
//   50 ms; a writer without room on the futex `space_epoch`, in slices that look at the
//   liveness socket; connection::wait() in one ppoll over every object
//   (connection_wait.cpp). A Connection crosses into a child as its segment name and
//   fds (connection_export.cpp).
#include "pyconc/multiprocessing/connection.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>

#include "connection_doorbell.hpp"
#include "connection_state.hpp"

namespace pyconc::multiprocessing::connection {

using detail::ConnectionState;
using detail::Deadline;
using detail::Use;

// ---- one end's lifetime ----

void detail::close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void ConnectionState::close() noexcept {
  if (closed.exchange(true)) return;
  // Wake this process's calls blocked on this end: they see `closed` and raise.
  if (efd_in >= 0) ring_doorbell(efd_in);
  if (out) {
    out->space_epoch.fetch_add(1);
    pyconc::detail::futex_wake_all(out->space_epoch, true);
  }
  if (pid == multiprocessing::detail::self_pid())
    for (int u; (u = users.load()) != 0;) users.wait(u);
  close_fd(sock);
  close_fd(efd_in);
  close_fd(efd_out);
  int ep = epfd.exchange(-1);
  close_fd(ep);
}

void ConnectionState::check_readable() const {
  if (closed.load()) handle_closed();
  if (!readable.load()) throw OSError("connection is write-only");
}

void ConnectionState::check_writable() const {
  if (closed.load()) handle_closed();
  if (!writable.load()) throw OSError("connection is read-only");
}

// ---- Connection ----

void Connection::send_bytes(std::span<const std::byte> buf, long long offset, std::optional<long long> size) {
  Use use(state_);
  auto& s = use.s;
  s.check_writable();
  long long n = static_cast<long long>(buf.size());
  if (offset < 0) throw ValueError("offset is negative");
  if (n < offset) throw ValueError("buffer length < offset");
  long long count;
  if (!size) count = n - offset;
  else if (*size < 0) throw ValueError("size is negative");
  else if (offset + *size > n) throw ValueError("buffer length < offset + size");
  else count = *size;
  s.send_message(buf.data() + offset, static_cast<std::uint64_t>(count));
}

std::vector<std::byte> Connection::recv_bytes(std::optional<long long> maxlength) {
  bool close_now = false;
  {
    Use use(state_);
    auto& s = use.s;
    s.check_readable();
    if (maxlength && *maxlength < 0) throw ValueError("negative maxlength");
    bool too_long = false;
    auto result = s.receive([&](std::uint64_t tail, std::uint64_t size) {
      std::vector<std::byte> out;
      if (maxlength && size > static_cast<std::uint64_t>(*maxlength)) {
        too_long = true;
        return out;
      }
      out.reserve(std::min(size, s.cap));
      s.get(tail, nullptr, &out, size);
      s.finish_read(tail);
      return out;
    });
    if (!too_long) return result;
    // As Python: the message stays unread and this end stops being readable (a
    // read-only end is closed).
    s.readable.store(false);
    close_now = !s.writable.load();
  }
  if (close_now) close();
  throw OSError("bad message length");
}

void Connection::recv_bytes_reusing(std::vector<std::byte>& out) {
  Use use(state_);
  auto& s = use.s;
  s.check_readable();
  s.receive([&](std::uint64_t tail, std::uint64_t size) {
    out.clear();
    if (out.capacity() < size) out.reserve(std::min(size, s.cap));
    s.get(tail, nullptr, &out, size);
    s.finish_read(tail);
    return 0;
  });
}

std::size_t Connection::recv_bytes_into(std::span<std::byte> buf, long long offset) {
  Use use(state_);
  auto& s = use.s;
  s.check_readable();
  if (offset < 0) throw ValueError("negative offset");
  if (offset > static_cast<long long>(buf.size())) throw ValueError("offset too large");
  std::uint64_t room = buf.size() - static_cast<std::size_t>(offset);
  std::vector<std::byte> whole;
  bool too_short = false;
  std::size_t got = s.receive([&](std::uint64_t tail, std::uint64_t size) -> std::size_t {
    if (size <= room) {
      s.get(tail, buf.data() + offset, nullptr, size);
    } else {
      too_short = true;
      whole.reserve(std::min(size, s.cap));
      s.get(tail, nullptr, &whole, size);
    }
    s.finish_read(tail);
    return static_cast<std::size_t>(size);
  });
  if (too_short) throw BufferTooShort(std::move(whole));
  return got;
}

bool Connection::poll(Seconds timeout) {
  Use use(state_);
  auto& s = use.s;
  s.check_readable();
  return s.wait_readable(Deadline::after(timeout), false) != ConnectionState::Ready::timeout;
}

bool Connection::poll_forever() {
  Use use(state_);
  auto& s = use.s;
  s.check_readable();
  return s.wait_readable(Deadline::never(), false) != ConnectionState::Ready::timeout;
}

void Connection::close() noexcept {
  if (state_) state_->close();
}

bool Connection::closed() const noexcept { return !state_ || state_->closed.load(); }
bool Connection::readable() const noexcept { return state_ && state_->readable.load(); }
bool Connection::writable() const noexcept { return state_ && state_->writable.load(); }

int Connection::fileno() const {
  Use use(state_);
  auto& s = use.s;
  std::lock_guard guard(s.epoll_mutex);
  int ep = s.epfd.load();
  if (ep >= 0) return ep;
  ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) raise_os_error(errno, "epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = s.sock;
  int ok = ::epoll_ctl(ep, EPOLL_CTL_ADD, s.sock, &ev);
  if (ok == 0 && s.in) {
    ev.events = EPOLLIN;
    ev.data.fd = s.efd_in;
    ok = ::epoll_ctl(ep, EPOLL_CTL_ADD, s.efd_in, &ev);
  }
  if (ok != 0) {
    int e = errno;
    ::close(ep);
    raise_os_error(e, "epoll_ctl");
  }
  if (s.in) detail::watch(*s.in, s.efd_in);
  s.epfd.store(ep);
  return ep;
}

}  // namespace pyconc::multiprocessing::connection

namespace pyconc::multiprocessing {

std::pair<Connection, Connection> Pipe(bool duplex) {
  using namespace connection::detail;
  std::uint32_t ndirs = duplex ? 2 : 1;
  auto seg = SharedSegment::create(segment_size(ndirs));
  auto* hdr = new (seg->data()) Header{};
  hdr->magic = kMagic;
  hdr->capacity = kCapacity;
  hdr->ndirs = ndirs;
  int sv[2] = {-1, -1};
  int efd[2] = {-1, -1};
  auto fail = [&](const char* what) {
    int e = errno;
    for (int& fd : sv) close_fd(fd);
    for (int& fd : efd) close_fd(fd);
    raise_os_error(e, what);
  };
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fail("socketpair");
  for (std::uint32_t d = 0; d < ndirs; ++d)
    if ((efd[d] = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) fail("eventfd");
  std::shared_ptr<ConnectionState> a, b;
  if (duplex) {
    a = make_end(seg, 0, true, true, true);
    b = make_end(seg, 1, true, true, true);
    a->sock = sv[0];
    a->efd_in = efd[0];
    a->efd_out = ::fcntl(efd[1], F_DUPFD_CLOEXEC, 0);
    b->sock = sv[1];
    b->efd_in = efd[1];
    b->efd_out = ::fcntl(efd[0], F_DUPFD_CLOEXEC, 0);
    if (a->efd_out < 0 || b->efd_out < 0) {
      int e = errno;
      a.reset();
      b.reset();
      raise_os_error(e, "fcntl");
    }
  } else {
    a = make_end(seg, 0, false, true, false);
    b = make_end(seg, 1, false, false, true);
    a->sock = sv[0];
    a->efd_in = efd[0];
    b->sock = sv[1];
    b->efd_out = ::fcntl(efd[0], F_DUPFD_CLOEXEC, 0);
    if (b->efd_out < 0) {
      int e = errno;
      a.reset();
      b.reset();
      raise_os_error(e, "fcntl");
    }
  }
  return {ConnectionAccess::wrap(std::move(a)), ConnectionAccess::wrap(std::move(b))};
}

}  // namespace pyconc::multiprocessing
