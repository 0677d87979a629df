// Scratch space for kernels: inline (on the stack) up to a size, on the heap beyond it. Small
// calls are dominated by fixed costs, and a heap allocation is one of them.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace kcore {
namespace KCORE_ISA {

// n elements on the heap at a cache-line boundary: vector loads from a buffer at malloc's
// 16-byte alignment split cache lines (packed GEMM panels ran much slower so).
template <class T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;  // empty: get() is null
  explicit AlignedBuffer(std::size_t n) { reset(n); }
  void reset(std::size_t n) {
    data_.reset(static_cast<T*>(::operator new(std::max<std::size_t>(n, 1) * sizeof(T), std::align_val_t{kAlign})));
  }
  T* get() const { return data_.get(); }

 private:
  static constexpr std::size_t kAlign = 64;
  struct Free {
    void operator()(T* p) const { ::operator delete(p, std::align_val_t{kAlign}); }
  };
  std::unique_ptr<T, Free> data_;
};

template <class T, std::size_t Inline>
class Scratch {
 public:
  explicit Scratch(std::int64_t n) {
    if (n > static_cast<std::int64_t>(Inline)) heap_.reset(static_cast<std::size_t>(n));
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() { return heap_.get() ? heap_.get() : inline_; }

 private:
  alignas(64) T inline_[Inline];
  AlignedBuffer<T> heap_;
};

}  // namespace KCORE_ISA
}  // namespace kcore
