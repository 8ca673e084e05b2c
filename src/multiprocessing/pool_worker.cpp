// A pool worker's life, in the worker process:
//
//   attach the segment ─► initializer (if any; its exception goes back as kInitFailed,
//   then the worker ends) ─► loop: read a task from the inbox ─► current = id ─► run it
//   ─► write [id, status, ns, result or exception] to the outbox ─► current = 0
//   ... until a stop message (length 0) or max_tasks tasks.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pool_channel.hpp"
#include "pool_internal.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/pool_task.hpp"
#include "pyconc/pickle/exceptions.hpp"

namespace pyconc::multiprocessing::detail::pool {

/// Code addresses already resolved: a worker sees a handful of functions, so a short
/// list compared bytewise beats hashing (and allocates nothing per task).
class AddressCache {
 public:
  void* find(std::span<const std::byte> key) const noexcept {
    for (const auto& [k, p] : entries_)
      if (k.size() == key.size() && std::memcmp(k.data(), key.data(), key.size()) == 0) return p;
    return nullptr;
  }
  void add(std::span<const std::byte> key, void* p) {
    if (entries_.size() >= 256) entries_.erase(entries_.begin());
    entries_.emplace_back(std::vector<std::byte>(key.begin(), key.end()), p);
  }

 private:
  std::vector<std::pair<std::vector<std::byte>, void*>> entries_;
};

namespace {

using Clock = std::chrono::steady_clock;

// Workers wait without giving up, in slices of a second: the parent's death ends this
// process (PR_SET_PDEATHSIG), so there is nothing else to look at.
void wait_readable(Ring& ring) {
  RingCounters& c = ring.counters();
  wait_until([&ring] { return ring.readable() > 0; }, [] { return false; }, c.data_seq, c.reader_sleeping,
             std::chrono::seconds(1), true);
}

void wait_writable(Ring& ring) {
  RingCounters& c = ring.counters();
  wait_until([&ring] { return ring.writable() > 0; }, [] { return false; }, c.space_seq, c.writer_sleeping,
             std::chrono::seconds(1), true);
}

void read_exact(Ring& in, std::byte* dst, std::uint64_t n) {
  while (n > 0) {
    std::uint64_t avail = in.readable();
    if (avail == 0) {
      wait_readable(in);
      continue;
    }
    std::uint64_t k = avail < n ? avail : n;
    in.take(dst, k);
    in.wake_writer();
    dst += k;
    n -= k;
  }
}

class Worker {
 public:
  Worker(const PoolLink& link, std::uint32_t slot, int fd_sock)
      : layout_(attach(link.segment->data(), link.segment->size())),
        bell_(link.bell),
        fd_sock_(fd_sock),
        in_(layout_.inbox(slot)),
        out_(layout_.outbox(slot)),
        current_(layout_.slot(slot)->current),
        slot_(layout_.slot(slot)) {}

  /// The next task (true), or a stop message (false).
  bool read_task(std::uint64_t& id) {
    std::uint64_t len = 0;
    read_exact(in_, reinterpret_cast<std::byte*>(&len), sizeof len);
    if (len == 0) return false;
    std::uint32_t nfds = 0;
    if (len < sizeof id + sizeof nfds + sizeof claim_ || len > kMaxMessage)
      throw ValueError("pool worker: corrupt task message");
    read_exact(in_, reinterpret_cast<std::byte*>(&id), sizeof id);
    read_exact(in_, reinterpret_cast<std::byte*>(&nfds), sizeof nfds);
    read_exact(in_, reinterpret_cast<std::byte*>(&claim_), sizeof claim_);
    if (claim_ != kNoClaim && claim_ >= kClaimWords) throw ValueError("pool worker: corrupt task message");
    message_.resize(len - sizeof id - sizeof nfds - sizeof claim_);
    read_exact(in_, message_.data(), message_.size());
    fds_.clear();
    if (nfds > 0) fds_ = recv_fds(fd_sock_, nfds);
    return true;
  }

  /// Runs message_ (a task message): true with result_ the pickled result, false with
  /// result_ the pickled exception.
  bool run(const std::vector<std::byte>& message, std::uint32_t& ns) {
    result_.clear();
    auto start = Clock::now();
    bool ok = true;
    try {
      FdImport imported(std::move(fds_));  // what a Connection argument adopts; the rest is closed
      fds_.clear();
      call(message);
    } catch (...) {
      ok = false;
      result_.clear();
      try {
        result_ = pyconc::pickle::dump_exception(std::current_exception());
      } catch (...) {
        result_ = pyconc::pickle::dump_exception(
            std::make_exception_ptr(RuntimeError("pool worker: the task's exception could not be pickled")));
      }
    }
    auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    ns = took > 0xffffffffLL ? 0xffffffffU : static_cast<std::uint32_t>(took);
    return ok;
  }

