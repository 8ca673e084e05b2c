// pyconc::pickle — what crosses a process boundary: Python's pickle.dumps and
// pickle.loads for C++ values (docs/conventions.md, "Serialisation"), and the transport
// of exceptions (docs/conventions.md, "Exceptions").
//
//     namespace pickle = pyconc::pickle;
//     std::vector<std::byte> bytes = pickle::dumps(std::map<std::string, int>{{"a", 1}});
//     auto m = pickle::loads<std::map<std::string, int>>(bytes);
//
// What pickles: arithmetic types, enums, trivially copyable structs (as their bytes),
// std::string, vector, deque, list, array, map, multimap, set, multiset, the unordered
// containers, optional, variant, monostate, tuple, pair, any nesting of these, and user
// types with a cereal `serialize` (or `save`/`load`) member or free function. Anything
// else is a compile-time error (Python: PicklingError at run time); `Picklable<T>`
// says so up front. See docs/pickle.md for the wire format and the differences from
// Python.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstring>
#include <memory>
#include <exception>
#include <new>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "pyconc/errors.hpp"
#include "pyconc/pickle/archive.hpp"
#include "pyconc/pickle/exceptions.hpp"

namespace pyconc::pickle {

/// True when dumps and loads compile for T: T is one of the types listed above (nested
/// as deep as you like), default-constructible or constructible from
/// `pickle::for_loading` (see pickle/for_loading.hpp), or a user type with exactly one cereal
/// serialization for pyconc's archives. Process APIs static_assert it:
///
///     static_assert(pickle::Picklable<Arg>, "give Arg a cereal serialize() member");
template <class T>
concept Picklable = detail::picklable<std::remove_cvref_t<T>>();

namespace detail {
template <class T>
constexpr void check_picklable() {
  static_assert(Picklable<T>,
                "pyconc::pickle: this type cannot be pickled. Give it a cereal "
                "`template <class Archive> void serialize(Archive& ar)` member (or save/load) and a "
                "default constructor (or one from pickle::for_loading), or make it a trivially "
                "copyable struct; raw pointers cannot cross processes. See docs/pickle.md.");
}

template <class T>
void load_checked(std::span<const std::byte> data, T& out) {
  try {
    if constexpr (uses_cereal<T>()) {
      InputArchive in(data);
      decode(in, out);
      if (in.left() != 0) raise_trailing(in.left());
    } else {
      FastReader in(data);
      decode(in, out);
      if (in.left() != 0) raise_trailing(in.left());
    }
  } catch (const ValueError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    // A user load() that threw: the data did not describe a valid value.
    raise_user_load_failed(e.what());
  }
}
}  // namespace detail

/// Appends the pickle of `value` to `out` (Python: pickle.dump into a buffer). Allocates
/// only when `out` lacks capacity; on an exception `out` keeps its previous contents.
template <class T>
void dump_into(std::vector<std::byte>& out, const T& value) {
  detail::check_picklable<T>();
  if constexpr (!detail::uses_cereal<T>()) {
    if constexpr (detail::is_raw<T>()) {
      // The hot path (an int, a struct): one bounds check and a copy.
      detail::append(out, std::addressof(value), sizeof(T));
    } else {
      std::size_t mark = out.size();
      try {
        detail::FastWriter w(out);
        detail::encode(w, value);
      } catch (...) {
        out.resize(mark);
        throw;
      }
    }
  } else {
    std::size_t mark = out.size();
    try {
      OutputArchive ar(out);
      detail::encode(ar, value);
    } catch (...) {
      out.resize(mark);
      throw;
    }
  }
}

/// Serialises `value` (Python: pickle.dumps). A trivially copyable T is its own bytes:
/// dumps(int) is 4 bytes.
template <class T>
std::vector<std::byte> dumps(const T& value) {
  detail::check_picklable<T>();
  if constexpr (detail::is_raw<T>()) {
    std::vector<std::byte> out(sizeof(T));
    std::memcpy(out.data(), std::addressof(value), sizeof(T));
    return out;
  } else {
    std::vector<std::byte> out;
    if (std::size_t hint = detail::size_hint(value)) out.reserve(hint);
    dump_into(out, value);
    return out;
  }
}

/// Deserialises `data` into `out`, reusing what `out` already holds where it can (a
/// vector keeps its capacity). ValueError when `data` is not exactly one complete T;
/// `out` is then valid but unspecified.
template <class T>
void load_from(std::span<const std::byte> data, T& out) {
  detail::check_picklable<T>();
  if constexpr (detail::is_raw<T>()) {
    if (data.size() != sizeof(T)) detail::raise_size_mismatch(data.size(), sizeof(T));
    std::memcpy(std::addressof(out), data.data(), sizeof(T));
  } else {
    detail::load_checked(data, out);
  }
}

/// Deserialises a T (Python: pickle.loads). ValueError when `data` is truncated, has
/// trailing bytes, or cannot be a T (payloads carry no type tags: data of another type
/// is detected only when it cannot parse).
template <class T>
T loads(std::span<const std::byte> data) {
  detail::check_picklable<T>();
  T value = detail::make_blank<T>();  // built from for_loading where T allows (see pickle/for_loading.hpp)
  load_from(data, value);
  return value;
}

}  // namespace pyconc::pickle
