// Tests for futures::progress and futures::ProgressBar (a terminal progress bar in the
// spirit of Python's tqdm): counting, the callback, drawing only when asked or on a
// terminal, the line's text, throttling, and wrapping as_completed() and map().
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <pyconc/futures.hpp>
#include <pyconc/futures/detail/progress_line.hpp>

namespace futures = pyconc::futures;
using namespace std::chrono_literals;

namespace {

// Every ProgressInfo a callback was given.
struct Recorder {
  std::shared_ptr<std::vector<futures::ProgressInfo>> seen = std::make_shared<std::vector<futures::ProgressInfo>>();
  std::function<void(const futures::ProgressInfo&)> callback() {
    return [seen = seen](const futures::ProgressInfo& info) { seen->push_back(info); };
  }
};

// A temporary file to draw into; text() reads what was written.
class TempFile {
 public:
  TempFile() : file_(std::tmpfile()) {}
  ~TempFile() { std::fclose(file_); }
  std::FILE* get() const { return file_; }
  std::string text() const {
    std::fflush(file_);
    std::string out;
    std::rewind(file_);
    char buffer[4096];
    std::size_t got;
    while ((got = std::fread(buffer, 1, sizeof buffer, file_)) > 0) out.append(buffer, got);
    std::fseek(file_, 0, SEEK_END);
    return out;
  }

