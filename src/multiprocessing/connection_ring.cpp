// Messages through a Pipe's rings: the sender streams the length header and the payload
// into its outgoing ring, the receiver copies them out (layout: connection_ring.hpp).
//
//   send_message: send_lock ─► [8-byte length][payload...] ─► ring, slices of cap/8,
//                 each published (head) ─► wake_reader
//   receive:      recv_lock ─► wait for the length ─► get() the payload in slices,
//                 each freed (tail) ─► wake_writer
#include <algorithm>
#include <chrono>

#include "connection_doorbell.hpp"
#include "connection_state.hpp"

namespace pyconc::multiprocessing::connection::detail {

namespace {

// How often a busy sender asks the kernel whether its peer lives.
constexpr auto kLivenessEvery =
    std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::milliseconds(1));

}  // namespace

std::shared_ptr<ConnectionState> make_end(const std::shared_ptr<SharedSegment>& seg, std::uint32_t role, bool duplex,
                                          bool readable, bool writable) {
  auto s = std::make_shared<ConnectionState>();
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

ProcessMutex::Acquire ConnectionState::lock_or_closed(ProcessMutex& m) {
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

// ---- sending ----

void ConnectionState::publish_head(std::uint64_t head) noexcept {
  out->head.store(head, std::memory_order_release);
  wake_reader(*out, efd_out);
}

void ConnectionState::send_message(const std::byte* data, std::uint64_t size) {
  auto r = lock_or_closed(out->send_lock);
  if (r == ProcessMutex::Acquire::owner_died) out->broken.store(1);
  Unlock unlock{out->send_lock};
  if (out->broken.load()) throw BrokenPipeError("a process died while sending on this connection; the stream is lost");
  // Asking the kernel whether the peer lives costs a system call: on a busy pipe it is
  // asked at most once per kLivenessEvery (and whenever the sender must wait).
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  if (now - last_liveness.load(std::memory_order_relaxed) >= kLivenessEvery.count()) {
    if (peer_gone(sock)) throw BrokenPipeError("the other end of the pipe is closed");
    last_liveness.store(now, std::memory_order_relaxed);
  }
  std::uint64_t head = out->head.load(std::memory_order_relaxed);
  std::byte header[kLengthSize];
  encode_length(size, header);
  auto put = [&](const std::byte* p, std::uint64_t n) {
    while (n > 0) {
      std::uint64_t room = cap - ring_distance(head, out->tail.load(std::memory_order_acquire), cap);
      if (room == 0) {
        publish_head(head);
        wait_for_room(head);
        continue;
      }
      // Big messages go in slices of cap/8, each published at once, so the reader
      // drains while the writer fills (no full-ring/empty-ring ping-pong).
      std::uint64_t k = std::min({n, room, cap / 8});
      copy_into_ring(out_ring, cap, head, p, k);
      head += k;
      p += k;
      n -= k;
      if (n > 0) publish_head(head);
    }
  };
  const std::uint64_t start = head;
  try {
    put(header, kLengthSize);
    put(data, size);
  } catch (...) {
    // Part of the message is out already: the next message would be read as its rest.
    // The stream is lost; the reader gets EOFError once it reaches the gap.
    if (out->head.load(std::memory_order_relaxed) != start) {
      out->broken.store(1);
      wake_reader(*out, efd_out);
    }
    throw;
  }
  publish_head(head);
}

// ---- receiving ----

void ConnectionState::get(std::uint64_t& tail, std::byte* dst, std::vector<std::byte>* grow, std::uint64_t n) {
  while (n > 0) {
    std::uint64_t avail = ring_distance(in->head.load(std::memory_order_acquire), tail, cap);
    if (avail == 0) {
      in->tail.store(tail, std::memory_order_release);
      wake_writer(*in);
      if (wait_readable(Deadline::never(), true) == Ready::eof)
        throw EOFError("the other end of the pipe closed in the middle of a message");
      continue;
    }
    std::uint64_t k = std::min({n, avail, cap / 8});
    std::byte* to = dst;
    if (!to) {
      std::size_t old = grow->size();
      grow->resize(old + k);
      to = grow->data() + old;
    }
    copy_from_ring(in_ring, cap, tail, to, k);
    if (dst) dst += k;
    tail += k;
    n -= k;
    if (n > 0) {  // a big message: free the room at once (see send_message)
      in->tail.store(tail, std::memory_order_release);
      wake_writer(*in);
    }
  }
}

void ConnectionState::finish_read(std::uint64_t tail) noexcept {
  in->tail.store(tail, std::memory_order_release);
  wake_writer(*in);
  // With fileno() exposed, keep the fd readable exactly while data waits.
  if (in->watched.load(std::memory_order_relaxed) && in->rung.load(std::memory_order_relaxed) && !has_data()) settle();
}

}  // namespace pyconc::multiprocessing::connection::detail
