// fetch_urls — fetch five URLs at once on a ThreadPoolExecutor and handle each page as
// soon as it arrives. The pages come from a small HTTP server that the program starts
// on 127.0.0.1 (no outside network); the client is libcurl.
//
// Shows: submit() with arguments, futures as the keys of a std::unordered_map (Python's
// dict from future to URL), as_completed(), result() rethrowing the task's exception,
// the `with` block as the executor's scope. The server is slow on purpose
// (0 to 0.2 s a page), so the pages arrive in order of their delay (as in Python, a
// busy machine may swap two), all in about 0.2 s rather than the 0.5 s of one after
// another. The port changes from run to run. Exits with 1 if a page failed or differs.
//
// The Python original (the server part is seeds::HTTPServer, in http_server.hpp):
//
//     import concurrent.futures, http.server, threading, time, urllib.request
//
//     PAGES = {"/": (b"<h1>pyconc</h1>\n", 0.2), "/robots.txt": (b"User-agent: *\n", 0.0),
//              "/news.html": (b"n" * 4_096, 0.05), "/video.mp4": (b"v" * 250_000, 0.1),
//              "/data.csv": (b"d" * 65_536, 0.15)}
//
//     class Handler(http.server.BaseHTTPRequestHandler):
//         def do_GET(self):                 # sleeps PAGES[self.path][1], sends [0]
//             ...
//
//     server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
//     serving = threading.Thread(target=server.serve_forever)
//     serving.start()
//     base = f"http://127.0.0.1:{server.server_address[1]}"
//
//     def load_url(url, timeout):
//         with urllib.request.urlopen(url, timeout=timeout) as conn:
//             return conn.read()
//
//     ok = 0
//     start = time.perf_counter()
//     with concurrent.futures.ThreadPoolExecutor(max_workers=5) as executor:
//         future_to_path = {executor.submit(load_url, base + path, 10): path for path in PAGES}
//         for future in concurrent.futures.as_completed(future_to_path):
//             path = future_to_path[future]
//             try:
//                 data = future.result()
//             except Exception as exc:
//                 print(f"{base + path} generated an exception: {exc}")
//             else:
//                 print(f"{base + path} page is {len(data)} bytes")
//                 ok += data == PAGES[path][0]
//     print(f"{ok} of {len(PAGES)} pages in {time.perf_counter() - start:.2f} s"
//           " (one after another: 0.50 s)")
//     server.shutdown()
//     serving.join()
//     assert ok == len(PAGES)
#include <curl/curl.h>
#include <pyconc/futures.hpp>
#include <pyconc/threading.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "http_server.hpp"

namespace futures = pyconc::futures;
namespace threading = pyconc::threading;
using namespace std::chrono_literals;

// libcurl hands the body over in pieces: collect them (conn.read()).
std::size_t append(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// urlopen(url, timeout=timeout).read(), with libcurl.
std::string load_url(const std::string& url, long timeout) {
  std::unique_ptr<CURL, void (*)(CURL*)> conn(curl_easy_init(), curl_easy_cleanup);
  std::string data;
  curl_easy_setopt(conn.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(conn.get(), CURLOPT_TIMEOUT, timeout);
  curl_easy_setopt(conn.get(), CURLOPT_NOSIGNAL, 1L);     // no SIGALRM: we are one thread of many
  curl_easy_setopt(conn.get(), CURLOPT_FAILONERROR, 1L);  // HTTP 404 etc. raise, as urlopen does
  curl_easy_setopt(conn.get(), CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(conn.get(), CURLOPT_WRITEDATA, &data);
  CURLcode rc = curl_easy_perform(conn.get());
  if (rc != CURLE_OK) throw pyconc::OSError(std::string("urlopen error: ") + curl_easy_strerror(rc));
  return data;
}

int main() {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const std::map<std::string, seeds::Page> PAGES = {
      {"/", {"<h1>pyconc</h1>\n", 0.2s}}, {"/robots.txt", {"User-agent: *\n", 0s}},
      {"/news.html", {std::string(4'096, 'n'), 0.05s}}, {"/video.mp4", {std::string(250'000, 'v'), 0.1s}},
      {"/data.csv", {std::string(65'536, 'd'), 0.15s}}};

  seeds::HTTPServer server(PAGES);
  threading::Thread serving([&server] { server.serve_forever(); });
  serving.start();
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());

  std::size_t ok = 0;
  auto start = std::chrono::steady_clock::now();
  {
    futures::ThreadPoolExecutor executor(5);
    std::unordered_map<futures::Future<std::string>, std::string> future_to_path;
    for (const auto& [path, page] : PAGES)
      future_to_path.emplace(executor.submit(load_url, base + path, 10L), path);
    for (futures::Future<std::string> future : futures::as_completed(future_to_path)) {
      const std::string& path = future_to_path.at(future);
      try {
        const std::string& data = future.result();
        std::printf("%s page is %zu bytes\n", (base + path).c_str(), data.size());
        ok += data == PAGES.at(path).body;
      } catch (const std::exception& exc) {
        std::printf("%s generated an exception: %s\n", (base + path).c_str(), exc.what());
      }
    }
  }
  pyconc::Seconds elapsed = std::chrono::steady_clock::now() - start;
  std::printf("%zu of %zu pages in %.2f s (one after another: 0.50 s)\n", ok, PAGES.size(), elapsed.count());
  server.shutdown();
  serving.join();
  curl_global_cleanup();
  return ok == PAGES.size() ? 0 : 1;  // assert
}
