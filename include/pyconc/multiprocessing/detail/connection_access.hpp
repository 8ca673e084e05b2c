// What pyconc's own code (the Listener, connection::wait, the tests) may do with a
// Connection beyond its public API: reach its state, wrap a state in a handle.
#pragma once

#include <memory>
#include <utility>

#include "pyconc/multiprocessing/connection.hpp"

namespace pyconc::multiprocessing::connection::detail {

struct ConnectionState;

/// The narrow door to a Connection's internals.
struct ConnectionAccess {
  /// The end's state (null for a default-constructed handle).
  static const std::shared_ptr<ConnectionState>& state(const Connection& c) noexcept { return c.state_; }
  /// A handle to `state`.
  static Connection wrap(std::shared_ptr<ConnectionState> state) noexcept { return Connection(std::move(state)); }
};

/// Removes the name of the connection's shared-memory segment (the mapping stays): a
/// Listener does it once the client has attached, so nothing is left in /dev/shm even
/// if a process is killed. Such a Connection then crosses only into fork children.
void unlink_segment(const Connection& c);

}  // namespace pyconc::multiprocessing::connection::detail
