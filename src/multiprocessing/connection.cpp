// multiprocessing.Pipe / Connection / connection.wait over shared-memory rings.
//
// Layout of a Pipe's segment: a Header (one Direction per direction: duplex 2, else 1),
// padded to a page, then one ring of kCapacity bytes per direction.
//
// A message is an 8-byte little-endian length followed by the payload, written into
// the ring as room appears (so any size streams through). `head` counts bytes ever
// published by the sender, `tail` bytes ever consumed by the receiver; head - tail is
// what waits in the ring.
//
// Waking a reader: the reader spins a few microseconds, then registers in `sleepers`
// and poll()s its eventfd (and the liveness socket). A writer, after publishing, rings
// the eventfd only when someone sleeps or fileno() was exposed (`watched`), and only
// once until a reader clears `rung` (Dekker pattern with seq_cst fences on both sides).
// A writer waiting for room sleeps on the futex word `space_epoch`, in slices that
// check the peer's socket; the reader bumps and wakes it when `writer_waiting`.
//
// Liveness: a socketpair between the two ends carries no data; POLLHUP/EOF on it means
// every process holding the other end has closed it or died.
#include "pyconc/multiprocessing/connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>

#include "pyconc/detail/futex.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/process_mutex.hpp"
#include "pyconc/multiprocessing/detail/reduction.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"

