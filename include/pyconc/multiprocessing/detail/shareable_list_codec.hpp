// How a ShareableList<T> stores its elements in a SharedMemory block.
//
//   [ header: magic, signature, length, data offset ]                   32 bytes
//   [ slot offsets: length + 1 uint64 ]          only for variable slots (strings)
//   [ slot 0 ][ slot 1 ] ...                                     from data offset
//
// Slots: a trivially copyable T is its bytes (rounded up to 8); a std::string is an
// 8-byte length and a capacity fixed at creation, 8 * (len / 8 + 1) bytes as Python
// gives its str slots; a std::variant is an 8-byte index and a payload big enough for its
// largest fixed alternative or for the string it was created with. The signature
// describes T, so attaching with the wrong element type raises ValueError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "pyconc/errors.hpp"

namespace pyconc::multiprocessing::detail::shareable_list {

inline constexpr std::uint64_t kMagic = 0x315453494c434e59ull;  // "YNCLIST1"
inline constexpr std::size_t kHeaderBytes = 32;

constexpr std::size_t round8(std::size_t n) { return (n + 7) / 8 * 8; }
constexpr std::uint64_t mix(std::uint64_t h, std::uint64_t v) { return (h ^ v) * 1099511628211ull + 0x9e3779b97f4a7c15ull; }

template <class T>
struct is_variant : std::false_type {};
template <class... Ts>
struct is_variant<std::variant<Ts...>> : std::true_type {};

template <class T>
struct Codec {
  static_assert(sizeof(T) == 0,
                "ShareableList<T>: T must be trivially copyable (numbers, enums, plain structs), std::string, "
                "or a std::variant of those");
};

/// Numbers, enums and plain structs: stored as their bytes.
template <class T>
  requires(std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T> && !is_variant<T>::value)
struct Codec<T> {
  static constexpr bool fixed = true;
  static constexpr std::size_t fixed_size = round8(sizeof(T));
  static constexpr std::uint64_t signature =
      mix(mix(mix(mix(1, sizeof(T)), alignof(T)), std::is_integral_v<T> * 2 + std::is_signed_v<T>),
          std::is_floating_point_v<T> * 4 + std::is_enum_v<T> * 8 + std::is_same_v<T, bool> * 16);
  static std::size_t need(const T&) { return fixed_size; }
  static bool fits(const T&, std::size_t capacity) { return fixed_size <= capacity; }
  static void write(std::byte* slot, std::size_t, const T& value) { std::memcpy(slot, &value, sizeof(T)); }
  static T read(const std::byte* slot, std::size_t) {
    T value{};
    std::memcpy(&value, slot, sizeof(T));
    return value;
  }
};

/// Strings: an 8-byte length, then the bytes (any bytes, NUL included).
template <>
struct Codec<std::string> {
  static constexpr bool fixed = false;
  static constexpr std::size_t fixed_size = 0;
  static constexpr std::uint64_t signature = mix(2, 0);
  static std::size_t need(const std::string& value) { return 8 + 8 * (value.size() / 8 + 1); }
  static bool fits(const std::string& value, std::size_t capacity) { return 8 + value.size() <= capacity; }
  static void write(std::byte* slot, std::size_t, const std::string& value) {
    std::uint64_t length = value.size();
    std::memcpy(slot, &length, 8);
    if (length > 0) std::memcpy(slot + 8, value.data(), value.size());
  }
  static std::string read(const std::byte* slot, std::size_t capacity) {
    std::uint64_t length = 0;
    std::memcpy(&length, slot, 8);
    if (capacity < 8 || length > capacity - 8) throw ValueError("ShareableList: corrupt string slot");
    return std::string(reinterpret_cast<const char*>(slot + 8), static_cast<std::size_t>(length));
  }
};

/// Variants of the above: an 8-byte alternative index, then that alternative's slot.
template <class... Ts>
struct Codec<std::variant<Ts...>> {
  using V = std::variant<Ts...>;
  static constexpr bool fixed = (Codec<Ts>::fixed && ...);
  static constexpr std::size_t payload_min = [] {
    std::size_t m = 0;
    ((m = Codec<Ts>::fixed_size > m ? Codec<Ts>::fixed_size : m), ...);
    return m;
  }();
  static constexpr std::size_t fixed_size = 8 + payload_min;
  static constexpr std::uint64_t signature = [] {
    std::uint64_t h = mix(3, sizeof...(Ts));
    ((h = mix(h, Codec<Ts>::signature)), ...);
    return h;
  }();
  static std::size_t need(const V& value) {
    std::size_t held = std::visit([](const auto& alt) { return Codec<std::decay_t<decltype(alt)>>::need(alt); }, value);
    return 8 + (held > payload_min ? held : payload_min);
  }
  static bool fits(const V& value, std::size_t capacity) {
    if (capacity < 8) return false;
    return std::visit([capacity](const auto& alt) { return Codec<std::decay_t<decltype(alt)>>::fits(alt, capacity - 8); },
                      value);
  }
  static void write(std::byte* slot, std::size_t capacity, const V& value) {
    std::uint64_t index = value.index();
    std::memcpy(slot, &index, 8);
    std::visit([&](const auto& alt) { Codec<std::decay_t<decltype(alt)>>::write(slot + 8, capacity - 8, alt); }, value);
  }
  static V read(const std::byte* slot, std::size_t capacity) {
    std::uint64_t index = 0;
    std::memcpy(&index, slot, 8);
    if (capacity < 8 || index >= sizeof...(Ts)) throw ValueError("ShareableList: corrupt variant slot");
    return read_alt(slot + 8, capacity - 8, static_cast<std::size_t>(index), std::index_sequence_for<Ts...>{});
  }

 private:
  template <std::size_t... I>
  static V read_alt(const std::byte* payload, std::size_t capacity, std::size_t index, std::index_sequence<I...>) {
    V out;
    (void)((index == I ? (out.template emplace<I>(Codec<std::variant_alternative_t<I, V>>::read(payload, capacity)), true)
                 : false) ||
     ...);
    return out;
  }
};

}  // namespace pyconc::multiprocessing::detail::shareable_list
