// web_fetch — a thread per URL fetches it and prints the HTTP status.
// Concept: threads for I/O-bound work: the requests wait on the network side by side,
// and the lines come in the order the answers arrive.
//
// The Python original:
//
//     import threading
//     import requests
//
//     def fetch_url(url):
//         response = requests.get(url)
//         print(f"Fetched {url} with status {response.status_code}")
//
//     urls = ["https://www.example.com", "https://www.python.org", "https://www.github.com"]
//     threads = []
//     for url in urls:
//         thread = threading.Thread(target=fetch_url, args=(url,))
//         thread.start()
//         threads.append(thread)
//     for thread in threads:
//         thread.join()
//
// The port needs no network: it serves three pages from 127.0.0.1 (http_server.hpp, on
// a thread of its own) and fetches http://127.0.0.1:<port>/example etc.
// requests.get is libcurl (requests.hpp).
#include <pyconc/threading.hpp>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "http_server.hpp"
#include "requests.hpp"

namespace threading = pyconc::threading;
namespace requests = seeds::requests;

void fetch_url(const std::string& url) {
  requests::Response response = requests::get(url);
  std::printf("Fetched %s with status %ld\n", url.c_str(), response.status_code);
}

int main() {
  seeds::TutorialSites sites;  // the three sites, served from 127.0.0.1
  std::vector<std::string> urls = sites.urls();
  std::vector<threading::Thread> threads;
  for (const auto& url : urls) {
    threading::Thread thread(fetch_url, url);
    thread.start();
    threads.push_back(std::move(thread));
  }
  for (auto& thread : threads) thread.join();
}
