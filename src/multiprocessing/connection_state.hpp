// One end of a Pipe in one process: what a Connection handle points at.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "pyconc/detail/timeout.hpp"
#include "pyconc/multiprocessing/connection.hpp"
#include "pyconc/multiprocessing/detail/connection_access.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"
#include "connection_doorbell.hpp"
#include "connection_ring.hpp"

namespace pyconc::multiprocessing::connection::detail {

using multiprocessing::detail::SharedSegment;
using pyconc::detail::Deadline;

/// Unlocks a direction's lock (held for one whole message) when the message is done.
struct Unlock {
  ProcessMutex& m;
  ~Unlock() { m.unlock(); }
};

/// One end of a Pipe: its view of the segment (the direction it reads, the one it
/// writes), its file descriptors, and the calls of this process using it.
///
/// Members are split by concept: framing and the rings (connection_ring.cpp), waiting
/// and waking (connection_doorbell.cpp), lifetime (connection.cpp).
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

  // ---- lifetime (connection.cpp) ----

  /// Closes this end: wakes this process's calls blocked on it (they raise), waits
  /// until they have left, closes the fds. Idempotent.
  void close() noexcept;
  void check_readable() const;
  void check_writable() const;

  // ---- waiting and waking (connection_doorbell.cpp) ----

  bool has_data() const noexcept { return detail::has_data(*in); }

  enum class Ready { data, eof, timeout };

  /// Waits until the incoming ring has bytes, the peer is gone, or the deadline.
  /// `mid_message`: a message has been partly read; a sender lock that is free (or held
  /// by a dead process) while the ring is empty means it will never be completed.
  Ready wait_readable(const Deadline& deadline, bool mid_message);
  /// Waits until the outgoing ring has room (head is what this sender has published).
  void wait_for_room(std::uint64_t head);
  /// Clears this end's doorbell after a wake-up (see detail::settle).
  void settle() noexcept { detail::settle(*in, efd_in); }

  // ---- framing (connection_ring.cpp) ----

  /// Sends one message: length header, then payload, streamed through the ring.
  void send_message(const std::byte* data, std::uint64_t size);

  /// Receives one message: takes the receiver lock, waits for the length header, then
  /// calls body(tail, size), which reads the payload with get() and ends with
  /// finish_read().
  template <class Body>
  auto receive(Body body) {
    auto r = lock_or_closed(in->recv_lock);
    if (r == ProcessMutex::Acquire::owner_died) in->broken.store(1);
    Unlock unlock{in->recv_lock};
    if (in->broken.load() && r == ProcessMutex::Acquire::owner_died)
      throw EOFError("a process died while receiving from this connection; the stream is lost");
    if (wait_readable(Deadline::never(), false) == Ready::eof) throw EOFError("the other end of the pipe is closed");
    std::uint64_t tail = in->tail.load(std::memory_order_relaxed);
    std::byte header[kLengthSize];
    get(tail, header, nullptr, kLengthSize);
    return body(tail, decode_length(header));
  }
  /// Copies n bytes of the current message out of the ring (into `dst`, or with
  /// dst == nullptr appending to `grow`), waiting for them as needed.
  void get(std::uint64_t& tail, std::byte* dst, std::vector<std::byte>* grow, std::uint64_t n);
  /// Frees the room of the message read up to `tail`.
  void finish_read(std::uint64_t tail) noexcept;

 private:
  Ready sleep_until_readable(const Deadline& deadline, bool mid_message);
  void publish_head(std::uint64_t head) noexcept;
  /// Takes a direction's lock, in slices so that close() of this end interrupts the
  /// wait (docs/conventions.md, "Thread safety"): another thread or process may hold it
  /// for a whole long message.
  ProcessMutex::Acquire lock_or_closed(ProcessMutex& m);
};

/// The state of a live (not closed) connection, or OSError: counts as one of its users
/// while it lives (close() waits for the users to leave).
struct Use {
  ConnectionState& s;
  explicit Use(const std::shared_ptr<ConnectionState>& p) : s(checked(p)) {
    s.users.fetch_add(1, std::memory_order_seq_cst);
    if (s.closed.load(std::memory_order_seq_cst)) {
      release();
      handle_closed();
    }
  }
  explicit Use(const Connection& c) : Use(ConnectionAccess::state(c)) {}
  ~Use() { release(); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

 private:
  static ConnectionState& checked(const std::shared_ptr<ConnectionState>& p) {
    if (!p) handle_closed();
    return *p;
  }
  void release() noexcept {
    if (s.users.fetch_sub(1) == 1) s.users.notify_all();
  }
};

/// A state for end `role` of the Pipe in `seg` (fds not set yet).
std::shared_ptr<ConnectionState> make_end(const std::shared_ptr<SharedSegment>& seg, std::uint32_t role, bool duplex,
                                          bool readable, bool writable);

void close_fd(int& fd) noexcept;

}  // namespace pyconc::multiprocessing::connection::detail