 private:
  std::FILE* file_;
};

std::size_t count(const std::string& text, char c) { return static_cast<std::size_t>(std::ranges::count(text, c)); }

// The last line drawn: after the last '\r', before the final newline.
std::string last_line(const std::string& text) {
  std::string line = text.substr(text.rfind('\r') + 1);
  if (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

// An input range with no size, yielding 0 .. n-1: a generator.
class Counter {
 public:
  explicit Counter(int n) : n_(n) {}
  Counter(Counter&&) = default;  // move-only, like as_completed()'s range
  Counter(const Counter&) = delete;
  class iterator {
   public:
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Counter* owner) : owner_(owner) {}
    int operator*() const { return owner_->i_; }
    iterator& operator++() {
      ++owner_->i_;
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return owner_->i_ >= owner_->n_; }

   private:
    Counter* owner_ = nullptr;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  int n_;
  int i_ = 0;
};
static_assert(std::ranges::input_range<Counter> && !std::ranges::sized_range<Counter>);

}  // namespace

// ------------------------------------------------------------------------- counting

TEST(Progress, YieldsTheSameElementsAndCountsEach) {
  std::vector<int> xs(1000);
  for (int i = 0; i < 1000; ++i) xs[i] = i;
  Recorder rec;
  long sum = 0;
  for (int& x : futures::progress(xs, {.callback = rec.callback()})) {
    sum += x;
    x = -x;  // an lvalue range is iterated by reference
  }
  EXPECT_EQ(sum, 999L * 1000 / 2);
  EXPECT_EQ(xs[7], -7);
  ASSERT_EQ(rec.seen->size(), 1000u);
  for (std::size_t i = 0; i < rec.seen->size(); ++i) {
    EXPECT_EQ((*rec.seen)[i].n, i + 1);
    EXPECT_EQ((*rec.seen)[i].total, std::optional<std::size_t>(1000)) << "a sized range gives its size";
  }
}

TEST(Progress, TheCallbackGetsRateAndEta) {
  Recorder rec;
  for (int x : futures::progress(std::vector<int>(200, 1), {.callback = rec.callback()})) (void)x;
  ASSERT_EQ(rec.seen->size(), 200u);
  double last_elapsed = 0;
  for (const auto& info : *rec.seen) {
    EXPECT_GE(info.elapsed_seconds, last_elapsed);
    last_elapsed = info.elapsed_seconds;
    EXPECT_GE(info.rate, 0.0);
    if (info.rate > 0) {
      EXPECT_NEAR(info.rate, static_cast<double>(info.n) / info.elapsed_seconds, 1e-6 * info.rate);
      ASSERT_TRUE(info.eta_seconds.has_value());
      EXPECT_NEAR(*info.eta_seconds, static_cast<double>(200 - info.n) / info.rate, 1e-9 + 1e-6 * *info.eta_seconds);
    } else {
      EXPECT_FALSE(info.eta_seconds.has_value()) << "no ETA before a rate is known";
    }
  }
  const auto& last = rec.seen->back();
  EXPECT_EQ(last.n, 200u);
  if (last.eta_seconds) {
    EXPECT_EQ(*last.eta_seconds, 0.0);
  }
}

TEST(Progress, AnUnsizedRangeWithoutATotalHasCountAndRateOnly) {
  Recorder rec;
  int seen = 0;
  for (int x : futures::progress(Counter(50), {.callback = rec.callback()})) EXPECT_EQ(x, seen++);
  EXPECT_EQ(seen, 50);
  ASSERT_EQ(rec.seen->size(), 50u);
  EXPECT_EQ(rec.seen->back().n, 50u);
  EXPECT_FALSE(rec.seen->back().total.has_value());
  EXPECT_FALSE(rec.seen->back().eta_seconds.has_value());
}

TEST(Progress, AnUnsizedRangeWithATotal) {
  Recorder rec;
  Counter below_50(50);
  int n = 0;
  for (int x : futures::progress(below_50, {.total = 50, .callback = rec.callback()})) n += x >= 0;
  EXPECT_EQ(n, 50);
  ASSERT_EQ(rec.seen->size(), 50u);
  EXPECT_EQ(rec.seen->back().total, std::optional<std::size_t>(50));
  ASSERT_TRUE(rec.seen->back().eta_seconds.has_value() || rec.seen->back().rate == 0);
}

TEST(Progress, HoldsAnRvalueByValueAndAnLvalueByReference) {
  std::vector<int> xs{1, 2, 3};
  static_assert(std::is_same_v<decltype(futures::progress(xs)), futures::Progress<std::vector<int>&>>);
  static_assert(std::is_same_v<decltype(futures::progress(std::move(xs))), futures::Progress<std::vector<int>>>);
  static_assert(std::ranges::input_range<futures::Progress<std::vector<int>&>>);
  static_assert(std::ranges::input_range<futures::Progress<Counter>>);
  auto p = futures::progress(std::vector<int>{4, 5, 6});
  EXPECT_EQ(p.size(), 3u);
  EXPECT_EQ(p.bar().total(), std::optional<std::size_t>(3));
  int sum = 0;
  for (int x : p) sum += x;
  EXPECT_EQ(sum, 15);
  EXPECT_EQ(p.bar().n(), 3u);
}

// ---------------------------------------------------------------- futures' ranges

TEST(Progress, WrapsAsCompletedOfThreadPoolFutures) {
  futures::ThreadPoolExecutor ex(4);
  std::vector<futures::Future<int>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(ex.submit([i] { return i * i; }));
  static_assert(std::ranges::sized_range<futures::AsCompleted<int>>);
  Recorder rec;
  long sum = 0;
  for (futures::Future<int> f : futures::progress(futures::as_completed(fs, 60s), {.desc = "tasks", .callback = rec.callback()}))
    sum += f.result();
  long want = 0;
  for (int i = 0; i < 100; ++i) want += i * i;
  EXPECT_EQ(sum, want);
  ASSERT_EQ(rec.seen->size(), 100u);
  EXPECT_EQ(rec.seen->back().n, 100u);
  EXPECT_EQ(rec.seen->back().total, std::optional<std::size_t>(100)) << "as_completed() has a size";
}

TEST(Progress, AsCompletedCountsRepeatsOnce) {
  futures::Future<int> a, b;
  a.set_result(1);
  b.set_result(2);
  std::vector<futures::Future<int>> fs{a, b, a};
  EXPECT_EQ(futures::as_completed(fs).size(), 2u);
}

TEST(Progress, WrapsExecutorMap) {
  futures::ThreadPoolExecutor ex(2);
  Recorder rec;
  std::vector<int> xs{1, 2, 3, 4, 5};
  int sum = 0;
  for (int r : futures::progress(ex.map([](int x) { return x * 10; }, xs), {.callback = rec.callback()})) sum += r;
  EXPECT_EQ(sum, 150);
  ASSERT_EQ(rec.seen->size(), 5u);
  EXPECT_EQ(rec.seen->back().total, std::optional<std::size_t>(5));
}

// ------------------------------------------------------------------------- drawing

TEST(Progress, DoesNotDrawToAFileByDefault) {
  TempFile file;
  ASSERT_NE(file.get(), nullptr);
  {
    auto p = futures::progress(std::vector<int>(100), {.desc = "quiet", .file = file.get()});
    EXPECT_FALSE(p.bar().drawing());
    for (int x : p) (void)x;
  }
  EXPECT_EQ(file.text(), "");
}

TEST(Progress, DoesNotDrawToAPipeByDefault) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::FILE* out = ::fdopen(fds[1], "w");
  ASSERT_NE(out, nullptr);
  {
    futures::ProgressBar bar({.total = 10, .file = out});
    EXPECT_FALSE(bar.drawing());
    bar.update(10);
  }
  std::fclose(out);  // closes the write end: the read below sees the end at once
  char c;
  EXPECT_EQ(::read(fds[0], &c, 1), 0) << "nothing was written";
  ::close(fds[0]);
}

TEST(Progress, DrawsToATerminalByDefaultAcrossItsWidth) {
  int master = -1, slave = -1;
  winsize size{};
  size.ws_col = 50;
  size.ws_row = 24;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, &size), 0);
  std::FILE* tty = ::fdopen(slave, "w");
  ASSERT_NE(tty, nullptr);
  {
    futures::ProgressBar bar({.desc = "tty", .total = 4, .file = tty});
    EXPECT_TRUE(bar.drawing());
    bar.update(2);
    bar.update(2);
  }
  std::string text;
  pollfd pfd{master, POLLIN, 0};
  while (text.find("4/4") == std::string::npos || text.back() != '\n') {
    ASSERT_EQ(::poll(&pfd, 1, 10000), 1) << "the bar reaches the terminal: " << text;
    char buffer[1024];
    ssize_t got = ::read(master, buffer, sizeof buffer);
    ASSERT_GT(got, 0);
    text.append(buffer, static_cast<std::size_t>(got));
  }
  std::fclose(tty);
  ::close(master);
  std::string line = text.substr(text.rfind("tty: 100%"));
  line = line.substr(0, line.find_first_of("\r\n"));
  std::size_t columns = 0;
  for (unsigned char c : line) columns += (c & 0xC0) != 0x80;
  EXPECT_EQ(columns, 50u) << "the line spans the terminal: " << line;
}

