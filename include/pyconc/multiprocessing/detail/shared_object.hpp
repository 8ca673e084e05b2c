// The storage of one process-shared object (a lock, a semaphore, a Value...): a
// SharedSegment of its own with a State constructed at its start. The handle types of
// synchronize and sharedctypes hold one of these; copying it shares the object.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <type_traits>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"

namespace pyconc::multiprocessing::detail {

/// Checked once when a handle is loaded from its name: the segment really holds a
/// `State` made by this program (guards against a wrong or stale name).
inline constexpr std::uint32_t kSharedObjectMagic = 0x70794d50u;  // "pyMP"

template <class State>
class SharedObject {
  static_assert(std::is_standard_layout_v<State>);

 public:
  SharedObject() = default;

  /// A new segment of sizeof(Header + State) + `extra` bytes, with State{args...}.
  template <class... Args>
  static SharedObject create(std::size_t extra, Args&&... args) {
    SharedObject object;
    object.segment_ = SharedSegment::create(sizeof(Layout) + extra);
    auto* layout = new (object.segment_->data()) Layout{kSharedObjectMagic, kTag, State(std::forward<Args>(args)...)};
    object.state_ = &layout->state;
    return object;
  }

  /// Opens the segment `name` made by create() in some process of the family.
  /// FileNotFoundError when it is gone; ValueError when it holds something else.
  static SharedObject open(const std::string& name) {
    SharedObject object;
    object.segment_ = SharedSegment::open(name);
    if (object.segment_->size() < sizeof(Layout)) throw ValueError("shared object '" + name + "' is too small");
    auto* layout = static_cast<Layout*>(object.segment_->data());
    if (layout->magic != kSharedObjectMagic || layout->tag != kTag)
      throw ValueError("shared memory '" + name + "' does not hold an object of the expected type");
    object.state_ = &layout->state;
    return object;
  }

  State* get() const noexcept { return state_; }
  State* operator->() const noexcept { return state_; }
  State& operator*() const noexcept { return *state_; }
  /// The bytes after State (`extra` of create()).
  void* extra() const noexcept { return reinterpret_cast<char*>(segment_->data()) + sizeof(Layout); }
  std::size_t extra_size() const noexcept { return segment_->size() - sizeof(Layout); }
  const std::string& name() const noexcept { return segment_->name(); }
  explicit operator bool() const noexcept { return state_ != nullptr; }
  bool operator==(const SharedObject& other) const noexcept {
    return state_ == other.state_ || (state_ && other.state_ && name() == other.name());
  }

 private:
  // A tag per State type: sizeof and alignment mixed, enough to catch a wrong name.
  static constexpr std::uint32_t kTag =
      static_cast<std::uint32_t>(sizeof(State) * 131u + alignof(State)) ^ State::kKind;
  struct Layout {
    std::uint32_t magic;
    std::uint32_t tag;
    alignas(16) State state;
  };
  std::shared_ptr<SharedSegment> segment_;
  State* state_ = nullptr;
};

}  // namespace pyconc::multiprocessing::detail
