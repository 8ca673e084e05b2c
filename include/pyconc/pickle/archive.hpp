// pyconc::pickle's wire format: two cereal archives over a byte buffer, and the encoder
// and decoder of the standard types they share.
//
//   dumps/dump_into ──► encode(sink, x) ──► std::vector<std::byte>
//                         │  arithmetic, enums, bytes of trivially copyable structs,
//                         │  strings, containers, optional, variant, tuple, pair: here
//                         └► a user type with a cereal serialize/save/load: cereal's
//                            machinery, whose `ar(member)` calls come back to encode()
//   loads/load_from   ◄── decode(source, x) ◄── std::span<const std::byte> + cursor
//
// A type tree with no user type never builds a cereal archive: it is written by a
// FastWriter (a pointer to the buffer) and read by a FastReader (a span and a cursor),
// so pickling an int is a bounds check and a 4-byte copy.
//
// Wire format (host byte order: both ends run on the same machine):
//   bool                      1 byte, 0 or 1
//   arithmetic, enum          its bytes (sizeof)
//   trivially copyable struct its bytes (sizeof), when it has no serialize of its own
//   std::monostate            nothing
//   string, vector, deque,    u64 count, then the elements (one copy of count*sizeof(T)
//   list, map, set, ...       bytes when the elements are bytes-like)
//   std::array                the N elements, no count
//   optional                  u8 0/1, then the value when 1
//   variant                   u8 index, then the alternative
//   tuple, pair               the members in order
// An element of a counted container that wrote no bytes at all (a monostate, an empty
// tuple, a user type whose serialize writes nothing) is followed by one 0x00 byte, so
// every counted element costs at least one byte and a count can always be checked
// against the bytes left before anything is allocated. Which kind of value a type is,
// and the fewest bytes it encodes to, is decided in traits.hpp.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
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

#include "pyconc/errors.hpp"
#include "pyconc/pickle/for_loading.hpp"
#include "pyconc/pickle/traits.hpp"

namespace pyconc::pickle {

class OutputArchive;
class InputArchive;

namespace detail {

/// The deepest nesting of user types (cereal serialize) pyconc pickles or unpickles:
/// hostile input must not recurse until the stack overflows (Python's own pickle stops
/// at its recursion limit, 1000 by default).
inline constexpr int kMaxDepth = 1000;

[[noreturn]] void raise_truncated(std::size_t wanted, std::size_t left);
[[noreturn]] void raise_bad_count(std::uint64_t count, std::size_t left);
[[noreturn]] void raise_invalid(const char* what, unsigned value);
[[noreturn]] void raise_too_deep();
[[noreturn]] void raise_duplicate_key();
[[noreturn]] void raise_trailing(std::size_t left);
[[noreturn]] void raise_size_mismatch(std::size_t got, std::size_t want);
[[noreturn]] void raise_user_load_failed(const char* what);
[[noreturn]] void raise_over_budget(std::size_t count, std::size_t each, std::size_t left, std::size_t budget);

// ---- the allocation budget ----------------------------------------------------------

/// What one loads/load_from may allocate for the value it builds (never more than the
/// input justifies: docs/conventions.md, "Serialisation"): a fixed allowance plus a constant times the input
/// size. The constant covers what legitimate payloads need: a count of 8 bytes becomes
/// a 32-byte std::string or a 24-byte vector, an optional or variant flag of 1 byte a
/// 16 to 40-byte element, a one-byte key a 33 to 40-byte tree node; the allowance lets
/// small payloads of big elements (a handful of 4 KiB structs) through.
inline constexpr std::size_t kBudgetAllowance = std::size_t{1} << 20;
inline constexpr std::size_t kBudgetPerInputByte = 64;

constexpr std::size_t budget_for(std::size_t input) noexcept {
  if (input > (SIZE_MAX - kBudgetAllowance) / kBudgetPerInputByte) return SIZE_MAX;
  return kBudgetAllowance + kBudgetPerInputByte * input;
}

/// The bytes a reader may still allocate. Every container decode charges count × the
/// memory one element takes before it reserves, resizes or adds elements; nested
/// containers charge the same budget, so the whole value stays within it.
class Budget {
 public:
  explicit Budget(std::size_t input) noexcept : left_(budget_for(input)), total_(left_) {}

