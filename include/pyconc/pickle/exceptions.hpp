// Exceptions across processes (docs/conventions.md, "Exceptions"): an exception thrown
// in a worker is pickled with dump_exception and rethrown where the result is collected
// with raise_exception.
//
//     catch (...) { reply = pickle::dump_exception(std::current_exception()); }
//     ...
//     pickle::raise_exception(reply);   // throws the same type with the same message
//
// What comes back as itself: every exception of pyconc/errors.hpp (OSError and its
// subclasses keep errnum(), ExceptionGroup its sub-exceptions, RemoteError its remote
// type, asyncio.IncompleteReadError its partial data and expected size); std::exception,
// runtime_error, logic_error, invalid_argument, out_of_range, length_error,
// domain_error, range_error, overflow_error, underflow_error and bad_alloc; and user
// types registered with PYCONC_REGISTER_EXCEPTION. Anything else comes back as
// pyconc::RemoteError carrying the original type's name and message (a subclass of a
// pyconc error that did not register comes back as its nearest pyconc base, the one
// whose type_name() it reports).
//
// Wire format: (type name, message, payload bytes), pickled; the payload is whatever
// that type needs beyond its message.
#pragma once

#include <cstddef>
#include <exception>
#include <span>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "pyconc/errors.hpp"
#include "pyconc/pickle/archive.hpp"

namespace pyconc::pickle {

/// Pickles an in-flight exception. ValueError for a null exception_ptr.
std::vector<std::byte> dump_exception(std::exception_ptr error);

/// Rebuilds the exception pickled in `data`, as an exception_ptr (for a future's
/// set_exception). ValueError when `data` is not a pickled exception.
std::exception_ptr load_exception(std::span<const std::byte> data);

/// Throws the exception pickled in `data` (ValueError when `data` is not one).
[[noreturn]] void raise_exception(std::span<const std::byte> data);

namespace detail {

/// How one exception type travels: its name on the wire, how to write what it needs
/// beyond its message, how to rebuild it.
struct ExceptionCodec {
  std::string name;
  const std::type_info* type;
  void (*save)(const std::exception& error, std::vector<std::byte>& payload);
  std::exception_ptr (*load)(const std::string& message, std::span<const std::byte> payload, int depth);
};

/// Adds `codec` to the process-wide registry. Registering the same name for the same
/// type twice is a no-op; the same name for another type, or the same type under
/// another name, is a ValueError.
void register_exception_codec(ExceptionCodec codec);

template <class E>
constexpr bool serialisable_exception() {
  if constexpr (kind_v<E> == Kind::Cereal) return picklable<E>();
  else return false;
}

}  // namespace detail

/// Registers exception type E under `name` so that it crosses processes as itself. E
/// derives from std::exception and either has a cereal serialize (or save/load) and a
/// default constructor — then the whole object travels — or is constructible from a
/// std::string — then its what() travels and E(what) is rethrown. Both processes must
/// register it (they do, when the registration is a PYCONC_REGISTER_EXCEPTION at
/// namespace scope of the same program). Returns true, for use in an initialiser.
template <class E>
bool register_exception(std::string name) {
  static_assert(std::is_base_of_v<std::exception, E>, "register_exception<E>: E must derive from std::exception");
  detail::ExceptionCodec codec;
  codec.name = std::move(name);
  codec.type = &typeid(E);
  if constexpr (detail::serialisable_exception<E>()) {
    codec.save = [](const std::exception& error, std::vector<std::byte>& payload) {
      OutputArchive ar(payload);
      detail::encode(ar, dynamic_cast<const E&>(error));
    };
    codec.load = [](const std::string&, std::span<const std::byte> payload, int) {
      E value{};
      InputArchive ar(payload);
      detail::decode(ar, value);
      if (ar.left() != 0) detail::raise_trailing(ar.left());
      return std::make_exception_ptr(std::move(value));
    };
  } else {
    static_assert(std::is_constructible_v<E, std::string>,
                  "register_exception<E>: E needs a constructor from std::string (the message) or "
                  "a cereal serialize() member and a default constructor");
    codec.save = [](const std::exception&, std::vector<std::byte>&) {};
    codec.load = [](const std::string& message, std::span<const std::byte>, int) {
      return std::make_exception_ptr(E(message));
    };
  }
  detail::register_exception_codec(std::move(codec));
  return true;
}

}  // namespace pyconc::pickle

#define PYCONC_PICKLE_CONCAT_INNER(a, b) a##b
#define PYCONC_PICKLE_CONCAT(a, b) PYCONC_PICKLE_CONCAT_INNER(a, b)

/// Registers an exception type (at namespace scope, outside any function) so that it
/// crosses processes as itself; its name on the wire is the text of the argument, so
/// write it the same way (fully qualified) wherever you register it.
///
///     struct QuotaError : std::runtime_error { using std::runtime_error::runtime_error; };
///     PYCONC_REGISTER_EXCEPTION(app::QuotaError);
#define PYCONC_REGISTER_EXCEPTION(Type)                                                 \
  [[maybe_unused]] static const bool PYCONC_PICKLE_CONCAT(pyconc_registered_exception_, \
                                                          __COUNTER__) =                \
      ::pyconc::pickle::register_exception<Type>(#Type)
