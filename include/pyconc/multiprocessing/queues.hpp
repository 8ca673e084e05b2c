// multiprocessing.Queue, multiprocessing.JoinableQueue, multiprocessing.SimpleQueue.
#pragma once

#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "pyconc/detail/timeout.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/queue_codec.hpp"
#include "pyconc/multiprocessing/detail/queue_core.hpp"
#include "pyconc/multiprocessing/detail/shared_handle.hpp"

namespace pyconc::multiprocessing {

/// Options of the process-shared queues (C++ only: Python's queues have no byte bound).
struct QueueOptions {
  /// Bytes of the shared ring the items travel through, rounded up to a power of two
  /// (4 KiB .. 1 GiB). Items larger than half of it are streamed through in chunks.
  std::size_t buffer_bytes = std::size_t{4} << 20;
};

namespace detail {

/// A QueueCore of kind `K`: the storage of a queue handle (see SharedHandle).
template <QueueCore::Kind K>
class KindedQueueCore : public QueueCore {
 public:
  KindedQueueCore() = default;
  explicit KindedQueueCore(QueueCore core) : QueueCore(std::move(core)) {}
  static KindedQueueCore create(long long maxsize, std::size_t buffer_bytes) {
    return KindedQueueCore(QueueCore::create(K, maxsize, buffer_bytes));
  }
  static KindedQueueCore open(const std::string& name) { return KindedQueueCore(QueueCore::open(K, name)); }
};

/// What Queue and JoinableQueue share; `K` tells their segments apart.
template <class T, QueueCore::Kind K>
class BasicProcessQueue : public SharedHandle<KindedQueueCore<K>> {
  using Handle = SharedHandle<KindedQueueCore<K>>;

 public:
  explicit BasicProcessQueue(long long maxsize = 0, QueueOptions options = {})
      : Handle(KindedQueueCore<K>::create(maxsize, options.buffer_bytes)) {}
  /// An empty handle that load() attaches to an existing queue (see pickle::for_loading).
  explicit BasicProcessQueue(pickle::for_loading_t tag) noexcept : Handle(tag) {}

  void put(const T& obj) { put_until(obj, pyconc::detail::Deadline::never(), true); }
  void put(const T& obj, bool block) { put_until(obj, pyconc::detail::Deadline::never(), block); }
  /// Waits at most `timeout` (negative: not at all) for room, then raises queue::Full.
  void put(const T& obj, bool block, Seconds timeout) { put_until(obj, pyconc::detail::Deadline::after(timeout), block); }
  void put(const T& obj, Seconds timeout) { put(obj, true, timeout); }
  void put_nowait(const T& obj) { put(obj, false); }

  T get() { return get_until(pyconc::detail::Deadline::never(), true); }
  T get(bool block) { return get_until(pyconc::detail::Deadline::never(), block); }
  /// Waits at most `timeout` (negative: not at all) for an item, then raises queue::Empty.
  T get(bool block, Seconds timeout) { return get_until(pyconc::detail::Deadline::after(timeout), block); }
  T get(Seconds timeout) { return get(true, timeout); }
  T get_nowait() { return get(false); }

  /// C++: put_nowait without the exception; false when full.
  bool try_put(const T& obj) {
    check_open();
    return state_.put(ItemCodec<T>::encode(obj), pyconc::detail::Deadline::never(), false);
  }
  /// C++: get_nowait without the exception; nullopt when empty.
  std::optional<T> try_get() {
    check_open();
    typename ItemCodec<T>::Sink sink;
    if (!state_.get(sink, pyconc::detail::Deadline::never(), false)) return std::nullopt;
    return sink.take();
  }

  /// Approximate number of items (as Python's).
  std::size_t qsize() const noexcept { return state_.qsize(); }
  bool empty() const noexcept { return state_.empty(); }
  bool full() const noexcept { return state_.full(); }
  long long maxsize() const noexcept { return state_.maxsize(); }

  /// This handle (and its copies in this process) will put and get no more: both raise
  /// ValueError("Queue is closed") from now on, and calls blocked in put()/get() in this
  /// process wake and raise it too. Other processes are not affected.
  void close() noexcept { state_.close(); }
  /// After close(): returns at once (put() is synchronous: there is no feeder thread
  /// with data to flush). RuntimeError before close(), as Python asserts.
  void join_thread() const {
    if (!state_.closed().load(std::memory_order_acquire)) throw RuntimeError("Queue is not closed: join_thread() needs close() first");
  }
  /// Nothing to cancel (no feeder thread): a no-op, as Python's when no data is buffered.
  void cancel_join_thread() noexcept {}

  /// The shared-memory segment the queue lives in.
  const std::string& name() const noexcept { return state_.name(); }

  // Pickling (a spawn/forkserver child's argument, an item of another queue): its
  // segment's name, through SharedHandle.

 protected:
  friend struct QueueAccess;

  void check_open() const {
    if (state_.closed().load(std::memory_order_acquire)) throw ValueError("Queue is closed");
  }
  void put_until(const T& obj, const pyconc::detail::Deadline& deadline, bool block) {
    check_open();
    if (!state_.put(ItemCodec<T>::encode(obj), deadline, block)) throw queue::Full("multiprocessing queue is full");
  }
  T get_until(const pyconc::detail::Deadline& deadline, bool block) {
    check_open();
    typename ItemCodec<T>::Sink sink;
    if (!state_.get(sink, deadline, block)) throw queue::Empty("multiprocessing queue is empty");
    return sink.take();
  }

