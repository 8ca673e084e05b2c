// The C++ peers of thread_pool_submit (bench/workloads/thread_pool_submit.cpp): one
// thread submits N no-op tasks, each returning its int argument, to a pool of 2 workers,
// then waits for all. Each function runs one peer, checks the last result and prints its
// line. Names ending in -nofuture: the peer has no future per task; the results go into
// a vector and the submitter waits for the whole batch, which is less work than pyconc's
// (and Python's) one Future per task.
#pragma once

#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "workload.hpp"

namespace peers {

inline long identity(long x) { return x; }

/// The textbook pool: a deque of std::packaged_task behind a mutex and a condvar; one
/// std::future per task, as pyconc's Future.
class PackagedTaskPool {
 public:
  explicit PackagedTaskPool(int n) {
    for (int i = 0; i < n; ++i) workers_.emplace_back([this] { work(); });
  }
  ~PackagedTaskPool() {
    {
      std::scoped_lock with(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  std::future<long> submit(long x) {
    std::packaged_task<long()> task([x] { return identity(x); });
    auto f = task.get_future();
    {
      std::scoped_lock with(m_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
    return f;
  }

 private:
  void work() {
    for (;;) {
      std::packaged_task<long()> task;
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<long()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

inline void packaged_task_pool(std::string_view impl, long long n) {
  PackagedTaskPool pool(2);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<long>> fs;
  fs.reserve(n);
  for (long long i = 0; i < n; ++i) fs.push_back(pool.submit(i));
  for (auto& f : fs) f.wait();
  double d = bench::seconds_since(t0);
  bench::check(fs.back().get() == n - 1, "last result");
  bench::emit("thread_pool_submit", impl, n / d, "tasks/s", n);
}

/// tbb::task_group in an arena of 3: 2 worker threads, as the other pools; the
/// submitting thread also runs tasks while it waits in wait(), as task_group does.
/// No future per task.
inline void tbb_task_group_nofuture(std::string_view impl, long long n) {
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, 3);
  tbb::task_arena arena(3, 1);
  std::vector<long> out(n);
  double d = 0;
  arena.execute([&] {
    tbb::task_group g;
    auto t0 = std::chrono::steady_clock::now();
    for (long long i = 0; i < n; ++i) g.run([&out, i] { out[i] = identity(static_cast<long>(i)); });
    g.wait();
    d = bench::seconds_since(t0);
  });
  bench::check(out[n - 1] == n - 1, "last result");
  bench::emit("thread_pool_submit", impl, n / d, "tasks/s", n);
}

/// asio::thread_pool of 2 with asio::post. No future per task: a countdown of the tasks
/// left, and the last task wakes the submitter through one condvar.
inline void asio_thread_pool_post_nofuture(std::string_view impl, long long n) {
  asio::thread_pool pool(2);
  std::vector<long> out(n);
  std::atomic<long long> remaining{n};
  std::mutex m;
  std::condition_variable cv;
  auto t0 = std::chrono::steady_clock::now();
  for (long long i = 0; i < n; ++i)
    asio::post(pool, [&, i] {
      out[i] = identity(static_cast<long>(i));
      if (remaining.fetch_sub(1) == 1) {
        std::scoped_lock with(m);
        cv.notify_one();
      }
    });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return remaining.load() == 0; });
  }
  double d = bench::seconds_since(t0);
  bench::check(out[n - 1] == n - 1, "last result");
  bench::emit("thread_pool_submit", impl, n / d, "tasks/s", n);
  pool.join();
}

}  // namespace peers
