#pragma once
// An allocator whose value-initialisation does nothing, for the byte
// buffers messages travel in: std::vector<char>(n) zero-fills n bytes that
// an encoder or CAF's deserializer overwrites at once, which cost several
// percent of every step (hundreds of kilobytes per message).
//
//   std::vector<char, uninit_allocator<char>> b;
//   b.resize(n);            // no memset: the caller writes all n bytes

#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace troupe {

template <class T>
class uninit_allocator : public std::allocator<T> {
 public:
  static_assert(std::is_trivially_default_constructible_v<T>, "only for plain bytes and numbers");
  template <class U>
  struct rebind {
    using other = uninit_allocator<U>;
  };
  uninit_allocator() noexcept = default;
  template <class U>
  uninit_allocator(const uninit_allocator<U>&) noexcept {}

  /// Value-initialisation (resize, the size constructor) leaves the bytes as they are.
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <class T, class U>
bool operator==(const uninit_allocator<T>&, const uninit_allocator<U>&) noexcept {
  return true;
}
template <class T, class U>
bool operator!=(const uninit_allocator<T>&, const uninit_allocator<U>&) noexcept {
  return false;
}

}  // namespace troupe
