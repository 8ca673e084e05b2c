// A tiny HTTP/1.0 server for the seeds, standing in for Python's
// http.server.ThreadingHTTPServer: it listens on 127.0.0.1 on a port the kernel picks,
// answers GET requests from a table of pages, and serves each connection on a
// threading::Thread of its own, so several clients are served at once.
//
//     seeds::HTTPServer server({{"/", {"<h1>hi</h1>"}}});  // bound to 127.0.0.1:0
//     threading::Thread t([&] { server.serve_forever(); });
//     t.start();
//     std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
//     ...
//     server.shutdown();  // serve_forever() returns
//     t.join();
//
// A page may have a delay (the server "thinks" before it answers). An unknown path
// gets 404. Linux only (sockets, poll); errors while setting up raise pyconc::OSError.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pyconc/errors.hpp>
#include <pyconc/threading.hpp>

#include <cerrno>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace seeds {

struct Page {
  std::string body;
  pyconc::Seconds delay{0};  // how long the server takes before answering
};

class HTTPServer {
 public:
  explicit HTTPServer(std::map<std::string, Page> pages) : pages_(std::move(pages)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) pyconc::raise_os_error(errno, "socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;  // any free port
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      int err = errno;
      close(fd_);
      pyconc::raise_os_error(err, "bind 127.0.0.1:0");
    }
    port_ = ntohs(addr.sin_port);
  }
  HTTPServer(const HTTPServer&) = delete;
  HTTPServer& operator=(const HTTPServer&) = delete;
  ~HTTPServer() { close(fd_); }

  int port() const { return port_; }

  /// Accepts connections until shutdown(), checking for it every 50 ms (Python's
  /// poll_interval); then waits for the connections being served.
  void serve_forever() {
    std::vector<pyconc::threading::Thread> handlers;  // only this thread touches it
    while (!stop_.is_set()) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      handlers.emplace_back([this, conn] { handle(conn); });
      handlers.back().start();
    }
    for (auto& t : handlers) t.join();
    stopped_.set();
  }

  /// Stops serve_forever() and waits until it has returned (call it from another thread).
  void shutdown() {
    stop_.set();
    stopped_.wait();
  }

 private:
  void handle(int conn) const {
    std::string request;
    char buffer[1024];
    while (request.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = recv(conn, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<std::size_t>(n));
    }
    // "GET /path HTTP/1.1": the path lies between the first two spaces.
    std::size_t from = request.find(' ') + 1, to = request.find(' ', from);
    auto page = pages_.find(request.substr(from, to - from));
    std::string status = page != pages_.end() ? "200 OK" : "404 Not Found";
    std::string body = page != pages_.end() ? page->second.body : "no such page\n";
    if (page != pages_.end()) std::this_thread::sleep_for(page->second.delay);
    std::string response = "HTTP/1.0 " + status + "\r\nContent-Type: text/plain\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body;
    for (std::size_t sent = 0; sent < response.size();) {
      ssize_t n = send(conn, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    close(conn);
  }

  const std::map<std::string, Page> pages_;
  int fd_ = -1;
  int port_ = 0;
  pyconc::threading::Event stop_, stopped_;
};

/// The three sites the tutorials' fetch programs visit, served from 127.0.0.1 by an
/// HTTPServer on a thread of its own for as long as this object lives.
///
///     seeds::TutorialSites sites;
///     std::vector<std::string> urls = sites.urls();  // http://127.0.0.1:<port>/example, ...
class TutorialSites {
 public:
  TutorialSites() { serving_.start(); }
  ~TutorialSites() {
    server_.shutdown();
    serving_.join();
  }
  TutorialSites(const TutorialSites&) = delete;
  TutorialSites& operator=(const TutorialSites&) = delete;

  std::vector<std::string> urls() const {
    std::string base = "http://127.0.0.1:" + std::to_string(server_.port());
    return {base + "/example", base + "/python", base + "/github"};
  }

 private:
  HTTPServer server_{{{"/example", {"<h1>Example Domain</h1>\n"}},
                      {"/python", {"<h1>Welcome to Python.org</h1>\n"}},
                      {"/github", {"<h1>GitHub</h1>\n"}}}};
  pyconc::threading::Thread serving_{[this] { server_.serve_forever(); }};
};

}  // namespace seeds
