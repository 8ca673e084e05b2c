// How pyconc::pickle makes the value it loads into. Every place the decoder creates a
// value (loads() itself, an element of a sequence, an optional's or a variant's value, a
// map's key and mapped value, and the members of tuples, pairs and std::arrays made
// that way) builds a *blank*: a type constructible from `pickle::for_loading` is built
// from it, everything else is value-initialised (`T{}`) as before.
//
// Why: some default constructors create something. A default-constructed
// multiprocessing::Lock makes a new /dev/shm segment and registers it with the resource
// tracker, only for load() to replace it by the segment the pickle names. A handle type
// gives itself a `T(pickle::for_loading_t)` constructor that makes an empty handle,
// valid only as the target of load():
//
//     class Handle {
//      public:
//       Handle();                                          // creates the shared object
//       explicit Handle(pyconc::pickle::for_loading_t) {}  // creates nothing
//       template <class Archive> void load(Archive& ar);   // attaches by name
//     };
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace pyconc::pickle {

/// The tag of "a blank to be loaded into" (see above).
struct for_loading_t {
  explicit for_loading_t() = default;
};
inline constexpr for_loading_t for_loading{};

namespace detail {

template <class T>
struct blank_traits {
  static constexpr bool tagged = std::is_constructible_v<T, for_loading_t>;
  /// Whether making a blank T builds some part of it from for_loading.
  static constexpr bool special = tagged;
  /// Whether a blank T can be made at all.
  static constexpr bool constructible = tagged || std::is_default_constructible_v<T>;
};

template <class... E>
struct blank_members {
  static constexpr bool special = (blank_traits<E>::special || ...);
  static constexpr bool constructible = (blank_traits<E>::constructible && ...);
};

template <class... E>
struct blank_traits<std::tuple<E...>> : blank_members<E...> {
  static constexpr bool tagged = false;
};
template <class A, class B>
struct blank_traits<std::pair<A, B>> : blank_members<A, B> {
  static constexpr bool tagged = false;
};
// The standard wrappers have converting constructors that would take the tag for what
// they hold: they are never "tagged" themselves. A blank optional is empty; a blank
// variant holds a blank of its first alternative.
template <class E>
struct blank_traits<std::optional<E>> {
  static constexpr bool tagged = false;
  static constexpr bool special = false;
  static constexpr bool constructible = true;
};
template <class A0, class... A>
struct blank_traits<std::variant<A0, A...>> {
  static constexpr bool tagged = false;
  static constexpr bool special = blank_traits<A0>::special;
  static constexpr bool constructible = blank_traits<A0>::constructible;
};
template <class E, std::size_t N>
struct blank_traits<std::array<E, N>> {
  static constexpr bool tagged = false;
  static constexpr bool special = N > 0 && blank_traits<E>::special;
  static constexpr bool constructible = N == 0 || blank_traits<E>::constructible;
};

/// Whether making a blank T differs from `T{}` (some part is built from for_loading).
template <class T>
inline constexpr bool special_blank_v = blank_traits<T>::special;
/// Whether the decoder can make a blank T.
template <class T>
inline constexpr bool blank_constructible_v = blank_traits<T>::constructible;

/// A blank T (returned as a prvalue: no copy when it initialises a variable).
template <class T>
T make_blank() {
  if constexpr (blank_traits<T>::tagged) {
    return T(for_loading);
  } else if constexpr (!special_blank_v<T>) {
    return T{};
  } else if constexpr (requires { typename std::variant_size<T>::type; }) {
    return T(std::in_place_index<0>, make_blank<std::variant_alternative_t<0, T>>());
  } else if constexpr (requires { typename std::tuple_size<T>::type; } && !requires { typename T::value_type; }) {
    // tuple, pair: each member a blank
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return T(make_blank<std::tuple_element_t<I, T>>()...);
    }(std::make_index_sequence<std::tuple_size_v<T>>{});
  } else {
    // std::array: each element a blank
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return T{{((void)I, make_blank<typename T::value_type>())...}};
    }(std::make_index_sequence<std::tuple_size_v<T>>{});
  }
}

/// Adds a blank element at the end of a sequence and returns it.
template <class C>
typename C::value_type& emplace_blank_back(C& c) {
  using E = typename C::value_type;
  if constexpr (blank_traits<E>::tagged) return c.emplace_back(for_loading);
  else if constexpr (special_blank_v<E>) return c.emplace_back(make_blank<E>());
  else return c.emplace_back();
}

/// Makes an optional's value a blank and returns it.
template <class E>
E& emplace_blank(std::optional<E>& o) {
  if constexpr (blank_traits<E>::tagged) return o.emplace(for_loading);
  else if constexpr (special_blank_v<E>) return o.emplace(make_blank<E>());
  else return o.emplace();
}

/// Makes a variant's alternative I a blank and returns it.
template <std::size_t I, class... A>
std::variant_alternative_t<I, std::variant<A...>>& emplace_blank(std::variant<A...>& v) {
  using E = std::variant_alternative_t<I, std::variant<A...>>;
  if constexpr (blank_traits<E>::tagged) return v.template emplace<I>(for_loading);
  else if constexpr (special_blank_v<E>) return v.template emplace<I>(make_blank<E>());
  else return v.template emplace<I>();
}

}  // namespace detail
}  // namespace pyconc::pickle