TEST(Progress, DrawsWhenForced) {
  TempFile file;
  {
    auto p = futures::progress(std::vector<int>(1000), {.desc = "squares", .draw = true, .file = file.get()});
    EXPECT_TRUE(p.bar().drawing());
    for (int x : p) (void)x;
  }
  std::string text = file.text();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.front(), '\r') << "each line is drawn over the previous one";
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(count(text, '\n'), 1u) << "one newline, at the end";
  std::string line = last_line(text);
  EXPECT_EQ(line.rfind("squares: 100%|", 0), 0u) << line;
  EXPECT_NE(line.find("██████████| 1000/1000 ["), std::string::npos) << line;
  EXPECT_NE(line.find("it/s]"), std::string::npos) << line;
  EXPECT_NE(text.find("squares:   0%|          | 0/1000 [00:00<?, ?it/s]"), std::string::npos)
      << "the first line, drawn at the start";
}

TEST(Progress, AnEarlyBreakEndsTheLine) {
  TempFile file;
  {
    auto p = futures::progress(std::vector<int>(1000), {.desc = "early", .draw = true, .file = file.get()});
    int n = 0;
    for (int x : p) {
      (void)x;
      if (++n == 10) break;
    }
    EXPECT_EQ(p.bar().n(), 9u) << "the element the loop broke on was not moved past";
  }
  std::string text = file.text();
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(count(text, '\n'), 1u);
  std::string line = last_line(text);
  EXPECT_NE(line.find("early:   0%|"), std::string::npos) << line;
  EXPECT_NE(line.find(" 9/1000 "), std::string::npos) << line;
}

TEST(Progress, AnExceptionInTheLoopEndsTheLine) {
  TempFile file;
  EXPECT_THROW(
      {
        for (int x : futures::progress(Counter(100), {.draw = true, .file = file.get()}))
          if (x == 20) throw std::runtime_error("stop");
      },
      std::runtime_error);
  std::string text = file.text();
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(last_line(text).rfind("20it [", 0), 0u) << last_line(text);
}

