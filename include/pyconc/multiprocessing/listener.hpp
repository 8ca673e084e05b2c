// multiprocessing.connection.Listener / Client / deliver_challenge / answer_challenge:
// Connections between processes that find each other by address, authenticated with
// a shared key (what a Manager serves its proxies over).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/timeout.hpp"
#include "pyconc/multiprocessing/connection.hpp"

namespace pyconc::multiprocessing::connection {

/// Python's Listener(address=None, family=None, backlog=1, authkey=None) keywords.
struct ListenerOptions {
  /// A filesystem path, or an abstract socket name starting with '\0'. None: a fresh
  /// abstract name ("\0pyconc-listener-<pid>-<random>").
  std::optional<std::string> address;
  /// "AF_UNIX" (the only family offered; empty means AF_UNIX).
  std::string family;
  int backlog = 1;
  /// When given, every accepted client must prove it holds the same key (HMAC-SHA256
  /// challenge both ways) before accept() returns it.
  std::optional<std::vector<std::byte>> authkey;
};

/// Python's Client(address, family=None, authkey=None) keywords.
struct ClientOptions {
  std::string family;
  std::optional<std::vector<std::byte>> authkey;
};

/// A bound, listening socket (Python's multiprocessing.connection.Listener): accept()
/// returns a Connection to each Client that connects (and authenticates).
///
///     connection::Listener listener({.authkey = key});
///     // another process: auto c = connection::Client(address, {.authkey = key});
///     Connection conn = listener.accept();
///     auto msg = conn.recv<std::string>();
///
/// The Connection accept() and Client() return is pyconc's shared-memory Pipe (the
/// socket only introduces the two ends), so it is as fast as one made by Pipe() and
/// behaves the same (EOFError once the peer is gone, connection::wait, ...).
///
/// Thread safety: every member may be called from any thread; close() wakes a thread
/// blocked in accept(), also one authenticating a client (it raises OSError "listener
/// is closed").
///
/// Memory ordering: as Pipe's (a send happens-before the recv that returns it).
///
/// Differences from Python: only AF_UNIX (a path or an abstract '\0' name); AF_INET
/// raises ValueError (a pyconc Connection is a shared-memory ring, which only works
/// on one machine). The default address is an abstract name, not a file in a temporary
/// directory (nothing to clean up). With an authkey, a client that connects and stays
/// silent makes accept() raise AuthenticationError after 20 s instead of blocking it
/// for ever. The challenge is not Python's wire format (a pyconc Client cannot talk to
/// a Python Listener). A path address is unlinked by close(), as Python's.
class Listener {
 public:
  /// Listener(address, ...) is Listener({.address = address, ...}).
  explicit Listener(ListenerOptions options = {});
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  /// Waits for a client; authenticates it when an authkey was given
  /// (AuthenticationError when it fails: the client is dropped, the listener goes on).
  /// OSError once closed.
  Connection accept();
  /// Stops listening (a path address is unlinked). Idempotent.
  void close() noexcept;
  /// The address clients connect to (an abstract name starts with '\0').
  std::string address() const;
  /// The address of the last accepted client's socket (usually empty for AF_UNIX, as
  /// in Python); nullopt before the first accept().
  std::optional<std::string> last_accepted() const;
  /// The listening socket (readable when a client waits).
  int fileno() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

/// Connects to a Listener at `address`; authenticates when `authkey` is given.
/// FileNotFoundError / ConnectionRefusedError-like OSError when nobody listens there;
/// AuthenticationError when the keys differ.
Connection Client(const std::string& address, ClientOptions options = {});

/// The challenge: sends a random message, checks the HMAC the peer returns
/// (AuthenticationError "digest received was wrong" otherwise).
void deliver_challenge(Connection& connection, const std::vector<std::byte>& authkey);
/// The answer: receives a challenge and returns its HMAC (AuthenticationError when the
/// peer rejects it, "digest sent was rejected").
void answer_challenge(Connection& connection, const std::vector<std::byte>& authkey);

}  // namespace pyconc::multiprocessing::connection