  /// Takes `count` × `Each` bytes from the budget, or raises ValueError (leaving it
  /// unchanged) when they are not there.
  template <std::size_t Each>
  void charge(std::size_t count) {
    static_assert(Each > 0);
    if (count > left_ / Each) raise_over_budget(count, Each, left_, total_);
    left_ -= count * Each;
  }
  std::size_t left() const noexcept { return left_; }

 private:
  std::size_t left_;
  std::size_t total_;
};

// What one element of a container costs in memory: its node as libstdc++ lays it out
// (within a word of the truth, never below sizeof(element)), a hash bucket, a share of
// a deque block.
template <class E>
struct ListNode {  // std::list: next, prev, value
  void* link[2];
  E value;
};
template <class E>
struct TreeNode {  // std::map/set: colour, parent, left, right, value
  int colour;
  void* link[3];
  E value;
};
template <class E>
struct HashNode {  // std::unordered_*: next, value, cached hash
  void* next;
  E value;
  std::size_t hash;
};
inline constexpr std::size_t kDequeBlock = 512;  // libstdc++'s deque block, in bytes
/// What an empty deque holds already: its map of 8 block pointers and one block.
inline constexpr std::size_t kDequeFixed = 8 * sizeof(void*) + kDequeBlock;

template <class T>
constexpr std::size_t element_cost() {
  using E = typename T::value_type;
  if constexpr (is_spec_v<T, std::list>) {
    return sizeof(ListNode<E>);
  } else if constexpr (is_spec_v<T, std::deque>) {
    if constexpr (sizeof(E) >= kDequeBlock) return sizeof(E);
    else return (kDequeBlock + kDequeBlock / sizeof(E) - 1) / (kDequeBlock / sizeof(E));
  } else if constexpr (kind_v<T> == Kind::Associative) {
    if constexpr (requires { typename T::hasher; }) return sizeof(HashNode<E>) + sizeof(void*);  // + a bucket
    else return sizeof(TreeNode<E>);
  } else {
    return sizeof(E);  // vector, string: contiguous
  }
}

// ---- sinks and sources --------------------------------------------------------------

/// Appends `n` bytes to `out`: a few bytes by a resize and a fixed-size memcpy (the
/// compiler makes it a store), a run by a range insert (no zero-filling first).
inline void append(std::vector<std::byte>& out, const void* data, std::size_t n) {
  if (n <= 16) {
    std::size_t old = out.size();
    out.resize(old + n);
    if (n != 0) std::memcpy(out.data() + old, data, n);
  } else {
    auto p = static_cast<const std::byte*>(data);
    out.insert(out.end(), p, p + n);
  }
}

/// Appends to a byte vector: the writer of type trees without user types.
class FastWriter {
 public:
  explicit FastWriter(std::vector<std::byte>& out) noexcept : out_(&out) {}
  void put(const void* data, std::size_t n) { append(*out_, data, n); }
  std::size_t written() const noexcept { return out_->size(); }

 private:
  std::vector<std::byte>* out_;
};

/// Reads a span with a cursor: the reader of type trees without user types.
class FastReader {
 public:
  explicit FastReader(std::span<const std::byte> in) noexcept : in_(in), budget_(in.size()) {}
  void get(void* data, std::size_t n) {
    if (n > in_.size() - pos_) raise_truncated(n, in_.size() - pos_);
    if (n != 0) std::memcpy(data, in_.data() + pos_, n);
    pos_ += n;
  }
  std::size_t left() const noexcept { return in_.size() - pos_; }
  std::size_t position() const noexcept { return pos_; }
  Budget& budget() noexcept { return budget_; }

