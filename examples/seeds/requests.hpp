// requests.get(url) for the web seeds, on libcurl (Debian: libcurl4-openssl-dev):
//
//     seeds::requests::Response response = seeds::requests::get(url);
//     response.status_code;   // 200, 404, ...
//     response.text;          // the body
//
// As with Python's requests, an HTTP error status is a response, not an exception; a
// failed connection raises pyconc::OSError (requests: ConnectionError). Safe to call
// from several threads at once (each call has its own connection).
#pragma once

#include <curl/curl.h>
#include <pyconc/errors.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace seeds::requests {

struct Response {
  long status_code = 0;
  std::string text;
};

namespace detail {
// libcurl hands the body over in pieces: collect them.
inline std::size_t append(char* data, std::size_t size, std::size_t n, void* text) {
  static_cast<std::string*>(text)->append(data, size * n);
  return size * n;
}
}  // namespace detail

inline Response get(const std::string& url, long timeout_seconds = 10) {
  static const CURLcode initialised = curl_global_init(CURL_GLOBAL_DEFAULT);  // once, thread-safe
  std::unique_ptr<CURL, void (*)(CURL*)> conn(curl_easy_init(), curl_easy_cleanup);
  if (initialised != CURLE_OK || !conn) throw pyconc::OSError("requests.get: cannot start libcurl");
  Response response;
  curl_easy_setopt(conn.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(conn.get(), CURLOPT_TIMEOUT, timeout_seconds);
  curl_easy_setopt(conn.get(), CURLOPT_NOSIGNAL, 1L);  // no SIGALRM: we are one thread of many
  curl_easy_setopt(conn.get(), CURLOPT_WRITEFUNCTION, detail::append);
  curl_easy_setopt(conn.get(), CURLOPT_WRITEDATA, &response.text);
  CURLcode rc = curl_easy_perform(conn.get());
  if (rc != CURLE_OK) throw pyconc::OSError("requests.get(" + url + "): " + curl_easy_strerror(rc));
  curl_easy_getinfo(conn.get(), CURLINFO_RESPONSE_CODE, &response.status_code);
  return response;
}

}  // namespace seeds::requests