namespace pyconc::multiprocessing::connection {

using multiprocessing::detail::ProcessMutex;
using multiprocessing::detail::SharedSegment;
using pyconc::detail::Deadline;

namespace {

constexpr std::uint64_t kMagic = 0x7079636f6e635049ull;  // "pyconcPI"
constexpr std::uint64_t kCapacity = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxMessage = std::uint64_t{1} << 46;
constexpr std::size_t kHeaderSize = 4096;
constexpr std::uint32_t kNoFd = 0xffffffffu;
constexpr auto kSlice = std::chrono::milliseconds(50);
// How long a waiter spins before it sleeps. No sched_yield phase: on a loaded machine a
// yield can cost a whole scheduling round (milliseconds), and a process that spins long
// loses the wake-up priority the scheduler gives sleepers.
constexpr auto kSpinFor = std::chrono::nanoseconds(20'000);
constexpr auto kLivenessEvery = std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::milliseconds(1));

struct Direction {
  alignas(64) std::atomic<std::uint64_t> head;
  alignas(64) std::atomic<std::uint64_t> tail;
  alignas(64) std::atomic<std::uint32_t> sleepers;
  std::atomic<std::uint32_t> rung;
  std::atomic<std::uint32_t> watched;
  std::atomic<std::uint32_t> writer_waiting;
  std::atomic<std::uint32_t> space_epoch;
  std::atomic<std::uint32_t> broken;
  ProcessMutex send_lock;
  ProcessMutex recv_lock;
};

struct Header {
  std::uint64_t magic;
  std::uint64_t capacity;
  std::uint32_t ndirs;
  Direction dirs[2];
};
static_assert(sizeof(Header) <= kHeaderSize);
// The tests scribble at these offsets.
static_assert(sizeof(Direction) == 192 && offsetof(Header, dirs) == 64 && offsetof(Direction, tail) == 64);

[[noreturn]] void corrupt(const char* what) {
  throw OSError(EBADMSG, std::string("corrupt connection data: ") + what);
}

[[noreturn]] void handle_closed() { throw OSError("handle is closed"); }

void ring_doorbell(int efd) noexcept {
  std::uint64_t one = 1;
  ssize_t r;
  do r = ::write(efd, &one, sizeof one);
  while (r < 0 && errno == EINTR);
}

// Whether every holder of the other end is gone (EOF/HUP on the liveness socket).
bool peer_gone(int sock) noexcept {
  pollfd p{sock, POLLIN | POLLRDHUP, 0};
  int r;
  do r = ::poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  return r > 0 && (p.revents & (POLLIN | POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

timespec to_timespec(std::chrono::nanoseconds ns) {
  if (ns.count() < 0) ns = std::chrono::nanoseconds(0);
  return timespec{static_cast<time_t>(ns.count() / 1'000'000'000), static_cast<long>(ns.count() % 1'000'000'000)};
}

// The timeout of one poll slice: at most kSlice, at most what the deadline leaves.
timespec slice_for(const Deadline& deadline, bool sliced) {
  auto slice = std::chrono::duration_cast<std::chrono::nanoseconds>(kSlice);
  if (deadline.is_never()) return to_timespec(sliced ? slice : std::chrono::nanoseconds(std::chrono::hours(1)));
  auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.remaining());
  return to_timespec(sliced ? std::min(left, slice) : left);
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

namespace detail {

struct ConnectionState {
  std::shared_ptr<SharedSegment> segment;
  std::uint32_t role = 0;
  Direction* in = nullptr;
  std::byte* in_ring = nullptr;
  Direction* out = nullptr;
  std::byte* out_ring = nullptr;
  std::uint64_t cap = kCapacity;
  int sock = -1, efd_in = -1, efd_out = -1;
  std::atomic<int> epfd{-1};
  std::mutex epoll_mutex;  // lazy creation of epfd
  std::atomic<bool> readable{false}, writable{false}, closed{false};
  std::atomic<int> users{0};
  // When send() last saw the peer alive (steady_clock ticks; very old at first).
  std::atomic<std::chrono::steady_clock::rep> last_liveness{std::numeric_limits<std::chrono::steady_clock::rep>::min() / 2};
  // The process these counters belong to: a fork child inherits `users` counting the
  // parent's threads, which it must not wait for.
  int pid = multiprocessing::detail::self_pid();

  ~ConnectionState() { close(); }

  void close() noexcept {
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

  bool has_data() const noexcept { return in->head.load(std::memory_order_acquire) != in->tail.load(std::memory_order_relaxed); }

  // Clears the doorbell after a wake-up, then re-rings it if data is still there and
  // someone else sleeps or watches fileno().
  void settle() noexcept {
    std::uint64_t v;
    while (::read(efd_in, &v, sizeof v) < 0 && errno == EINTR) {
    }
    in->rung.store(0, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if ((in->watched.load(std::memory_order_relaxed) || in->sleepers.load(std::memory_order_relaxed)) && has_data() &&
        in->rung.exchange(1) == 0)
      ring_doorbell(efd_in);
  }

  enum class Ready { data, eof, timeout };

  // Waits until the incoming ring has bytes, the peer is gone, or the deadline.
  // `mid_message`: a message has been partly read; a sender lock that is free (or held
  // by a dead process) while the ring is empty means it will never be completed.
  Ready wait_readable(const Deadline& deadline, bool mid_message) {
    if (has_data()) return Ready::data;
    if (!deadline.expired()) {
      auto t0 = std::chrono::steady_clock::now();
      for (unsigned i = 1;; ++i) {
        pyconc::detail::cpu_relax();
        if (has_data()) return Ready::data;
        if ((i & 31) == 0 &&
            (std::chrono::steady_clock::now() - t0 > kSpinFor || closed.load(std::memory_order_relaxed) ||
             deadline.expired()))
          break;
      }
    }
    return sleep_until_readable(deadline, mid_message);
  }

  Ready sleep_until_readable(const Deadline& deadline, bool mid_message) {
    for (;;) {
      if (closed.load()) handle_closed();
      if (mid_message) {
        std::uint32_t word = in->send_lock.word.load(std::memory_order_acquire);
        int holder = static_cast<int>(word & ProcessMutex::kPidMask);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (!has_data()) {
          if (holder == 0) {
            // A sender that failed mid-message marks the stream broken before it unlocks.
            if (in->broken.load()) return Ready::eof;
            corrupt("a message is shorter than its length header");
          }
          if (!multiprocessing::detail::process_alive(holder)) {
            in->broken.store(1);  // the rest of this message will never come
            return Ready::eof;
          }
        }
      }
      if (in->broken.load()) return has_data() ? Ready::data : Ready::eof;
      in->sleepers.fetch_add(1, std::memory_order_seq_cst);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (has_data()) {
        in->sleepers.fetch_sub(1);
        return Ready::data;
      }
      pollfd fds[2] = {{efd_in, POLLIN, 0}, {sock, POLLIN | POLLRDHUP, 0}};
      timespec ts = slice_for(deadline, true);
      int r = ::ppoll(fds, 2, &ts, nullptr);
      in->sleepers.fetch_sub(1);
      if (r > 0 && (fds[0].revents & POLLIN)) settle();
      if (has_data()) return Ready::data;
      if (closed.load()) handle_closed();
      if (r > 0 && fds[1].revents) return Ready::eof;
      if (deadline.expired()) return Ready::timeout;
    }
  }

  void check_readable() const {
    if (closed.load()) handle_closed();
    if (!readable.load()) throw OSError("connection is write-only");
  }
  void check_writable() const {
    if (closed.load()) handle_closed();
    if (!writable.load()) throw OSError("connection is read-only");
  }

  // ---- sending ----

  void wake_writer() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (in->writer_waiting.load(std::memory_order_relaxed)) {
      in->space_epoch.fetch_add(1);
      pyconc::detail::futex_wake_all(in->space_epoch, true);
    }
  }

  void wake_reader() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if ((out->sleepers.load(std::memory_order_relaxed) || out->watched.load(std::memory_order_relaxed)) &&
        out->rung.load(std::memory_order_relaxed) == 0 && out->rung.exchange(1) == 0)
      ring_doorbell(efd_out);
  }

  void publish_head(std::uint64_t head) noexcept {
    out->head.store(head, std::memory_order_release);
    wake_reader();
  }

  // Waits until the outgoing ring has room (head is what this sender has published).
  void wait_for_room(std::uint64_t head) {
    auto room = [&] {
      std::uint64_t used = head - out->tail.load(std::memory_order_acquire);
      if (used > cap) corrupt("ring counters out of range");
      return used < cap;
    };
    auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 1;; ++i) {
      pyconc::detail::cpu_relax();
      if (room()) return;
      if ((i & 63) == 0 && std::chrono::steady_clock::now() - t0 > kSpinFor) break;
    }
    out->writer_waiting.fetch_add(1, std::memory_order_seq_cst);
    struct Leave {
      Direction* d;
      ~Leave() { d->writer_waiting.fetch_sub(1); }
    } leave{out};
    for (;;) {
      std::uint32_t epoch = out->space_epoch.load(std::memory_order_seq_cst);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (room()) return;
      if (closed.load()) handle_closed();
      if (peer_gone(sock) || out->broken.load()) throw BrokenPipeError("the other end of the pipe is closed");
      multiprocessing::detail::shared_wait_slice(out->space_epoch, epoch, Deadline::never());
    }
  }

  // Takes a direction's lock, in slices so that close() of this end interrupts the wait
  // (docs/conventions.md, "Thread safety"): another thread or process may hold it for a
  // whole long message.
  ProcessMutex::Acquire lock_or_closed(ProcessMutex& m) {
    if (m.try_lock()) return ProcessMutex::Acquire::ok;  // the usual case, no clock read
    for (;;) {
      auto r = m.lock(Deadline::after(pyconc::Seconds(ProcessMutex::kCheckInterval)));
      if (r != ProcessMutex::Acquire::timeout) {
        if (closed.load()) {
          m.unlock();
          handle_closed();
        }
        return r;
      }
      if (closed.load()) handle_closed();
    }
  }

  void send_message(const std::byte* data, std::uint64_t size) {
    auto r = lock_or_closed(out->send_lock);
    if (r == ProcessMutex::Acquire::owner_died) out->broken.store(1);
    struct Unlock {
      ProcessMutex& m;
      ~Unlock() { m.unlock(); }
    } unlock{out->send_lock};
    if (out->broken.load()) throw BrokenPipeError("a process died while sending on this connection; the stream is lost");
    // Asking the kernel whether the peer lives costs a system call: on a busy pipe it is
    // asked at most once per kLivenessEvery (and whenever the sender must wait).
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    if (now - last_liveness.load(std::memory_order_relaxed) >= kLivenessEvery.count()) {
      if (peer_gone(sock)) throw BrokenPipeError("the other end of the pipe is closed");
      last_liveness.store(now, std::memory_order_relaxed);
    }
    std::uint64_t head = out->head.load(std::memory_order_relaxed);
    std::byte header[8];
    for (int i = 0; i < 8; ++i) header[i] = static_cast<std::byte>(size >> (8 * i));
    auto put = [&](const std::byte* p, std::uint64_t n) {
      while (n > 0) {
        std::uint64_t used = head - out->tail.load(std::memory_order_acquire);
        if (used > cap) corrupt("ring counters out of range");
        std::uint64_t room = cap - used;
        if (room == 0) {
          publish_head(head);
          wait_for_room(head);
          continue;
        }
        // Big messages go in slices of cap/8, each published at once, so the reader
        // drains while the writer fills (no full-ring/empty-ring ping-pong).
        std::uint64_t k = std::min({n, room, cap / 8});
        std::uint64_t at = head & (cap - 1);
        std::uint64_t first = std::min(k, cap - at);
        std::memcpy(out_ring + at, p, first);
        if (k > first) std::memcpy(out_ring, p + first, k - first);
        head += k;
        p += k;
        n -= k;
        if (n > 0) publish_head(head);
      }
    };
    const std::uint64_t start = head;
    try {
      put(header, 8);
      put(data, size);
    } catch (...) {
      // Part of the message is out already: the next message would be read as its rest.
      // The stream is lost; the reader gets EOFError once it reaches the gap.
      if (out->head.load(std::memory_order_relaxed) != start) {
        out->broken.store(1);
        wake_reader();
      }
      throw;
    }
    publish_head(head);
  }

  // ---- receiving ----

  // Copies n bytes of the current message out of the ring (into `dst`, or with
  // dst == nullptr appending to `grow`), waiting for them as needed.
  void get(std::uint64_t& tail, std::byte* dst, std::vector<std::byte>* grow, std::uint64_t n) {
    while (n > 0) {
      std::uint64_t avail = in->head.load(std::memory_order_acquire) - tail;
      if (avail > cap) corrupt("ring counters out of range");
      if (avail == 0) {
        in->tail.store(tail, std::memory_order_release);
        wake_writer();
        if (wait_readable(Deadline::never(), true) == Ready::eof)
          throw EOFError("the other end of the pipe closed in the middle of a message");
        continue;
      }
      std::uint64_t k = std::min({n, avail, cap / 8});
      std::uint64_t at = tail & (cap - 1);
      std::uint64_t first = std::min(k, cap - at);
      std::byte* to = dst;
      if (!to) {
        std::size_t old = grow->size();
        grow->resize(old + k);
        to = grow->data() + old;
      }
      std::memcpy(to, in_ring + at, first);
      if (k > first) std::memcpy(to + first, in_ring, k - first);
      if (dst) dst += k;
      tail += k;
      n -= k;
      if (n > 0) {  // a big message: free the room at once (see send_message)
        in->tail.store(tail, std::memory_order_release);
        wake_writer();
      }
    }
  }

  void finish_read(std::uint64_t tail) noexcept {
    in->tail.store(tail, std::memory_order_release);
    wake_writer();
    // With fileno() exposed, keep the fd readable exactly while data waits.
    if (in->watched.load(std::memory_order_relaxed) && in->rung.load(std::memory_order_relaxed) && !has_data()) settle();
  }

  template <class Body>
  auto receive(Body body) {
    auto r = lock_or_closed(in->recv_lock);
    if (r == ProcessMutex::Acquire::owner_died) in->broken.store(1);
    struct Unlock {
      ProcessMutex& m;
      ~Unlock() { m.unlock(); }
    } unlock{in->recv_lock};
    if (in->broken.load() && r == ProcessMutex::Acquire::owner_died)
      throw EOFError("a process died while receiving from this connection; the stream is lost");
    if (wait_readable(Deadline::never(), false) == Ready::eof) throw EOFError("the other end of the pipe is closed");
    std::uint64_t tail = in->tail.load(std::memory_order_relaxed);
    std::byte header[8];
    get(tail, header, nullptr, 8);
    std::uint64_t size = 0;
    for (int i = 0; i < 8; ++i) size |= std::uint64_t(header[i]) << (8 * i);
    if (size > kMaxMessage) corrupt("message length header out of range");
    return body(tail, size);
  }
};

}  // namespace detail

namespace {

// The state of a live (not closed) connection, or OSError.
struct Use {
  detail::ConnectionState& s;
  explicit Use(const std::shared_ptr<detail::ConnectionState>& p) : s(checked(p)) {
    s.users.fetch_add(1, std::memory_order_seq_cst);
    if (s.closed.load(std::memory_order_seq_cst)) {
      release();
      handle_closed();
    }
  }
  ~Use() { release(); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

 private:
  static detail::ConnectionState& checked(const std::shared_ptr<detail::ConnectionState>& p) {
    if (!p) handle_closed();
    return *p;
  }
  void release() noexcept {
    if (s.users.fetch_sub(1) == 1) s.users.notify_all();
  }
};

std::shared_ptr<detail::ConnectionState> make_end(const std::shared_ptr<SharedSegment>& seg, std::uint32_t role,
                                                  bool duplex, bool readable, bool writable) {
  auto s = std::make_shared<detail::ConnectionState>();
  auto* hdr = static_cast<Header*>(seg->data());
  auto* rings = static_cast<std::byte*>(seg->data()) + kHeaderSize;
  s->segment = seg;
  s->role = role;
  s->cap = hdr->capacity;
  // duplex: end 0 reads direction 0 and writes direction 1; end 1 the reverse.
  // one-way: end 0 reads direction 0, end 1 writes it.
  std::uint32_t rd = duplex ? role : 0, wr = duplex ? 1 - role : 0;
  if (readable) {
    s->in = &hdr->dirs[rd];
    s->in_ring = rings + rd * s->cap;
  }
  if (writable) {
    s->out = &hdr->dirs[wr];
    s->out_ring = rings + wr * s->cap;
  }
  s->readable = readable;
  s->writable = writable;
  return s;
}

}  // namespace

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
  return s.wait_readable(Deadline::after(timeout), false) != detail::ConnectionState::Ready::timeout;
}

bool Connection::poll_forever() {
  Use use(state_);
  auto& s = use.s;
  s.check_readable();
  return s.wait_readable(Deadline::never(), false) != detail::ConnectionState::Ready::timeout;
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
  if (s.in) {
    s.in->watched.store(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (s.has_data() && s.in->rung.exchange(1) == 0) ring_doorbell(s.efd_in);
  }
  s.epfd.store(ep);
  return ep;
}

void detail::unlink_segment(const Connection& c) {
  if (c.state() && !c.state()->segment->unlinked()) c.state()->segment->unlink();
}

Connection::Wire Connection::export_wire() const {
  Use use(state_);
  auto& s = use.s;
  if (s.segment->unlinked())
    throw ValueError("a Connection made by Listener.accept() or Client() crosses only into fork children");
  Wire w;
  w.segment = s.segment->name();
  w.role = s.role;
  w.readable = s.readable.load();
  w.writable = s.writable.load();
  auto exp = [](int fd) { return fd >= 0 ? multiprocessing::detail::export_fd(fd) : kNoFd; };
  w.sock = exp(s.sock);
  w.efd_in = exp(s.efd_in);
  w.efd_out = exp(s.efd_out);
  return w;
}

void Connection::import_wire(const Wire& w) {
  auto imp = [](std::uint32_t i) { return i == kNoFd ? -1 : multiprocessing::detail::import_fd(i); };
  int sock = imp(w.sock), efd_in = imp(w.efd_in), efd_out = imp(w.efd_out);
  try {
    if (w.role > 1 || (!w.readable && !w.writable)) throw ValueError("corrupt Connection data");
    auto seg = SharedSegment::open(w.segment);
    auto* hdr = static_cast<Header*>(seg->data());
    if (seg->size() < kHeaderSize || hdr->magic != kMagic || hdr->capacity != kCapacity ||
        (hdr->ndirs != 1 && hdr->ndirs != 2) || seg->size() != kHeaderSize + hdr->ndirs * kCapacity)
      throw ValueError("segment " + w.segment + " is not a pyconc Pipe");
    bool duplex = hdr->ndirs == 2;
    if (sock < 0 || (w.readable && efd_in < 0) || (w.writable && efd_out < 0))
      throw ValueError("corrupt Connection data");
    auto s = make_end(seg, w.role, duplex, w.readable, w.writable);
    s->sock = sock;
    s->efd_in = efd_in;
    s->efd_out = efd_out;
    state_ = std::move(s);
  } catch (...) {
    close_fd(sock);
    close_fd(efd_in);
    close_fd(efd_out);
    throw;
  }
}

// ---- wait ----

namespace {

std::vector<Waitable> wait_until(const std::vector<Waitable>& objects, const Deadline& deadline) {
  struct Entry {
    std::unique_ptr<Use> use;
    detail::ConnectionState* s = nullptr;
  };
  std::vector<Entry> entries(objects.size());
  for (std::size_t i = 0; i < objects.size(); ++i)
    if (auto* c = objects[i].connection()) {
      entries[i].use = std::make_unique<Use>(c->state());
      entries[i].s = &entries[i].use->s;
    }
  std::vector<pollfd> fds;
  for (;;) {
    std::vector<Waitable> ready;
    for (std::size_t i = 0; i < objects.size(); ++i)
      if (entries[i].s && entries[i].s->in && entries[i].s->has_data()) ready.push_back(objects[i]);
    if (!ready.empty()) return ready;

    fds.clear();
    for (std::size_t i = 0; i < objects.size(); ++i) {
      if (auto* s = entries[i].s) {
        fds.push_back({s->in ? s->efd_in : -1, POLLIN, 0});
        fds.push_back({s->sock, POLLIN | POLLRDHUP, 0});
        if (s->in) s->in->sleepers.fetch_add(1, std::memory_order_seq_cst);
      } else {
        fds.push_back({objects[i].fd(), POLLIN, 0});
      }
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    bool any = false;
    for (auto& e : entries)
      if (e.s && e.s->in && e.s->has_data()) any = true;
    int r = 0;
    if (!any) {
      timespec ts = slice_for(deadline, false);
      r = ::ppoll(fds.data(), fds.size(), deadline.is_never() ? nullptr : &ts, nullptr);
      if (r < 0 && errno != EINTR) {
        int e = errno;
        for (auto& en : entries)
          if (en.s && en.s->in) en.s->in->sleepers.fetch_sub(1);
        raise_os_error(e, "poll");
      }
    }
    std::size_t k = 0;
    for (std::size_t i = 0; i < objects.size(); ++i) {
      if (auto* s = entries[i].s) {
        pollfd& doorbell = fds[k++];
        pollfd& live = fds[k++];
        if (s->in) {
          s->in->sleepers.fetch_sub(1);
          if (r > 0 && (doorbell.revents & POLLIN)) s->settle();
        }
        if (s->closed.load()) handle_closed();
        if ((s->in && s->has_data()) || (r > 0 && live.revents)) ready.push_back(objects[i]);
      } else {
        pollfd& p = fds[k++];
        if (p.revents & POLLNVAL) throw OSError(EBADF, "wait: invalid file descriptor " + std::to_string(p.fd));
        if (r > 0 && p.revents) ready.push_back(objects[i]);
      }
    }
    if (!ready.empty() || deadline.expired()) return ready;
  }
}

}  // namespace

std::vector<Waitable> wait(const std::vector<Waitable>& objects) { return wait_until(objects, Deadline::never()); }
std::vector<Waitable> wait(const std::vector<Waitable>& objects, Seconds timeout) {
  return wait_until(objects, Deadline::after(timeout));
}

}  // namespace pyconc::multiprocessing::connection

namespace pyconc::multiprocessing {

std::pair<Connection, Connection> Pipe(bool duplex) {
  using namespace connection;
  using multiprocessing::detail::SharedSegment;
  using connection::detail::ConnectionState;
  std::uint32_t ndirs = duplex ? 2 : 1;
  auto seg = SharedSegment::create(kHeaderSize + ndirs * kCapacity);
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
  return {Connection(std::move(a)), Connection(std::move(b))};
}

}  // namespace pyconc::multiprocessing
