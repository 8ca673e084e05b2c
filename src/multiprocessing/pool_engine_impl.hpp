// The state of a PoolEngine (see pool_engine.cpp for how it moves).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "pool_channel.hpp"
#include "pool_internal.hpp"
#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/condvar.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/detail/pool_engine.hpp"
#include "pyconc/multiprocessing/process.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::multiprocessing::detail {

/// Bytes whose resize() leaves new bytes uninitialised: a result is read into them
/// straight from the ring, so zeroing them first would touch every page twice.
template <class T>
struct UninitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  UninitAllocator() = default;
  template <class U>
  UninitAllocator(const UninitAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using ReadBuffer = std::vector<std::byte, UninitAllocator<std::byte>>;

/// One worker's place. The fields below `live` change under the engine lock; the
/// collector thread, the only one that starts and reaps workers, also reads them
/// without it. The reader state is the collector's alone.
struct Slot {
  std::uint32_t index = 0;
  pool::Ring in, out;
  pool::SlotHeader* header = nullptr;

  bool live = false;
  std::optional<Process> process;
  int pidfd = -1;
  int pid = 0;
  int sock = -1;                   // the parent's end of the socket for fds
  std::deque<PoolTask*> inflight;  // sent, in order; results come back in this order
  long long quota = -1;            // tasks it may still be sent (-1: no limit)
  double ema_ns = -1;              // its tasks' running time, smoothed (-1: none yet)
  bool stop_sent = false;
  std::uint32_t claim_next = 0;    // the next claim word to use (claim_in_worker)
  bool streaming = false;          // `streamer` writes a large message into `in`
  bool corrupt = false;
  std::thread streamer;
  std::atomic<bool> gone{false};   // its pidfd fired (the streamer gives up)

  // The collector's reading of `out`.
  bool reading = false;
  std::uint64_t need = 0;
  ReadBuffer buf;
};

struct Message {
  Slot* slot = nullptr;
  std::uint64_t id = 0;
  std::uint8_t status = 0;
  std::uint32_t ns = 0;
  /// The message as read: [u64 id][u8 status][u32 ns][payload] (taken whole from the
  /// reader's buffer, so that a large result is not copied once more).
  ReadBuffer bytes;
  std::span<const std::byte> payload() const noexcept { return std::span<const std::byte>(bytes).subspan(13); }
};

struct PoolEngine::Impl : std::enable_shared_from_this<PoolEngine::Impl> {
  explicit Impl(EngineConfig c);
  ~Impl();

  void ensure_started();
  void start_worker(Slot& s);
  void submit(std::span<PoolTask* const> tasks);
  std::size_t limit(const Slot& s) const;
  void pump() PYCONC_REQUIRES(m);
  void stream(Slot& s, PoolTask* task);
  bool wait_room(Slot& s);
  void wake() noexcept;

  void collect();
  bool read_messages(Slot& s, std::vector<Message>& out);
  void deliver(std::vector<Message>& messages);
  void check_workers(int timeout_ms);
  void worker_ended(Slot& s);
  bool any_inflight() const PYCONC_REQUIRES(m);
  bool maybe_finish();

  void break_pool(std::exception_ptr error);
  void terminate(std::exception_ptr error, int signal);
  void wait_finished();

  const EngineConfig config;
  pool::PoolLink link;
  pool::Layout layout;
  std::vector<std::unique_ptr<Slot>> slots;  // fixed after construction
  int started_workers = 0;                   // names: the collector (or the first submit)

  threading::Lock m;
  pyconc::detail::CondVar finished_cv;
  std::deque<PoolTask*> pending PYCONC_GUARDED_BY(m);
  std::uint64_t next_id PYCONC_GUARDED_BY(m) = 0;
  bool started PYCONC_GUARDED_BY(m) = false;
  bool closed PYCONC_GUARDED_BY(m) = false;
  bool finished PYCONC_GUARDED_BY(m) = false;
  std::exception_ptr broken_error PYCONC_GUARDED_BY(m);
  std::exception_ptr terminate_error PYCONC_GUARDED_BY(m);

  std::atomic<bool> closing{false};   // closed, broken or terminating: the collector looks
  std::atomic<bool> stopping{false};  // terminating: streamers give up
  std::atomic<bool> poked{false};     // another thread rang the bell
  std::thread collector;
  std::atomic<std::thread::id> collector_id{};
  std::mutex join_mutex;
};

}  // namespace pyconc::multiprocessing::detail