 private:
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  Budget budget_;
};

template <class Sink>
void put_count(Sink& s, std::size_t n) {
  std::uint64_t v = n;
  s.put(&v, sizeof v);
}

/// Reads a count of elements that take at least `unit` bytes each, and checks it
/// against the bytes left before the caller allocates anything (the caller then
/// charges the memory they take to the reader's budget).
template <class Source>
std::size_t get_count(Source& s, std::size_t unit) {
  std::uint64_t v;
  s.get(&v, sizeof v);
  if (v > s.left() / unit) raise_bad_count(v, s.left());
  return static_cast<std::size_t>(v);
}

template <class Sink, class T>
void encode(Sink& s, const T& value);
template <class Source, class T>
void decode(Source& s, T& value);

/// Writes one element of a counted container: a 0x00 byte after it when it wrote nothing.
template <class... E, class Sink, class F>
void encode_element(Sink& s, F&& write) {
  if constexpr (needs_pad_v<E...>) {
    std::size_t before = s.written();
    write();
    if (s.written() == before) {
      std::uint8_t pad = 0;
      s.put(&pad, 1);
    }
  } else {
    write();
  }
}

template <class... E, class Source, class F>
void decode_element(Source& s, F&& read) {
  if constexpr (needs_pad_v<E...>) {
    std::size_t before = s.position();
    read();
    if (s.position() == before) {
      std::uint8_t pad;
      s.get(&pad, 1);
      if (pad != 0) raise_invalid("padding byte", pad);
    }
  } else {
    read();
  }
}

// ---- encode ---------------------------------------------------------------------

template <class Sink, class T>
void encode(Sink& s, const T& value) {
  constexpr Kind k = kind_v<T>;
  if constexpr (k == Kind::Bool) {
    std::uint8_t b = value ? 1 : 0;
    s.put(&b, 1);
  } else if constexpr (k == Kind::Scalar || k == Kind::Bytes) {
    s.put(std::addressof(value), sizeof(T));
  } else if constexpr (k == Kind::Monostate) {
  } else if constexpr (k == Kind::String) {
    put_count(s, value.size());
    s.put(value.data(), value.size() * sizeof(typename T::value_type));
  } else if constexpr (k == Kind::VectorBool) {
    put_count(s, value.size());
    for (bool b : value) encode(s, b);
  } else if constexpr (k == Kind::Sequence) {
    using E = typename T::value_type;
    put_count(s, value.size());
    if constexpr (is_raw<E>() && is_spec_v<T, std::vector>) {
      s.put(value.data(), value.size() * sizeof(E));
    } else {
      for (const E& e : value) encode_element<E>(s, [&] { encode(s, e); });
    }
  } else if constexpr (k == Kind::Array) {
    if constexpr (is_raw<T>()) {
      s.put(value.data(), sizeof(T));
    } else {
      for (const auto& e : value) encode(s, e);
    }
  } else if constexpr (k == Kind::Associative) {
    put_count(s, value.size());
    if constexpr (requires { typename T::mapped_type; }) {
      using K = typename T::key_type;
      using V = typename T::mapped_type;
      for (const auto& entry : value) encode_element<K, V>(s, [&] {
          encode(s, entry.first);
          encode(s, entry.second);
        });
    } else {
      using K = typename T::key_type;
      for (const K& key : value) encode_element<K>(s, [&] { encode(s, key); });
    }
  } else if constexpr (k == Kind::Optional) {
    std::uint8_t flag = value.has_value() ? 1 : 0;
    s.put(&flag, 1);
    if (flag) encode(s, *value);
  } else if constexpr (k == Kind::Variant) {
    if (value.valueless_by_exception()) throw ValueError("pickle: cannot pickle a valueless variant");
    std::uint8_t index = static_cast<std::uint8_t>(value.index());
    s.put(&index, 1);
    std::visit([&](const auto& alternative) { encode(s, alternative); }, value);
  } else if constexpr (k == Kind::Tuple) {
    std::apply([&](const auto&... member) { (encode(s, member), ...); }, value);
  } else if constexpr (k == Kind::Cereal) {
    if constexpr (std::is_same_v<Sink, OutputArchive>) s.process_user(value);
    else static_assert(dependent_false_v<T>, "internal: a user type reached the fast writer");
  } else {
    static_assert(dependent_false_v<T>,
                  "pyconc::pickle: this type cannot be pickled. Give it a cereal "
                  "`template <class Archive> void serialize(Archive& ar)` member (or save/load), "
                  "or make it trivially copyable; raw pointers cannot cross processes. "
                  "See docs/pickle.md.");
  }
}

// ---- decode ---------------------------------------------------------------------

template <class Source, class T>
void decode(Source& s, T& value) {
  constexpr Kind k = kind_v<T>;
  if constexpr (k == Kind::Bool) {
    std::uint8_t b;
    s.get(&b, 1);
    if (b > 1) raise_invalid("bool byte", b);
    value = b != 0;
  } else if constexpr (k == Kind::Scalar || k == Kind::Bytes) {
    s.get(std::addressof(value), sizeof(T));
  } else if constexpr (k == Kind::Monostate) {
  } else if constexpr (k == Kind::String) {
    using C = typename T::value_type;
    std::size_t n = get_count(s, sizeof(C));
    s.budget().template charge<sizeof(C)>(n);
    value.resize(n);
    s.get(value.data(), n * sizeof(C));
  } else if constexpr (k == Kind::VectorBool) {
    std::size_t n = get_count(s, 1);
    s.budget().template charge<sizeof(std::uint64_t)>(n / 64 + 1);  // the bits, in words
    value.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      bool b;
      decode(s, b);
      value[i] = b;
    }
  } else if constexpr (k == Kind::Sequence) {
    using E = typename T::value_type;
    std::size_t n = get_count(s, element_wire_v<E>);
    if constexpr (is_spec_v<T, std::deque>) s.budget().template charge<kDequeFixed>(1);
    s.budget().template charge<element_cost<T>()>(n);
    if constexpr (is_raw<E>() && is_spec_v<T, std::vector>) {
      value.resize(n);
      s.get(value.data(), n * sizeof(E));
    } else {
      value.clear();
      if constexpr (is_spec_v<T, std::vector>) value.reserve(n);  // paid for: no regrowth
      for (std::size_t i = 0; i < n; ++i) {
        E& e = emplace_blank_back(value);
        decode_element<E>(s, [&] { decode(s, e); });
      }
    }
  } else if constexpr (k == Kind::Array) {
    if constexpr (is_raw<T>()) {
      s.get(value.data(), sizeof(T));
    } else {
      for (auto& e : value) decode(s, e);
    }
  } else if constexpr (k == Kind::Associative) {
    using K = typename T::key_type;
    value.clear();
    if constexpr (requires { typename T::mapped_type; }) {
      using V = typename T::mapped_type;
      std::size_t n = get_count(s, element_wire_v<K, V>);
      s.budget().template charge<element_cost<T>()>(n);
      if constexpr (requires { value.reserve(n); }) value.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        K key = make_blank<K>();
        V mapped = make_blank<V>();
        decode_element<K, V>(s, [&] {
          decode(s, key);
          decode(s, mapped);
        });
        std::size_t before = value.size();
        value.emplace_hint(value.end(), std::move(key), std::move(mapped));
        if (value.size() == before) raise_duplicate_key();
      }
    } else {
      std::size_t n = get_count(s, element_wire_v<K>);
      s.budget().template charge<element_cost<T>()>(n);
      if constexpr (requires { value.reserve(n); }) value.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        K key = make_blank<K>();
        decode_element<K>(s, [&] { decode(s, key); });
        std::size_t before = value.size();
        value.emplace_hint(value.end(), std::move(key));
        if (value.size() == before) raise_duplicate_key();
      }
    }
  } else if constexpr (k == Kind::Optional) {
    std::uint8_t flag;
    s.get(&flag, 1);
    if (flag > 1) raise_invalid("optional flag", flag);
    if (flag == 0) value.reset();
    else decode(s, emplace_blank(value));
  } else if constexpr (k == Kind::Variant) {
    std::uint8_t index;
    s.get(&index, 1);
    if (index >= std::variant_size_v<T>) raise_invalid("variant index", index);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (void)((index == I ? (decode(s, emplace_blank<I>(value)), true) : false) || ...);
    }(std::make_index_sequence<std::variant_size_v<T>>{});
  } else if constexpr (k == Kind::Tuple) {
    std::apply([&](auto&... member) { (decode(s, member), ...); }, value);
  } else if constexpr (k == Kind::Cereal) {
    if constexpr (std::is_same_v<Source, InputArchive>) s.process_user(value);
    else static_assert(dependent_false_v<T>, "internal: a user type reached the fast reader");
  } else {
    static_assert(dependent_false_v<T>,
                  "pyconc::pickle: this type cannot be unpickled. Give it a cereal "
                  "`template <class Archive> void serialize(Archive& ar)` member (or save/load), "
                  "or make it trivially copyable, and default-constructible. See docs/pickle.md.");
  }
}

}  // namespace detail