  void send(std::uint64_t id, Status status, std::uint32_t ns) {
    std::byte head[8 + 8 + 1 + 4];
    std::uint64_t len = 8 + 1 + 4 + result_.size();
    std::memcpy(head, &len, 8);
    std::memcpy(head + 8, &id, 8);
    head[16] = static_cast<std::byte>(status);
    std::memcpy(head + 17, &ns, 4);
    write_all(head, sizeof head);
    write_all(result_.data(), result_.size());
    out_.publish();
    ring_bell(*layout_.header, bell_);
  }

  const std::vector<std::byte>& message() const noexcept { return message_; }

  /// Takes the task read last (claim_in_worker mode: unless the parent withdrew it).
  bool claim(std::uint64_t id) {
    if (claim_ == kNoClaim) return true;
    auto tag = static_cast<std::uint32_t>(id << 2);
    std::uint32_t expected = tag | PoolTask::kClaimQueued;
    if (slot_->claims[claim_].compare_exchange_strong(expected, tag | PoolTask::kClaimRunning)) return true;
    close_all(fds_);
    result_.clear();
    return false;
  }
  const std::vector<std::byte>& result() const noexcept { return result_; }
  std::atomic<std::uint64_t>& current() noexcept { return current_; }

 private:
  void call(const std::vector<std::byte>& m) {
    std::span<const std::byte> rest(m);
    auto field = [&rest]() {
      std::uint32_t n;
      if (rest.size() < 4) throw ValueError("pool worker: corrupt task message");
      std::memcpy(&n, rest.data(), 4);
      if (rest.size() - 4 < n) throw ValueError("pool worker: corrupt task message");
      auto out = rest.subspan(4, n);
      rest = rest.subspan(4 + n);
      return out;
    };
    auto runner_bytes = field();
    auto fn_bytes = field();
    auto runner = reinterpret_cast<Runner>(resolve_cached(runner_bytes));
    runner(fn_bytes, rest, result_);
  }

  void write_all(const std::byte* src, std::uint64_t n) {
    while (n > 0) {
      std::uint64_t room = out_.writable();
      if (room == 0) {
        out_.publish();
        ring_bell(*layout_.header, bell_);
        wait_writable(out_);
        continue;
      }
      std::uint64_t k = room < n ? room : n;
      out_.put(src, k);
      src += k;
      n -= k;
    }
  }

  Layout layout_;
  int bell_;
  int fd_sock_;
  std::vector<int> fds_;
  Ring in_, out_;
  std::atomic<std::uint64_t>& current_;
  SlotHeader* slot_;
  std::uint32_t claim_ = kNoClaim;
  std::vector<std::byte> message_, result_;
};

}  // namespace

}  // namespace pyconc::multiprocessing::detail::pool

namespace pyconc::multiprocessing::detail {

void* resolve_cached(std::span<const std::byte> address) {
  thread_local pool::AddressCache known;
  if (void* p = known.find(address)) return p;
  void* p = resolve_code_address(pyconc::pickle::loads<CodeAddress>(address));
  known.add(address, p);
  return p;
}

}  // namespace pyconc::multiprocessing::detail

namespace pyconc::multiprocessing::detail::pool {

void worker_main(PoolLink link, std::uint32_t slot, FdChannel fds, std::vector<std::byte> initializer,
                 long long max_tasks) {
  Worker w(link, slot, fds.fd);
  std::uint32_t ns = 0;
  if (!initializer.empty() && !w.run(initializer, ns)) {
    // The parent learns why; this worker ends with exit code 1 after printing it, as a
    // Python worker does when its initializer raises.
    w.send(0, kInitFailed, ns);
    pyconc::pickle::raise_exception(w.result());
  }
  long long done = 0;
  std::uint64_t id = 0;
  while (w.read_task(id)) {
    if (!w.claim(id)) {
      w.send(id, kSkipped, 0);  // withdrawn by cancel(): it counts as sent, not as run
    } else {
      w.current().store(id, std::memory_order_release);
      bool ok = w.run(w.message(), ns);
      w.send(id, ok ? kOk : kRaised, ns);
      w.current().store(0, std::memory_order_release);
    }
    if (max_tasks > 0 && ++done >= max_tasks) return;
  }
}

}  // namespace pyconc::multiprocessing::detail::pool
