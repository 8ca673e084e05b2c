// futures::ProgressBar: counting, throttled drawing to a FILE*, and the line's text.
//
//   update(k) ─► n += k ─► [min_interval passed, or total reached?] ─► "\r" + line ─► file
//                      └─► callback(info)           (outside the lock)
//   close()   ─► the final line (if not drawn yet) + "\n"; later updates only count
#include "pyconc/futures/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/futures/detail/progress_line.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::futures {

namespace detail {

namespace {

// Columns taken by UTF-8 text (every code point counted as one column).
std::size_t columns(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string format_rate(double rate) {
  char buffer[64];
  if (!(rate > 0) || !std::isfinite(rate)) return "?it/s";
  if (rate < 1) std::snprintf(buffer, sizeof buffer, "%.2fs/it", 1 / rate);
  else std::snprintf(buffer, sizeof buffer, "%.2fit/s", rate);
  return buffer;
}

// The bar's cells: full blocks, one partial block in eighths, then spaces.
std::string bar_cells(double fraction, std::size_t cells) {
  static constexpr const char* kPartial[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
  auto eighths = static_cast<std::size_t>(fraction * static_cast<double>(cells) * 8);
  std::size_t full = std::min(eighths / 8, cells);
  std::string out;
  out.reserve(cells * 3);
  for (std::size_t i = 0; i < full; ++i) out += "█";
  if (full < cells) {
    std::size_t part = eighths % 8;
    out += part > 0 ? kPartial[part] : " ";
    out.append(cells - full - 1, ' ');
  }
  return out;
}

}  // namespace

std::string format_interval(double seconds) {
  if (!(seconds > 0)) seconds = 0;
  auto s = static_cast<long long>(std::min(seconds, 1e12));
  char buffer[64];
  if (s >= 3600) std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buffer, sizeof buffer, "%02lld:%02lld", s / 60, s % 60);
  return buffer;
}

std::string progress_line(const ProgressInfo& info, std::string_view desc, std::optional<int> ncols) {
  std::string prefix = desc.empty() ? std::string() : std::string(desc) + ": ";
  std::string elapsed = format_interval(info.elapsed_seconds);
  std::string rate = format_rate(info.rate);
  if (!info.total) return prefix + std::to_string(info.n) + "it [" + elapsed + ", " + rate + "]";

  std::size_t total = *info.total;
  double fraction = total == 0 ? 1.0 : static_cast<double>(info.n) / static_cast<double>(total);
  char percent[32];
  std::snprintf(percent, sizeof percent, "%3.0f%%|", std::floor(fraction * 100));
  std::string left = prefix + percent;
  std::string right = "| " + std::to_string(info.n) + "/" + std::to_string(total) + " [" + elapsed + "<" +
                      (info.eta_seconds ? format_interval(*info.eta_seconds) : std::string("?")) + ", " + rate + "]";
  std::size_t cells = 10;
  if (ncols) {
    auto used = static_cast<long long>(columns(left) + columns(right));
    cells = static_cast<std::size_t>(std::max(0LL, *ncols - used));
  }
  return left + bar_cells(std::clamp(fraction, 0.0, 1.0), cells) + right;
}

}  // namespace detail

using Clock = std::chrono::steady_clock;

struct ProgressBar::Impl {
  explicit Impl(ProgressOptions o)
      : options(std::move(o)),
        draw(options.file != nullptr && options.draw.value_or(::isatty(::fileno(options.file)) == 1)),
        start(Clock::now()),
        desc(options.desc) {}

  ProgressInfo info_at(Clock::time_point now) const PYCONC_REQUIRES(lock) {
    ProgressInfo info;
    info.n = n;
    info.total = options.total;
    info.elapsed_seconds = std::chrono::duration<double>(now - start).count();
    if (n > 0 && info.elapsed_seconds > 0) info.rate = static_cast<double>(n) / info.elapsed_seconds;
    if (info.total && info.rate > 0)
      info.eta_seconds = static_cast<double>(*info.total > n ? *info.total - n : 0) / info.rate;
    return info;
  }