// ---- the cereal archives ------------------------------------------------------------

/// pyconc's cereal output archive: appends to a std::vector<std::byte>. A user type's
/// `serialize(Archive& ar)` receives one of these; `ar(x, y)`, `ar & x` and `ar << x`
/// pickle x and y exactly as dumps would.
///
/// Thread safety: one archive is used by one thread at a time.
class OutputArchive : public cereal::OutputArchive<OutputArchive, cereal::AllowEmptyClassElision> {
  using Base = cereal::OutputArchive<OutputArchive, cereal::AllowEmptyClassElision>;

 public:
  explicit OutputArchive(std::vector<std::byte>& out) : Base(this), out_(&out) {}

  template <class... T>
  OutputArchive& operator()(T&&... values) {
    (detail::encode(*this, std::as_const(values)), ...);
    return *this;
  }
  template <class T>
  OutputArchive& operator&(T&& value) {
    return (*this)(std::forward<T>(value));
  }
  template <class T>
  OutputArchive& operator<<(T&& value) {
    return (*this)(std::forward<T>(value));
  }

  /// Appends `n` raw bytes (cereal's saveBinary).
  void saveBinary(const void* data, std::size_t n) { put(data, n); }
  void put(const void* data, std::size_t n) { detail::append(*out_, data, n); }
  std::size_t written() const noexcept { return out_->size(); }

