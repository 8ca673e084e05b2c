// Progress bars for long jobs, in the spirit of Python's tqdm: futures::progress() wraps
// a range (as_completed(), Executor::map(), a Pool's imap(), any range) and counts its
// elements as they are consumed; futures::ProgressBar is the bar on its own.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>

#include "pyconc/detail/timeout.hpp"

namespace pyconc::futures {

/// What a progress callback is told after each update.
struct ProgressInfo {
  /// Elements counted so far.
  std::size_t n = 0;
  /// The expected count, when known.
  std::optional<std::size_t> total;
  /// Seconds since the bar was made.
  double elapsed_seconds = 0;
  /// Average elements per second since the bar was made; 0 until it can be told.
  double rate = 0;
  /// Seconds left at that rate, when the total and a rate are known.
  std::optional<double> eta_seconds;
};

/// progress()'s and ProgressBar's keyword options (tqdm's keywords of the same names).
struct ProgressOptions {
  /// Printed before the bar, followed by ": ".
  std::string desc;
  /// The expected count. progress() defaults it to the range's size when the range has
  /// one (std::ranges::size: a vector, as_completed(), Executor::map()'s results).
  std::optional<std::size_t> total;
  /// Called after every update, drawn or not: for those who draw their own bar.
  std::function<void(const ProgressInfo&)> callback;
  /// Whether to draw. Default: when `file` is a terminal (isatty), as tqdm's
  /// disable=None; so a program whose stderr goes to a file or a pipe prints nothing.
  std::optional<bool> draw;
  /// Where to draw.
  std::FILE* file = stderr;
  /// Redraw at most this often; the update that reaches `total`, and close(), always draw.
  Seconds min_interval = Seconds(0.1);
  /// The width of the line in columns. Default: the terminal's width when `file` is a
  /// terminal; otherwise a bar of 10 cells.
  std::optional<int> ncols;
};

/// A terminal progress bar counted by hand (Python's tqdm used with update()).
///
///     futures::ProgressBar bar({.desc = "chunks", .total = chunks.size()});
///     for (auto& c : chunks) { work(c); bar.update(); }
///     bar.close();      // or let the destructor close it
///
/// Draws `desc: 42%|████▎     | 420/1000 [00:03<00:04, 140.20it/s]` on one line,
/// redrawn in place with '\r' at most every `min_interval`; without a total,
/// `desc: 420it [00:03, 140.20it/s]`. The first line is drawn by the constructor, the
/// last one (and a newline) by close() or the destructor. Drawing never throws: output
/// errors are ignored. When it does not draw and has no callback, update() only adds.
/// Movable; a moved-from bar may only be destroyed.
///
/// Thread safety: update(), close() and the readers may be called from any thread; they
/// are serialised by an internal lock. The callback runs outside that lock, in the thread
/// that called update(), so it may read the bar (and calls from several updating threads
/// may overlap).
///
/// Memory ordering: none beyond what update() and info() say to each other.
///
/// Differences from Python: the rate is the average since the start (tqdm's
/// smoothing=0), not a moving average; `desc`, `total`, `file`, `ncols`,
/// `min_interval` (tqdm's mininterval) and `disable` (here `draw`, inverted) are the
/// only keywords; the bar is always left on screen (leave=True). `callback` is new.
class ProgressBar {
 public:
  explicit ProgressBar(ProgressOptions options = {});
  ProgressBar(ProgressBar&&) noexcept;
  ProgressBar& operator=(ProgressBar&&) = delete;
  ~ProgressBar();

  /// Counts `n` more elements; calls the callback, and redraws if drawing and
  /// `min_interval` has passed (or the total is reached). The callback's exception
  /// propagates.
  void update(std::size_t n = 1);
  /// Draws the final line and a newline; later updates count but do not draw. Idempotent.
  void close() noexcept;
  /// Replaces the description (tqdm's set_description); shown at the next draw.
  void set_description(std::string desc);

