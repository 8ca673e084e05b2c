// multiprocessing.Pipe, multiprocessing.connection.Connection and
// multiprocessing.connection.wait: message channels between processes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyconc/detail/timeout.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/pickle.hpp"

namespace pyconc::multiprocessing {

/// Python's multiprocessing.BufferTooShort: recv_bytes_into() got a message longer than
/// the room in the buffer. The message was consumed; message() holds all of it.
class BufferTooShort : public ProcessError {
 public:
  explicit BufferTooShort(std::vector<std::byte> message)
      : ProcessError("message of " + std::to_string(message.size()) + " bytes does not fit the buffer"),
        message_(std::move(message)) {}
  const std::vector<std::byte>& message() const noexcept { return message_; }
  const char* type_name() const noexcept override { return "multiprocessing.BufferTooShort"; }

 private:
  std::vector<std::byte> message_;
};

namespace connection {

class Waitable;
namespace detail {
struct ConnectionState;
struct ConnectionAccess;
}  // namespace detail

/// One end of a Pipe (Python's multiprocessing.connection.Connection): sends and
/// receives whole messages, pickled objects (send/recv) or raw bytes (send_bytes/
/// recv_bytes), to and from the process holding the other end.
///
///     auto [parent, child] = multiprocessing::Pipe();
///     // in the child process:  child.send(std::string("hello"));
///     auto text = parent.recv<std::string>();          // blocks until a message comes
///     if (parent.poll(0.5s)) parent.recv_bytes();      // a message within 0.5 s?
///
/// A Connection is a cheap handle: copies share one end (close() closes it for every
/// copy in this process). It crosses processes by fork (inherited) or as an argument of
/// a Process or of a pool task (Pool, ProcessPoolExecutor) under every start method
/// (the child receives the segment name and the end's file descriptors). Pickled
/// anywhere else (e.g. into a Queue) its save() throws
/// ValueError.
///
/// Thread safety: every member may be called from any thread. Two threads (or two
/// processes sharing an end after fork) sending at once never interleave their
/// messages: each direction has a sender lock and a receiver lock in shared memory
/// (a ProcessMutex), held for one whole message. close() wakes the calls of this
/// process blocked on this end; they raise OSError("handle is closed").
///
/// Memory ordering: a send() happens-before the recv() that returns that message.
///
/// Implementation: each direction is a ring of 1 MiB in a shared-memory segment
/// (head/tail counters, messages framed by an 8-byte length, streamed through the ring
/// in chunks when larger). A waiting reader spins up to 20 µs, then sleeps in
/// poll() on an eventfd "doorbell" that the writer rings only when someone sleeps or
/// watches fileno(); a socketpair between the two ends tells either side when the
/// other is gone (EOF/HUP once every process holding it has closed it or died).
///
/// Differences from Python: recv<T>() names the type it expects (payloads carry no type
/// tag: the wrong T raises ValueError only when the bytes cannot parse). fileno() is an
/// epoll descriptor (readable when a message waits or the peer is gone); it may turn
/// readable spuriously for a moment — call poll() before a recv() that must not block.
/// A corrupt ring (another process scribbling into the segment) raises OSError
/// (EBADMSG) instead of undefined behaviour. Connection objects are copyable handles.
/// On a busy pipe a sender checks that its peer lives at most once a millisecond: a
/// send within 1 ms of the peer's death may succeed (the message is lost, as one in
/// flight is) and the next raises BrokenPipeError. docs/multiprocessing/connection.md.
class Connection {
 public:
  /// A closed connection (what a default-constructed handle is; cereal needs one).
  Connection() = default;

  /// Sends `obj` pickled (pyconc::pickle). BrokenPipeError when the other end is
  /// gone; OSError when closed or read-only.
  template <class T>
  void send(const T& obj) {
    if constexpr (pyconc::pickle::detail::is_raw<T>()) {  // its pickle is its bytes
      send_bytes(std::as_bytes(std::span<const T, 1>(&obj, 1)));
    } else {
      auto& buf = scratch();
      buf.clear();
      pyconc::pickle::dump_into(buf, obj);
      send_bytes(std::span<const std::byte>(buf));
      trim(buf);
    }
  }

  /// Receives one message and unpickles it as T. EOFError when the other end is gone
  /// and nothing is left; ValueError when the message is not a T.
  template <class T>
  T recv() {
    if constexpr (pyconc::pickle::detail::is_raw<T>()) {
      T value;
      std::size_t n;
      try {
        n = recv_bytes_into(std::as_writable_bytes(std::span<T, 1>(&value, 1)));
      } catch (const BufferTooShort& e) {
        n = e.message().size();
      }
      if (n != sizeof(T)) pyconc::pickle::detail::raise_size_mismatch(n, sizeof(T));
      return value;
    } else {
      auto& buf = scratch();
      recv_bytes_reusing(buf);
      T value = pyconc::pickle::detail::make_blank<T>();  // a handle attaches, creates nothing
      try {
        pyconc::pickle::load_from(std::span<const std::byte>(buf), value);
      } catch (...) {
        trim(buf);
        throw;
      }
      trim(buf);
      return value;
    }
  }