  /// Hands a user type to cereal (which calls its serialize/save).
  template <class T>
  void process_user(const T& value) {
    if (++depth_ > detail::kMaxDepth) {
      --depth_;
      detail::raise_too_deep();
    }
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    Base::operator()(value);
  }

 private:
  std::vector<std::byte>* out_;
  int depth_ = 0;
};

/// pyconc's cereal input archive: reads a std::span<const std::byte> with a cursor. Every
/// read is bounds-checked; running out of bytes raises ValueError, and so does a
/// container that would take the value past its allocation budget (detail::Budget).
///
/// Thread safety: one archive is used by one thread at a time.
class InputArchive : public cereal::InputArchive<InputArchive, cereal::AllowEmptyClassElision> {
  using Base = cereal::InputArchive<InputArchive, cereal::AllowEmptyClassElision>;

 public:
  explicit InputArchive(std::span<const std::byte> in) : Base(this), in_(in), budget_(in.size()) {}

  template <class... T>
  InputArchive& operator()(T&&... values) {
    (detail::decode(*this, values), ...);
    return *this;
  }
  template <class T>
  InputArchive& operator&(T&& value) {
    return (*this)(std::forward<T>(value));
  }
  template <class T>
  InputArchive& operator>>(T&& value) {
    return (*this)(std::forward<T>(value));
  }

