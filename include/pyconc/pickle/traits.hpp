// pyconc::pickle's classification of C++ types: what kind of value a T is on the wire
// (Kind), whether it pickles at all, whether it needs cereal's machinery (a user type),
// the fewest bytes it can encode to. Compile-time only; archive.hpp builds the encoder
// and decoder on it.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <cereal/cereal.hpp>

#include "pyconc/pickle/for_loading.hpp"

namespace pyconc::pickle {

class OutputArchive;
class InputArchive;

namespace detail {

// ---- what kind of type is T ---------------------------------------------------------

template <class T, template <class...> class Tmpl>
inline constexpr bool is_spec_v = false;
template <template <class...> class Tmpl, class... A>
inline constexpr bool is_spec_v<Tmpl<A...>, Tmpl> = true;

template <class T>
inline constexpr bool is_std_array_v = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array_v<std::array<T, N>> = true;

template <class T>
inline constexpr bool is_basic_string_v = false;
template <class C, class Tr, class A>
inline constexpr bool is_basic_string_v<std::basic_string<C, Tr, A>> = true;

template <class T>
inline constexpr bool is_sequence_v = is_spec_v<T, std::vector> || is_spec_v<T, std::deque> || is_spec_v<T, std::list>;

template <class T>
inline constexpr bool is_associative_v =
    is_spec_v<T, std::map> || is_spec_v<T, std::multimap> || is_spec_v<T, std::set> ||
    is_spec_v<T, std::multiset> || is_spec_v<T, std::unordered_map> || is_spec_v<T, std::unordered_multimap> ||
    is_spec_v<T, std::unordered_set> || is_spec_v<T, std::unordered_multiset>;

template <class T>
inline constexpr bool is_vector_bool_v = false;
template <class A>
inline constexpr bool is_vector_bool_v<std::vector<bool, A>> = true;

enum class Kind {
  None,        // not picklable
  Bool,        // one checked byte
  Scalar,      // arithmetic or enum: its bytes
  Bytes,       // a trivially copyable type without serialize: its bytes
  Monostate,   // nothing
  String,      // count + characters
  VectorBool,  // count + one checked byte per element
  Sequence,    // vector, deque, list: count + elements
  Array,       // std::array: the elements
  Associative, // map, set and their multi/unordered forms: count + elements
  Optional,    // flag + value
  Variant,     // index + alternative
  Tuple,       // tuple, pair: the members
  Cereal,      // a user type with a cereal serialize/save/load
};

template <class T>
constexpr bool has_user_serialization() {
  return cereal::traits::detail::count_output_serializers<T, OutputArchive>::value > 0 ||
         cereal::traits::detail::count_input_serializers<T, InputArchive>::value > 0;
}

/// The standard library's trivially copyable types that only point at data elsewhere.
template <class T>
struct is_view : std::false_type {};
template <class C, class Traits>
struct is_view<std::basic_string_view<C, Traits>> : std::true_type {};
template <class E, std::size_t N>
struct is_view<std::span<E, N>> : std::true_type {};
template <class E>
struct is_view<std::reference_wrapper<E>> : std::true_type {};
template <class T>
inline constexpr bool is_view_v = is_view<T>::value;

template <class T>
constexpr Kind kind_of() {
  if constexpr (std::is_reference_v<T> || std::is_const_v<T> || std::is_volatile_v<T>) return Kind::None;
  else if constexpr (std::is_same_v<T, bool>) return Kind::Bool;
  else if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T>) return Kind::Scalar;
  else if constexpr (std::is_same_v<T, std::monostate>) return Kind::Monostate;
  else if constexpr (is_basic_string_v<T>) return Kind::String;
  else if constexpr (is_vector_bool_v<T>) return Kind::VectorBool;
  else if constexpr (is_sequence_v<T>) return Kind::Sequence;
  else if constexpr (is_std_array_v<T>) return Kind::Array;
  else if constexpr (is_associative_v<T>) return Kind::Associative;
  else if constexpr (is_spec_v<T, std::optional>) return Kind::Optional;
  else if constexpr (is_spec_v<T, std::variant>) return Kind::Variant;
  else if constexpr (is_spec_v<T, std::tuple> || is_spec_v<T, std::pair>) return Kind::Tuple;
  else if constexpr (std::is_pointer_v<T> || std::is_member_pointer_v<T> || std::is_null_pointer_v<T>)
    return Kind::None;  // an address means nothing in another process
  else if constexpr (is_view_v<T>)
    return Kind::None;  // views hold addresses too: send the std::string / std::vector
  else if constexpr (std::is_class_v<T> && has_user_serialization<T>()) return Kind::Cereal;
  else if constexpr (std::is_array_v<T>) return Kind::None;  // use std::array
  else if constexpr (std::is_trivially_copyable_v<T> && std::is_class_v<T>) return Kind::Bytes;
  else if constexpr (std::is_trivially_copyable_v<T> && std::is_union_v<T>) return Kind::Bytes;
  else return Kind::None;
}

template <class T>
inline constexpr Kind kind_v = kind_of<T>();

/// True when a T is written as its own bytes and read back with one memcpy (so a
/// contiguous run of them is one memcpy too).
template <class T>
constexpr bool is_raw() {
  constexpr Kind k = kind_v<T>;
  if constexpr (k == Kind::Scalar || k == Kind::Bytes) return true;
  else if constexpr (k == Kind::Array) return is_raw<typename T::value_type>();
  else return false;
}

/// The fewest bytes a T can encode to (0 for a user type: unknown).
template <class T>
constexpr std::size_t min_wire() {
  constexpr Kind k = kind_v<T>;
  if constexpr (k == Kind::Bool) return 1;
  else if constexpr (k == Kind::Scalar || k == Kind::Bytes) return sizeof(T);
  else if constexpr (k == Kind::String || k == Kind::VectorBool || k == Kind::Sequence || k == Kind::Associative)
    return 8;
  else if constexpr (k == Kind::Array) return std::tuple_size_v<T> * min_wire<typename T::value_type>();
  else if constexpr (k == Kind::Optional) return 1;
  else if constexpr (k == Kind::Variant) {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      std::size_t m = SIZE_MAX;
      ((m = std::min(m, min_wire<std::variant_alternative_t<I, T>>())), ...);
      return 1 + m;
    }(std::make_index_sequence<std::variant_size_v<T>>{});
  } else if constexpr (k == Kind::Tuple) {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return (std::size_t{0} + ... + min_wire<std::tuple_element_t<I, T>>());
    }(std::make_index_sequence<std::tuple_size_v<T>>{});
  } else return 0;
}

