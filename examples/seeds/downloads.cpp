// downloads — three simulated downloads, a thread each: all done in ~2 s, not 6.
// Concept: threads that wait (a sleep stands for the network) overlap their waiting.
// --quick: sleeps of 20 ms instead of 2 s.
//
// The Python original:
//
//     import threading
//     import time
//
//     def download_file(name):
//         print(f"Starting download of {name}...")
//         time.sleep(2)
//         print(f"Finished downloading {name}")
//
//     files = ["file1.zip", "file2.zip", "file3.zip"]
//     threads = []
//     for name in files:
//         thread = threading.Thread(target=download_file, args=(name,))
//         thread.start()
//         threads.append(thread)
//     for thread in threads:
//         thread.join()
//     print("All files have been downloaded.")
#include <pyconc/threading.hpp>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "tutorial.hpp"

namespace threading = pyconc::threading;
using namespace seeds;  // time::sleep

void download_file(const std::string& name) {
  std::printf("Starting download of %s...\n", name.c_str());
  time::sleep(2);
  std::printf("Finished downloading %s\n", name.c_str());
}

int main(int argc, char** argv) {
  read_quick_flag(argc, argv);
  std::vector<std::string> files = {"file1.zip", "file2.zip", "file3.zip"};
  std::vector<threading::Thread> threads;
  for (const auto& name : files) {
    threading::Thread thread(download_file, name);
    thread.start();
    threads.push_back(std::move(thread));
  }
  for (auto& thread : threads) thread.join();
  std::printf("All files have been downloaded.\n");
}