  /// Reads `n` raw bytes (cereal's loadBinary); ValueError when fewer are left.
  void loadBinary(void* data, std::size_t n) { get(data, n); }
  void get(void* data, std::size_t n) {
    if (n > in_.size() - pos_) detail::raise_truncated(n, in_.size() - pos_);
    if (n != 0) std::memcpy(data, in_.data() + pos_, n);
    pos_ += n;
  }
  std::size_t left() const noexcept { return in_.size() - pos_; }
  std::size_t position() const noexcept { return pos_; }
  /// What the value being read may still allocate (see detail::Budget).
  detail::Budget& budget() noexcept { return budget_; }

  template <class T>
  void process_user(T& value) {
    if (++depth_ > detail::kMaxDepth) {
      --depth_;
      detail::raise_too_deep();
    }
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    Base::operator()(value);
  }

 private:
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  detail::Budget budget_;
  int depth_ = 0;
};

// What makes them cereal archives for cereal's own code paths (a save_minimal that
// returns a number or a string, cereal's std type headers, binary_data, size tags).
template <class T>
  requires std::is_arithmetic_v<T>
void CEREAL_SAVE_FUNCTION_NAME(OutputArchive& ar, const T& value) {
  detail::encode(ar, value);
}
template <class T>
  requires std::is_arithmetic_v<T>
void CEREAL_LOAD_FUNCTION_NAME(InputArchive& ar, T& value) {
  detail::decode(ar, value);
}
template <class C, class Tr, class A>
void CEREAL_SAVE_FUNCTION_NAME(OutputArchive& ar, const std::basic_string<C, Tr, A>& value) {
  detail::encode(ar, value);
}
template <class C, class Tr, class A>
void CEREAL_LOAD_FUNCTION_NAME(InputArchive& ar, std::basic_string<C, Tr, A>& value) {
  detail::decode(ar, value);
}
template <class T>
void CEREAL_SAVE_FUNCTION_NAME(OutputArchive& ar, const cereal::BinaryData<T>& data) {
  ar.put(data.data, static_cast<std::size_t>(data.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(InputArchive& ar, cereal::BinaryData<T>& data) {
  ar.get(data.data, static_cast<std::size_t>(data.size));
}
template <class T>
void CEREAL_SAVE_FUNCTION_NAME(OutputArchive& ar, const cereal::SizeTag<T>& tag) {
  detail::put_count(ar, static_cast<std::size_t>(tag.size));
}
/// A size tag read back is checked against the bytes left (every element costs at
/// least one byte). Size tags come only from cereal's own loaders for types pyconc does
/// not decode itself (a user's choice, from cereal/types/); what they allocate per
/// element is not charged to the budget, as the element type is not known here.
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(InputArchive& ar, cereal::SizeTag<T>& tag) {
  tag.size = static_cast<std::remove_reference_t<T>>(detail::get_count(ar, 1));
}
template <class Archive, class T>
CEREAL_ARCHIVE_RESTRICT(InputArchive, OutputArchive)
CEREAL_SERIALIZE_FUNCTION_NAME(Archive& ar, cereal::NameValuePair<T>& nvp) {
  ar(nvp.value);
}

}  // namespace pyconc::pickle

CEREAL_REGISTER_ARCHIVE(pyconc::pickle::OutputArchive)
CEREAL_REGISTER_ARCHIVE(pyconc::pickle::InputArchive)
CEREAL_SETUP_ARCHIVE_TRAITS(pyconc::pickle::InputArchive, pyconc::pickle::OutputArchive)
