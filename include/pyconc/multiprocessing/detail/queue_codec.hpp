// How a multiprocessing queue turns an item into bytes and back. Three paths, fastest
// first: a trivially copyable T is its own bytes; a std::vector or std::basic_string of
// trivially copyable elements is its elements' bytes (one copy into the ring, one out:
// bulk data moves at memory speed); anything else goes through pyconc::pickle.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/queue_core.hpp"
#include "pyconc/pickle.hpp"

namespace pyconc::multiprocessing::detail {

template <class T>
inline constexpr bool raw_item_v = std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
                                   !std::is_member_pointer_v<T> && !std::is_empty_v<T>;

template <class T>
struct contiguous_item : std::false_type {};
template <class U, class A>
struct contiguous_item<std::vector<U, A>> : std::bool_constant<raw_item_v<U> && !std::is_same_v<U, bool>> {};
template <class C, class Tr, class A>
struct contiguous_item<std::basic_string<C, Tr, A>> : std::bool_constant<raw_item_v<C>> {};

/// The per-thread buffer a pickled item is built in and read into (reused: no
/// allocation once it has grown).
inline std::vector<std::byte>& queue_scratch() {
  thread_local std::vector<std::byte> buffer;
  return buffer;
}

template <class T>
struct ItemCodec {
  static_assert(pyconc::pickle::Picklable<T>,
                "a multiprocessing queue's items must be picklable: give the type a cereal "
                "`template <class Archive> void serialize(Archive& ar)` member (or save/load)");
  static std::span<const std::byte> encode(const T& value) {
    if constexpr (raw_item_v<T>) {
      return {reinterpret_cast<const std::byte*>(&value), sizeof(T)};
    } else if constexpr (contiguous_item<T>::value) {
      return {reinterpret_cast<const std::byte*>(value.data()), value.size() * sizeof(typename T::value_type)};
    } else {
      auto& scratch = queue_scratch();
      scratch.clear();
      pyconc::pickle::dump_into(scratch, value);
      return {scratch.data(), scratch.size()};
    }
  }

  /// Receives one item's bytes; take() makes the T (ValueError when they are not one).
  class Sink final : public ItemSink {
   public:
    std::byte* append(std::size_t n) override {
      if constexpr (raw_item_v<T>) {
        if (n > sizeof(T) - size_) {
          bad_ = true;
          return nullptr;
        }
        std::byte* p = storage_ + size_;
        size_ += n;
        return p;
      } else if constexpr (contiguous_item<T>::value) {
        using U = typename T::value_type;
        std::size_t bytes = size_ + n;
        value_.resize((bytes + sizeof(U) - 1) / sizeof(U));  // grows geometrically
        std::byte* p = reinterpret_cast<std::byte*>(value_.data()) + size_;
        size_ = bytes;
        return p;
      } else {
        auto& scratch = queue_scratch();
        scratch.resize(size_ + n);
        std::byte* p = scratch.data() + size_;
        size_ += n;
        return p;
      }
    }
    void reserve(std::size_t n) override {
      if constexpr (contiguous_item<T>::value) {
        value_.reserve(n / sizeof(typename T::value_type) + 1);
      } else if constexpr (!raw_item_v<T>) {
        queue_scratch().reserve(n);
      }
    }
    void reset() noexcept override {
      size_ = 0;
      bad_ = false;
    }
    T take() {
      if constexpr (raw_item_v<T>) {
        if (bad_ || size_ != sizeof(T)) throw ValueError("multiprocessing queue: item is not of the requested type (size mismatch)");
        T value;
        std::memcpy(static_cast<void*>(&value), storage_, sizeof(T));
        return value;
      } else if constexpr (contiguous_item<T>::value) {
        if (size_ % sizeof(typename T::value_type) != 0)
          throw ValueError("multiprocessing queue: item is not of the requested type (size mismatch)");
        return std::move(value_);
      } else {
        T value = pyconc::pickle::detail::make_blank<T>();  // a handle attaches, creates nothing
        pyconc::pickle::load_from(std::span<const std::byte>(queue_scratch().data(), size_), value);
        return value;
      }
    }

   private:
    std::size_t size_ = 0;
    bool bad_ = false;
    struct Empty {};
    alignas(T) std::byte storage_[raw_item_v<T> ? sizeof(T) : 1];
    std::conditional_t<contiguous_item<T>::value, T, Empty> value_{};
  };
};

}  // namespace pyconc::multiprocessing::detail
