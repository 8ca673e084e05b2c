// fetch_urls — three URLs fetched by three threads, then a closing line.
// Concept: threads for I/O-bound work, built in a list comprehension, all started, then
// all joined; the "Fetched" lines come in the order the answers arrive.
//
// The Python original:
//
//     import threading
//     import requests
//
//     def fetch_url(url):
//         response = requests.get(url)
//         print(f"Fetched {url}: {response.status_code}")
//
//     urls = ["https://www.example.com", "https://www.python.org", "https://www.github.com"]
//     threads = [threading.Thread(target=fetch_url, args=(url,)) for url in urls]
//     for t in threads:
//         t.start()
//     for t in threads:
//         t.join()
//     print("All URLs fetched.")
//
// The port needs no network: it serves three pages from 127.0.0.1 (http_server.hpp, on
// a thread of its own) and fetches http://127.0.0.1:<port>/example etc.
// requests.get is libcurl (requests.hpp).
#include <pyconc/threading.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "http_server.hpp"
#include "requests.hpp"

namespace threading = pyconc::threading;
namespace requests = seeds::requests;

void fetch_url(const std::string& url) {
  requests::Response response = requests::get(url);
  std::printf("Fetched %s: %ld\n", url.c_str(), response.status_code);
}

int main() {
  seeds::TutorialSites sites;  // the three sites, served from 127.0.0.1
  std::vector<std::string> urls = sites.urls();
  std::vector<threading::Thread> threads;
  for (const auto& url : urls) threads.emplace_back(fetch_url, url);
  for (auto& t : threads) t.start();
  for (auto& t : threads) t.join();
  std::printf("All URLs fetched.\n");
}