/// The fewest bytes one element of a counted container takes (see the padding rule).
template <class... E>
inline constexpr std::size_t element_wire_v = std::max<std::size_t>(1, (std::size_t{0} + ... + min_wire<E>()));

/// True when the elements may write nothing, so that the writer pads them.
template <class... E>
inline constexpr bool needs_pad_v = (std::size_t{0} + ... + min_wire<E>()) == 0;

template <class T>
constexpr bool picklable();

template <class... E>
constexpr bool all_picklable() {
  return (picklable<E>() && ...);
}

template <class T>
constexpr bool picklable() {
  constexpr Kind k = kind_v<T>;
  if constexpr (k == Kind::None) return false;
  else if constexpr (!blank_constructible_v<T> || !std::is_move_constructible_v<T>) return false;
  else if constexpr (k == Kind::String) return is_raw<typename T::value_type>();
  else if constexpr (k == Kind::Sequence || k == Kind::Array || k == Kind::Optional) return picklable<typename T::value_type>();
  else if constexpr (k == Kind::Associative) {
    if constexpr (requires { typename T::mapped_type; })
      return all_picklable<typename T::key_type, typename T::mapped_type>();
    else
      return picklable<typename T::key_type>();
  } else if constexpr (k == Kind::Variant) {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return std::variant_size_v<T> <= 255 && all_picklable<std::variant_alternative_t<I, T>...>();
    }(std::make_index_sequence<std::variant_size_v<T>>{});
  } else if constexpr (k == Kind::Tuple) {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return all_picklable<std::tuple_element_t<I, T>...>();
    }(std::make_index_sequence<std::tuple_size_v<T>>{});
  } else if constexpr (k == Kind::Cereal) {
    return cereal::traits::is_output_serializable<T, OutputArchive>::value &&
           cereal::traits::is_input_serializable<T, InputArchive>::value;
  } else return true;
}

/// True when some part of T needs cereal's machinery (a user type).
template <class T>
constexpr bool uses_cereal() {
  constexpr Kind k = kind_v<T>;
  if constexpr (k == Kind::Cereal) return true;
  else if constexpr (k == Kind::Sequence || k == Kind::Array || k == Kind::Optional) return uses_cereal<typename T::value_type>();
  else if constexpr (k == Kind::Associative) {
    if constexpr (requires { typename T::mapped_type; })
      return uses_cereal<typename T::key_type>() || uses_cereal<typename T::mapped_type>();
    else
      return uses_cereal<typename T::key_type>();
  } else if constexpr (k == Kind::Variant) {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return (uses_cereal<std::variant_alternative_t<I, T>>() || ...);
    }(std::make_index_sequence<std::variant_size_v<T>>{});
  } else if constexpr (k == Kind::Tuple) {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return (false || ... || uses_cereal<std::tuple_element_t<I, T>>());
    }(std::make_index_sequence<std::tuple_size_v<T>>{});
  } else return false;
}

/// The exact encoded size when it is cheap to know (fixed-size types, strings and
/// vectors of raw elements), else 0.
template <class T>
std::size_t size_hint(const T& value) noexcept {
  constexpr Kind k = kind_v<T>;
  if constexpr (k == Kind::Bool) return 1;
  else if constexpr (is_raw<T>()) return sizeof(T);
  else if constexpr (k == Kind::String) return 8 + value.size() * sizeof(typename T::value_type);
  else if constexpr (k == Kind::Sequence && is_spec_v<T, std::vector>) {
    if constexpr (is_raw<typename T::value_type>()) return 8 + value.size() * sizeof(typename T::value_type);
    else return 0;
  } else return 0;
}

template <class>
inline constexpr bool dependent_false_v = false;

}  // namespace detail
}  // namespace pyconc::pickle