TEST(Progress, MinIntervalThrottlesDrawingNotTheCallback) {
  TempFile slow, fast;
  Recorder slow_rec, fast_rec;
  for (int x : futures::progress(std::vector<int>(1000),
                                 {.callback = slow_rec.callback(), .draw = true, .file = slow.get(), .min_interval = 3600s}))
    (void)x;
  for (int x : futures::progress(std::vector<int>(1000),
                                 {.callback = fast_rec.callback(), .draw = true, .file = fast.get(), .min_interval = 0s}))
    (void)x;
  EXPECT_EQ(slow_rec.seen->size(), 1000u);
  EXPECT_EQ(fast_rec.seen->size(), 1000u);
  std::string slow_text = slow.text(), fast_text = fast.text();
  EXPECT_EQ(count(slow_text, '\r'), 2u) << "the first line and the one reaching the total";
  EXPECT_GE(count(fast_text, '\r'), 1000u) << "every update draws";
  EXPECT_NE(last_line(slow_text).find("1000/1000"), std::string::npos);
  EXPECT_NE(last_line(fast_text).find("1000/1000"), std::string::npos);
}

// ---------------------------------------------------------------------- the line

TEST(ProgressLine, WithATotal) {
  futures::ProgressInfo info{.n = 420, .total = 1000, .elapsed_seconds = 3.0, .rate = 140.0, .eta_seconds = 4.14};
  EXPECT_EQ(futures::detail::progress_line(info, "desc", std::nullopt),
            "desc:  42%|████▏     | 420/1000 [00:03<00:04, 140.00it/s]");
  EXPECT_EQ(futures::detail::progress_line(info, "", std::nullopt),
            " 42%|████▏     | 420/1000 [00:03<00:04, 140.00it/s]");
  info.n = 1000;
  info.eta_seconds = 0;
  EXPECT_EQ(futures::detail::progress_line(info, "", std::nullopt),
            "100%|██████████| 1000/1000 [00:03<00:00, 140.00it/s]");
}

TEST(ProgressLine, FillsNcolsColumns) {
  futures::ProgressInfo info{.n = 1, .total = 2, .elapsed_seconds = 75, .rate = 0.5, .eta_seconds = 2};
  std::string line = futures::detail::progress_line(info, "half", 60);
  EXPECT_EQ(line.rfind("half:  50%|", 0), 0u) << line;
  EXPECT_NE(line.find("| 1/2 [01:15<00:02, 2.00s/it]"), std::string::npos) << "a slow rate is shown in s/it: " << line;
  std::size_t columns = 0;
  for (unsigned char c : line) columns += (c & 0xC0) != 0x80;
  EXPECT_EQ(columns, 60u);
}

TEST(ProgressLine, WithoutATotal) {
  futures::ProgressInfo info{.n = 420, .elapsed_seconds = 3725, .rate = 140.0};
  EXPECT_EQ(futures::detail::progress_line(info, "d", std::nullopt), "d: 420it [1:02:05, 140.00it/s]");
  info.rate = 0;
  EXPECT_EQ(futures::detail::progress_line(info, "", std::nullopt), "420it [1:02:05, ?it/s]");
}

TEST(ProgressLine, Intervals) {
  EXPECT_EQ(futures::detail::format_interval(0), "00:00");
  EXPECT_EQ(futures::detail::format_interval(65.9), "01:05");
  EXPECT_EQ(futures::detail::format_interval(3600), "1:00:00");
  EXPECT_EQ(futures::detail::format_interval(-1), "00:00");
}

// -------------------------------------------------------------------- ProgressBar

TEST(ProgressBar, CountsByHand) {
  TempFile file;
  {
    futures::ProgressBar bar({.desc = "chunks", .total = 30, .draw = true, .file = file.get()});
    bar.update(10);
    bar.update();
    EXPECT_EQ(bar.n(), 11u);
    EXPECT_EQ(bar.info().n, 11u);
    bar.set_description("renamed");
    bar.update(19);
    bar.close();
    bar.close();  // idempotent
    bar.update();  // counts, draws no more
    EXPECT_EQ(bar.n(), 31u);
  }
  std::string text = file.text();
  EXPECT_EQ(count(text, '\n'), 1u);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(last_line(text).rfind("renamed: 100%|", 0), 0u) << last_line(text);
}

TEST(ProgressBar, UpdatesFromSeveralThreads) {
  TempFile file;
  std::atomic<int> calls{0};
  {
    futures::ProgressBar bar({.total = 4000,
                              .callback = [&](const futures::ProgressInfo&) { calls.fetch_add(1); },
                              .draw = true,
                              .file = file.get(),
                              .min_interval = 0s});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&] {
        for (int i = 0; i < 1000; ++i) bar.update();
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(bar.n(), 4000u);
  }
  EXPECT_EQ(calls.load(), 4000);
  EXPECT_NE(last_line(file.text()).find("4000/4000"), std::string::npos);
}