  std::size_t n() const;
  std::optional<std::size_t> total() const;
  /// The state the callback would be given now.
  ProgressInfo info() const;
  /// Whether this bar draws (the `draw` option, or its default).
  bool drawing() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// A range yielding the elements of another, counting each on a ProgressBar as the
/// loop moves past it: what futures::progress() returns.
///
/// It holds the range by value when given an rvalue (so a move-only range such as
/// as_completed()'s works), by reference when given an lvalue. It is an input range:
/// iterate it once. The iteration reaching its end closes the bar; so does the
/// destructor, after a `break` or an exception.
template <class R>
class Progress {
  using Base = std::remove_reference_t<R>;
  using BaseIterator = std::ranges::iterator_t<Base>;
  using BaseSentinel = std::ranges::sentinel_t<Base>;

 public:
  Progress(R&& range, ProgressOptions options)
      : range_(std::forward<R>(range)), bar_(with_total(range_, std::move(options))) {}
  Progress(Progress&&) = default;
  Progress& operator=(Progress&&) = delete;

  class sentinel {
   public:
    sentinel() = default;
    explicit sentinel(BaseSentinel end) : end_(std::move(end)) {}
    const BaseSentinel& base() const noexcept { return end_; }

   private:
    BaseSentinel end_{};
  };

  class iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using value_type = std::ranges::range_value_t<Base>;
    using difference_type = std::ranges::range_difference_t<Base>;

    iterator() = default;
    iterator(BaseIterator it, ProgressBar* bar) : it_(std::move(it)), bar_(bar) {}

    std::iter_reference_t<BaseIterator> operator*() const { return *it_; }
    const BaseIterator& base() const noexcept { return it_; }
    // The element just consumed is counted before moving on, which may wait for the next.
    iterator& operator++() {
      bar_->update();
      ++it_;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& i, const sentinel& s) {
      if (!(i.it_ == s.base())) return false;
      i.bar_->close();
      return true;
    }

   private:
    BaseIterator it_{};
    ProgressBar* bar_ = nullptr;
  };

  iterator begin() { return iterator(std::ranges::begin(range_), &bar_); }
  sentinel end() { return sentinel(std::ranges::end(range_)); }
  /// The size of the wrapped range, when it has one.
  auto size()
    requires std::ranges::sized_range<Base>
  {
    return std::ranges::size(range_);
  }

  /// The bar: its count, info(), set_description(), close().
  ProgressBar& bar() noexcept { return bar_; }

 private:
  static ProgressOptions with_total(Base& range, ProgressOptions options) {
    if constexpr (std::ranges::sized_range<Base>) {
      if (!options.total) options.total = static_cast<std::size_t>(std::ranges::size(range));
    }
    return options;
  }

  R range_;
  ProgressBar bar_;
};

/// Wraps `range` in a terminal progress bar (Python's `tqdm(iterable)`): the same
/// elements, each counted as the loop moves past it, drawn to stderr only when stderr
/// is a terminal.
///
///     for (auto f : futures::progress(futures::as_completed(fs), {.desc = "tasks"}))
///       use(f.result());
///     for (int r : futures::progress(ex.map(square, xs))) ...
///     for (auto& x : futures::progress(vec, {.callback = report})) ...
///
/// `total` defaults to the range's size when it has one; otherwise give it
/// (`{.total = n}`) for a percentage and an ETA, or leave it out for a count and a rate.
///
/// Thread safety: iterate it from one thread at a time, as the range it wraps.
///
/// Differences from Python: see ProgressBar; the result is a range (Progress) rather
/// than an iterator object, and holds an lvalue range by reference: keep it alive
/// while iterating.
template <std::ranges::input_range R>
Progress<R> progress(R&& range, ProgressOptions options = {}) {
  return Progress<R>(std::forward<R>(range), std::move(options));
}

}  // namespace pyconc::futures