  using Handle::state_;
};

}  // namespace detail

/// A first-in, first-out queue between processes (Python's multiprocessing.Queue).
/// Items are pickled into a shared-memory ring; maxsize <= 0 means no item limit.
///
///     multiprocessing::Queue<int> q;                    // q = multiprocessing.Queue()
///     multiprocessing::Process p(worker, q); p.start(); // the queue is a Process argument
///     int x = q.get();                                  // blocks while empty
///     q.put(42, 1s);                                    // queue.Full after 1 s if full
///
/// Errors: get_nowait/get(false)/a timed-out get raise queue::Empty; put_nowait/
/// put(x, false)/a timed-out put raise queue::Full; after close() put and get raise
/// ValueError; an item that cannot be a T, or corrupt bytes in the shared ring, raise
/// ValueError from get().
///
/// Thread safety: every member may be called from any thread of any process holding a
/// handle. Copies of a handle are cheap and share the queue (and, in one process, its
/// closed flag).
///
/// Memory ordering: everything a process did before put(x) is visible to whoever's get()
/// returned x (for data in shared memory; the item itself is a copy).
///
/// Differences from Python: there is no feeder thread — put() writes into the shared
/// ring itself, so it returns once the item is in the queue, and it waits (or raises
/// Full) when the ring's bytes (QueueOptions::buffer_bytes) are taken even on an
/// unbounded queue; items bigger than half the ring are streamed through it while a
/// consumer takes them. A negative timeout means "do not wait" (Python's semaphore and
/// poll treat it so). A process killed inside put() or get() does not wedge the queue:
/// the item it was moving is lost (a streamed item half-written is dropped by the
/// consumer), and a JoinableQueue counts it done. join_thread()/cancel_join_thread()
/// have nothing to wait for. The handle is passed to a Process under every start method.
template <class T>
class Queue : public detail::BasicProcessQueue<T, detail::QueueCore::Kind::queue> {
 public:
  using detail::BasicProcessQueue<T, detail::QueueCore::Kind::queue>::BasicProcessQueue;
};

/// A Queue with task accounting (Python's multiprocessing.JoinableQueue): every put()
/// adds an unfinished task, task_done() finishes one, join() waits until none is left.
///
///     multiprocessing::JoinableQueue<Job> q;
///     // consumer:  auto job = q.get(); run(job); q.task_done();
///     q.join();                                         // every job done
///
/// Errors: task_done() called more often than put() raises ValueError; the rest as Queue.
///
/// Thread safety: as Queue. Memory ordering: everything a process did before task_done()
/// is visible to the process that returns from join().
///
/// Differences from Python: as Queue; an item lost with a killed process (see Queue)
/// counts as done, so join() does not wait for it forever.
template <class T>
class JoinableQueue : public detail::BasicProcessQueue<T, detail::QueueCore::Kind::joinable> {
 public:
  using detail::BasicProcessQueue<T, detail::QueueCore::Kind::joinable>::BasicProcessQueue;

  void task_done() { this->state_.task_done(); }
  /// Blocks until every item put has been marked done.
  void join() { this->state_.join(); }
  /// C++: the number of items put and not yet marked done.
  std::uint64_t unfinished_tasks() const noexcept { return this->state_.unfinished_tasks(); }
};

/// A plain unbounded queue between processes (Python's multiprocessing.SimpleQueue):
/// put, get, empty, close.
///
///     multiprocessing::SimpleQueue<std::string> q;
///     q.put("job");
///     std::string job = q.get();
///
/// Errors: after close() get/put/empty raise OSError (EBADF), as Python's closed pipe
/// does; an item that cannot be a T or corrupt ring bytes raise ValueError from get().
///
/// Thread safety and memory ordering: as Queue.
///
/// Differences from Python: as Queue (put waits while the ring's bytes are taken, as
/// Python's put waits on a full pipe); try_put/try_get are C++ additions.
template <class T>
class SimpleQueue : public detail::SharedHandle<detail::KindedQueueCore<detail::QueueCore::Kind::simple>> {
  using Core = detail::KindedQueueCore<detail::QueueCore::Kind::simple>;

 public:
  explicit SimpleQueue(QueueOptions options = {}) : SharedHandle(Core::create(0, options.buffer_bytes)) {}
  /// An empty handle that load() attaches to an existing queue (see pickle::for_loading).
  explicit SimpleQueue(pickle::for_loading_t tag) noexcept : SharedHandle(tag) {}

  void put(const T& obj) {
    check_open();
    state_.put(detail::ItemCodec<T>::encode(obj), pyconc::detail::Deadline::never(), true);
  }
  T get() {
    check_open();
    typename detail::ItemCodec<T>::Sink sink;
    state_.get(sink, pyconc::detail::Deadline::never(), true);
    return sink.take();
  }
  bool empty() const {
    check_open();
    return state_.empty();
  }
  /// Closes this handle (and its copies in this process).
  void close() noexcept { state_.close(); }

  bool try_put(const T& obj) {
    check_open();
    return state_.put(detail::ItemCodec<T>::encode(obj), pyconc::detail::Deadline::never(), false);
  }
  std::optional<T> try_get() {
    check_open();
    typename detail::ItemCodec<T>::Sink sink;
    if (!state_.get(sink, pyconc::detail::Deadline::never(), false)) return std::nullopt;
    return sink.take();
  }

  const std::string& name() const noexcept { return state_.name(); }

 private:
  void check_open() const {
    if (state_.closed().load(std::memory_order_acquire)) raise_os_error(EBADF, "SimpleQueue is closed");
  }
};

}  // namespace pyconc::multiprocessing
