// Waiting and waking at the two ends of a Pipe (the protocol: connection_doorbell.hpp).
//
//   reader: spin ≤ 20 µs ─► sleepers++ ─► ppoll(eventfd, liveness socket) ─► settle()
//   writer: publish head ─► sleepers or watched? ─► rung 0→1 ─► write(eventfd)
//   writer without room: writer_waiting++ ─► futex(space_epoch) ◄─ reader: epoch++, wake
#include "connection_doorbell.hpp"

#include <poll.h>
#include <signal.h>

#include <algorithm>

#include "connection_state.hpp"

namespace pyconc::multiprocessing::connection::detail {

namespace {

timespec to_timespec(std::chrono::nanoseconds ns) {
  if (ns.count() < 0) ns = std::chrono::nanoseconds(0);
  return timespec{static_cast<time_t>(ns.count() / 1'000'000'000), static_cast<long>(ns.count() % 1'000'000'000)};
}

}  // namespace

void settle(Direction& in, int efd_in) noexcept {
  std::uint64_t v;
  while (::read(efd_in, &v, sizeof v) < 0 && errno == EINTR) {
  }
  in.rung.store(0, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if ((in.watched.load(std::memory_order_relaxed) || in.sleepers.load(std::memory_order_relaxed)) && has_data(in) &&
      in.rung.exchange(1) == 0)
    ring_doorbell(efd_in);
}

void watch(Direction& in, int efd_in) noexcept {
  in.watched.store(1, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (has_data(in) && in.rung.exchange(1) == 0) ring_doorbell(efd_in);
}

bool peer_gone(int sock) noexcept {
  pollfd p{sock, POLLIN | POLLRDHUP, 0};
  int r;
  do r = ::poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  return r > 0 && (p.revents & (POLLIN | POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

timespec slice_for(const Deadline& deadline, bool sliced) {
  auto slice = std::chrono::duration_cast<std::chrono::nanoseconds>(kSlice);
  if (deadline.is_never()) return to_timespec(sliced ? slice : std::chrono::nanoseconds(std::chrono::hours(1)));
  auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.remaining());
  return to_timespec(sliced ? std::min(left, slice) : left);
}

// ---- the reader ----

ConnectionState::Ready ConnectionState::wait_readable(const Deadline& deadline, bool mid_message) {
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

ConnectionState::Ready ConnectionState::sleep_until_readable(const Deadline& deadline, bool mid_message) {
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

// ---- the writer ----

void ConnectionState::wait_for_room(std::uint64_t head) {
  auto room = [&] { return ring_distance(head, out->tail.load(std::memory_order_acquire), cap) < cap; };
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

}  // namespace pyconc::multiprocessing::connection::detail
