// ThreadPoolExecutor:
//
//   submit ──► work_queue (WorkQueue<WorkRef>)  ──► worker 0..N-1
//     │ no idle worker and fewer than max_workers: start one      │ run item, then
//     └───────────────────────────────────────────────────────── idle.release()
//   shutdown / broken ──► work_queue.close(): later puts are refused (submit raises);
//                         workers take what is queued, then exit
//
// Once all max_workers threads run, submit() takes no lock of its own: the queue's
// put lock orders it against shutdown() (a put lands before the close, and its task
// runs, or is refused after it).
//
// Workers hold the Impl, so a pool dropped with shutdown(wait=false) finishes safely.
#include "pyconc/futures/thread_pool.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "pyconc/detail/exit_hooks.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/threading/thread.hpp"
#include "work_queue.hpp"

namespace pyconc::futures {

namespace {
std::atomic<int> pool_counter{0};

// The CPUs this process may run on (Python 3.13's os.process_cpu_count()).
int process_cpu_count() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

int default_workers() { return std::min(32, process_cpu_count() + 4); }
}  // namespace

struct ThreadPoolExecutor::Impl : std::enable_shared_from_this<Impl> {
  Impl(int max, ThreadPoolOptions opts) : max_workers(max), options(std::move(opts)) {
    if (options.thread_name_prefix.empty())
      options.thread_name_prefix = "ThreadPoolExecutor-" + std::to_string(pool_counter++);
  }

  const int max_workers;
  ThreadPoolOptions options;
  detail::WorkQueue<detail::WorkRef> work_queue;
  // Python's idle semaphore: workers that finished a task and may be waiting for the
  // next. Only consulted while the pool may still grow; once all max_workers threads
  // run, neither submit() nor the workers touch it (no shared write per task).
  std::atomic<int> idle{0};
  std::atomic<int> num_threads{0};
  // What submit() takes, on a line of its own: workers never write it.
  alignas(64) threading::Lock shutdown_lock;
  bool shutdown PYCONC_GUARDED_BY(shutdown_lock) = false;
  std::string broken PYCONC_GUARDED_BY(shutdown_lock);
  std::vector<threading::Thread> threads PYCONC_GUARDED_BY(shutdown_lock);
  bool joined PYCONC_GUARDED_BY(shutdown_lock) = false;

  void worker() {
    if (options.initializer) {
      try {
        options.initializer();
      } catch (...) {
        std::string text = "Exception in initializer: " + describe_exception(std::current_exception()) + "\n";
        std::fputs(text.c_str(), stderr);
        initializer_failed();
        return;
      }
    }
    bool grown = false;  // all max_workers threads started: idle no longer matters
    for (;;) {
      std::optional<detail::WorkRef> item = work_queue.get();
      if (!item) return;  // shut down (or broken) and nothing left
      (*item)->run();
      item.reset();
      if (!grown) {
        if (num_threads.load(std::memory_order_relaxed) < max_workers) idle.fetch_add(1, std::memory_order_release);
        else grown = true;
      }
    }
  }

  void initializer_failed() PYCONC_EXCLUDES(shutdown_lock) {
    pyconc::detail::LockGuard guard(shutdown_lock);
    broken = "A thread initializer failed, the thread pool is not usable anymore";
    work_queue.close();  // later submits raise BrokenThreadPool
    auto error = std::make_exception_ptr(BrokenThreadPool(broken));
    while (auto item = work_queue.try_get()) (*item)->fail(error);
  }

  void adjust_thread_count() PYCONC_REQUIRES(shutdown_lock) {
    int n = static_cast<int>(threads.size());
    if (n >= max_workers) return;
    int i = idle.load(std::memory_order_relaxed);
    while (i > 0)  // an idle worker will take it
      if (idle.compare_exchange_weak(i, i - 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
    num_threads.store(n + 1, std::memory_order_relaxed);
    threads.emplace_back(threading::ThreadOptions{.name = options.thread_name_prefix + "_" + std::to_string(n),
                                                  .daemon = false},
                         [self = shared_from_this()] { self->worker(); });
    threads.back().start();
  }

  void do_shutdown(bool wait, bool cancel_futures) PYCONC_EXCLUDES(shutdown_lock) {
    std::vector<threading::Thread*> to_join;
    {
      pyconc::detail::LockGuard guard(shutdown_lock);
      shutdown = true;
      work_queue.close();
      if (cancel_futures) {
        while (auto item = work_queue.try_get()) (*item)->cancel_and_notify();
      }
      if (wait && !joined) {
        for (auto& t : threads) to_join.push_back(&t);
      }
    }
    // threads is no longer modified once shutdown is set, so the pointers stay valid.
    for (auto* t : to_join) t->join();  // from one of our workers: RuntimeError, as Python
    if (wait) {
      pyconc::detail::LockGuard guard(shutdown_lock);
      joined = true;
    }
  }
};

ThreadPoolExecutor::ThreadPoolExecutor(std::optional<int> max_workers, ThreadPoolOptions options) {
  int n = max_workers ? *max_workers : default_workers();
  if (n <= 0) throw ValueError("max_workers must be greater than 0");
  impl_ = std::make_shared<Impl>(n, std::move(options));
  // At program exit, a pool never shut down drains its queue and lets its workers exit.
  std::weak_ptr<Impl> weak = impl_;
  exit_hook_ = pyconc::detail::register_exit_hook([weak] {
    if (auto impl = weak.lock()) impl->do_shutdown(false, false);
  });
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  pyconc::detail::unregister_exit_hook(exit_hook_);
  try {
    shutdown(true);
  } catch (...) {
  }
}

void ThreadPoolExecutor::shutdown(bool wait, bool cancel_futures) { impl_->do_shutdown(wait, cancel_futures); }

int ThreadPoolExecutor::max_workers() const noexcept { return impl_->max_workers; }

void ThreadPoolExecutor::schedule(detail::WorkRef item) {
  Impl& impl = *impl_;
  // All workers started: the queue alone decides (refused once closed).
  if (impl.num_threads.load(std::memory_order_relaxed) >= impl.max_workers && impl.work_queue.put(std::move(item)))
    return;
  pyconc::detail::LockGuard guard(impl.shutdown_lock);
  if (!impl.broken.empty()) throw BrokenThreadPool(impl.broken);
  if (impl.shutdown) throw RuntimeError("cannot schedule new futures after shutdown");
  impl.work_queue.put(std::move(item));  // not closed: closing takes shutdown_lock
  impl.adjust_thread_count();
}

}  // namespace pyconc::futures