  /// Sends buf[offset : offset + size] as one message (size: the rest of the buffer).
  /// ValueError for a negative offset/size or one past the buffer's end.
  void send_bytes(std::span<const std::byte> buf, long long offset = 0, std::optional<long long> size = std::nullopt);
  void send_bytes(const std::string& buf, long long offset = 0, std::optional<long long> size = std::nullopt) {
    send_bytes(std::as_bytes(std::span<const char>(buf.data(), buf.size())), offset, size);
  }

  /// Receives one message. With `maxlength`, a longer message raises
  /// OSError("bad message length") and, as Python, leaves this end unreadable (a
  /// read-only end is closed). ValueError for a negative maxlength.
  std::vector<std::byte> recv_bytes(std::optional<long long> maxlength = std::nullopt);
  /// recv_bytes() into `out` (replacing its contents, reusing its capacity).
  void recv_bytes_reusing(std::vector<std::byte>& out);

  /// Receives one message into buf[offset:]; returns its length. BufferTooShort (with
  /// the whole message) when it does not fit. ValueError for a bad offset.
  std::size_t recv_bytes_into(std::span<std::byte> buf, long long offset = 0);

  /// Whether data (or the other end's EOF) is ready to read. Python's default timeout
  /// is 0: returns at once. A negative timeout is 0.
  bool poll() { return poll(Seconds(0)); }
  bool poll(Seconds timeout);
  /// poll(None): waits until data or EOF.
  bool poll_forever();

  /// Closes this end (for every copy in this process). Idempotent.
  void close() noexcept;
  bool closed() const noexcept;
  bool readable() const noexcept;
  bool writable() const noexcept;
  /// An fd for select/poll/epoll: readable when a message waits or the peer is gone.
  int fileno() const;

  /// Identity: copies of one handle compare equal.
  friend bool operator==(const Connection& a, const Connection& b) noexcept { return a.state_ == b.state_; }

  /// cereal: travels as a Process argument only (see reduction.hpp).
  template <class Archive>
  void save(Archive& ar) const {
    auto w = export_wire();
    ar(w.segment, w.role, w.readable, w.writable, w.sock, w.efd_in, w.efd_out);
  }
  template <class Archive>
  void load(Archive& ar) {
    Wire w;
    ar(w.segment, w.role, w.readable, w.writable, w.sock, w.efd_in, w.efd_out);
    import_wire(w);
  }

 private:
  friend struct detail::ConnectionAccess;  // pyconc's own code: detail/connection_access.hpp
  friend class Waitable;
  explicit Connection(std::shared_ptr<detail::ConnectionState> state) noexcept : state_(std::move(state)) {}

  struct Wire {
    std::string segment;
    std::uint32_t role = 0;
    bool readable = false, writable = false;
    std::uint32_t sock = 0, efd_in = 0, efd_out = 0;
  };
  // A per-thread buffer for send/recv of objects (no allocation per message).
  static std::vector<std::byte>& scratch() noexcept {
    thread_local std::vector<std::byte> buf;
    return buf;
  }
  static void trim(std::vector<std::byte>& buf) noexcept {
    if (buf.capacity() > (std::size_t{1} << 20)) std::vector<std::byte>().swap(buf);
  }
  Wire export_wire() const;
  void import_wire(const Wire& w);
  std::shared_ptr<detail::ConnectionState> state_;
};

/// Something connection::wait() can wait on: a Connection (ready when it has data or
/// EOF), a file descriptor (ready when readable, e.g. a Process sentinel), or any
/// object with a fileno() member.
class Waitable {
 public:
  Waitable(const Connection& c) : connection_(c), fd_(-1) {}  // NOLINT: implicit on purpose
  Waitable(int fd) : fd_(fd) {}                               // NOLINT
  template <class T>
    requires(!std::is_convertible_v<const T&, Connection> && requires(const T& t) { { t.fileno() } -> std::convertible_to<int>; })
  Waitable(const T& obj) : fd_(obj.fileno()) {}  // NOLINT

  /// The Connection, or nullptr for an fd.
  const Connection* connection() const noexcept { return connection_.state_ ? &connection_ : nullptr; }
  /// The fd (-1 for a Connection).
  int fd() const noexcept { return fd_; }

  friend bool operator==(const Waitable& a, const Waitable& b) noexcept {
    return a.connection_ == b.connection_ && a.fd_ == b.fd_;
  }

 private:
  Connection connection_;
  int fd_;
};

/// Python's multiprocessing.connection.wait(object_list, timeout): waits until at
/// least one object is ready or the timeout passes; returns the ready ones (in the
/// given order; empty on timeout). A negative timeout is 0. Without a timeout: forever.
std::vector<Waitable> wait(const std::vector<Waitable>& objects);
std::vector<Waitable> wait(const std::vector<Waitable>& objects, Seconds timeout);

}  // namespace connection

using connection::Connection;

/// Python's multiprocessing.Pipe(duplex=True): a pair of connected Connections. With
/// duplex=false the first can only receive and the second can only send.
std::pair<Connection, Connection> Pipe(bool duplex = true);

}  // namespace pyconc::multiprocessing
