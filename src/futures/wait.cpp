#include "pyconc/futures/wait.hpp"

#include "pyconc/detail/futex.hpp"

namespace pyconc::futures::detail {

bool waits_for_all(ReturnWhen return_when) noexcept { return return_when == ReturnWhen::ALL_COMPLETED; }
bool waits_for_first(ReturnWhen return_when) noexcept { return return_when == ReturnWhen::FIRST_COMPLETED; }

bool failed(const FutureCore& core) {
  return core.state() == FutureCore::kFinished && core.exception_or_cancelled() != nullptr;
}

void Collector::on_done(FutureCore& future) noexcept {
  bool wake;
  {
    pyconc::detail::LockGuard guard(lock_);
    settled_.push_back(&future);
    if (pending_ > 0) --pending_;
    switch (mode_) {
      case ReturnWhen::FIRST_COMPLETED: wake = true; break;
      // Python's FIRST_EXCEPTION waiter: a failure stops at once; a cancellation counts
      // as one more completed future.
      case ReturnWhen::FIRST_EXCEPTION: wake = failed(future) || pending_ == 0; break;
      default: wake = true; break;  // as_completed: every settled future
    }
  }
  if (wake) {
    signal_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst) != 0) pyconc::detail::futex_wake_all(signal_);
  }
}

bool Collector::wait(const pyconc::detail::Deadline& deadline) {
  for (;;) {
    std::uint32_t seen = signal_.load(std::memory_order_seq_cst);
    {
      pyconc::detail::LockGuard guard(lock_);
      if (!settled_.empty() && mode_ != ReturnWhen::FIRST_EXCEPTION) return true;
      if (mode_ == ReturnWhen::FIRST_EXCEPTION &&
          (pending_ == 0 || std::any_of(settled_.begin(), settled_.end(), [](FutureCore* c) { return failed(*c); })))
        return true;
    }
    sleeping_.fetch_add(1, std::memory_order_seq_cst);
    bool in_time = pyconc::detail::futex_wait(signal_, seen, deadline);
    sleeping_.fetch_sub(1, std::memory_order_relaxed);
    if (!in_time) return false;
  }
}

std::vector<FutureCore*> Collector::take() {
  pyconc::detail::LockGuard guard(lock_);
  std::vector<FutureCore*> out;
  out.swap(settled_);
  return out;
}

void Collector::discount(std::size_t n) {
  pyconc::detail::LockGuard guard(lock_);
  pending_ = pending_ > n ? pending_ - n : 0;
}

std::vector<FutureCore*> install(Collector& collector, const std::vector<FutureCore*>& cores) {
  std::vector<FutureCore*> already;
  for (FutureCore* c : cores)
    if (!c->add_listener(&collector)) already.push_back(c);
  return already;
}

void uninstall(Collector& collector, const std::vector<FutureCore*>& cores) {
  for (FutureCore* c : cores) c->remove_listener(&collector);
}

}  // namespace pyconc::futures::detail