  // The terminal's width, when the bar draws to one and no ncols was given.
  std::optional<int> width() const {
    if (options.ncols) return options.ncols;
    winsize size{};
    if (::ioctl(::fileno(options.file), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
    return std::nullopt;
  }

  // Draws `info` over the previous line; output errors are ignored, nothing throws.
  void render(const ProgressInfo& info, Clock::time_point now) noexcept PYCONC_REQUIRES(lock) {
    try {
      std::string line = detail::progress_line(info, desc, width());
      std::size_t cols = detail::columns(line);
      std::string out = "\r" + line;
      if (cols < last_columns) out.append(last_columns - cols, ' ');
      last_columns = cols;
      std::fwrite(out.data(), 1, out.size(), options.file);
      std::fflush(options.file);
    } catch (...) {
    }
    last_draw = now;
    drawn_n = n;
    drawn = true;
  }

  const ProgressOptions options;  // desc aside, read-only after construction
  const bool draw;
  const Clock::time_point start;
  mutable threading::Lock lock;
  std::size_t n PYCONC_GUARDED_BY(lock) = 0;
  std::string desc PYCONC_GUARDED_BY(lock);
  Clock::time_point last_draw PYCONC_GUARDED_BY(lock){};
  std::size_t drawn_n PYCONC_GUARDED_BY(lock) = 0;
  bool drawn PYCONC_GUARDED_BY(lock) = false;
  std::size_t last_columns PYCONC_GUARDED_BY(lock) = 0;
  bool closed PYCONC_GUARDED_BY(lock) = false;
};

ProgressBar::ProgressBar(ProgressOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  if (!impl_->draw) return;
  pyconc::detail::LockGuard guard(impl_->lock);
  auto now = Clock::now();
  impl_->render(impl_->info_at(now), now);
}

ProgressBar::ProgressBar(ProgressBar&&) noexcept = default;

ProgressBar::~ProgressBar() {
  if (impl_) close();
}

void ProgressBar::update(std::size_t n) {
  Impl& impl = *impl_;
  ProgressInfo info;
  {
    pyconc::detail::LockGuard guard(impl.lock);
    std::size_t before = impl.n;
    impl.n += n;
    if (!impl.draw && !impl.options.callback) return;
    auto now = Clock::now();
    info = impl.info_at(now);
    if (impl.draw && !impl.closed) {
      const auto& total = impl.options.total;
      bool reached = total && before < *total && impl.n >= *total;
      if (reached || now - impl.last_draw >= impl.options.min_interval) impl.render(info, now);
    }
  }
  if (impl.options.callback) impl.options.callback(info);
}

void ProgressBar::close() noexcept {
  Impl& impl = *impl_;
  pyconc::detail::LockGuard guard(impl.lock);
  if (impl.closed) return;
  impl.closed = true;
  if (!impl.draw) return;
  if (!impl.drawn || impl.drawn_n != impl.n) {
    auto now = Clock::now();
    impl.render(impl.info_at(now), now);
  }
  std::fputc('\n', impl.options.file);
  std::fflush(impl.options.file);
}

void ProgressBar::set_description(std::string desc) {
  pyconc::detail::LockGuard guard(impl_->lock);
  impl_->desc = std::move(desc);
}

std::size_t ProgressBar::n() const {
  pyconc::detail::LockGuard guard(impl_->lock);
  return impl_->n;
}

std::optional<std::size_t> ProgressBar::total() const { return impl_->options.total; }

ProgressInfo ProgressBar::info() const {
  pyconc::detail::LockGuard guard(impl_->lock);
  return impl_->info_at(Clock::now());
}

bool ProgressBar::drawing() const noexcept { return impl_->draw; }

}  // namespace pyconc::futures
