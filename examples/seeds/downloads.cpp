// downloads — three simulated downloads in parallel: the total time is the longest
// one's, not the sum.
//
// Shows: threads that wait (a sleep stands for the network) overlapping; passing
// several arguments to a target. Exits with 1 if the downloads did not overlap. The
// "done" lines come in this order (their finish times are 0.1 s apart).
//
// The Python original:
//
//     import threading
//     import time
//
//     def download(name, seconds):
//         time.sleep(seconds)                    # the network at work
//         print(f"{name}: done after {seconds} s")
//
//     files = [("report.pdf", 0.3), ("photo.jpg", 0.2), ("notes.txt", 0.1)]
//     start = time.perf_counter()
//     threads = [threading.Thread(target=download, args=f) for f in files]
//     for t in threads:
//         t.start()
//     for t in threads:
//         t.join()
//     elapsed = time.perf_counter() - start
//     print(f"{len(files)} files in {elapsed:.2f} s (one after another: 0.6 s)")
//     assert elapsed < 0.6
#include <pyconc/threading.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace threading = pyconc::threading;
using namespace std::chrono_literals;

void download(const std::string& name, pyconc::Seconds seconds) {
  std::this_thread::sleep_for(seconds);  // the network at work
  std::printf("%s: done after %.1f s\n", name.c_str(), seconds.count());
}

int main() {
  std::vector<std::pair<std::string, pyconc::Seconds>> files = {
      {"report.pdf", 0.3s}, {"photo.jpg", 0.2s}, {"notes.txt", 0.1s}};
  auto start = std::chrono::steady_clock::now();
  std::vector<threading::Thread> threads;
  for (auto& [name, seconds] : files) threads.emplace_back(download, name, seconds);
  for (auto& t : threads) t.start();
  for (auto& t : threads) t.join();
  pyconc::Seconds elapsed = std::chrono::steady_clock::now() - start;
  std::printf("%zu files in %.2f s (one after another: 0.6 s)\n", files.size(), elapsed.count());
  return elapsed < 0.6s ? 0 : 1;  // assert
}
