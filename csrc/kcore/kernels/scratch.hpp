// Scratch space for kernels: inline (on the stack) up to a size, on the heap beyond it. Small
// calls are dominated by fixed costs, and a heap allocation is one of them.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include "kcore/block_cache.hpp"

namespace kcore {
namespace KCORE_ISA {

// n elements on the heap at a cache-line boundary: vector loads from a buffer at malloc's
// 16-byte alignment split cache lines (packed GEMM panels ran much slower so). Large buffers come
// from scratch_blocks(), whose pages stay faulted in from one call to the next.
template <class T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;  // empty: get() is null
  explicit AlignedBuffer(std::size_t n) { reset(n); }
  void reset(std::size_t n) {
    const std::size_t bytes = std::max<std::size_t>(n, 1) * sizeof(T);
    data_.reset();
    if (bytes >= scratch_blocks().min_bytes()) {
      if (void* p = scratch_blocks().acquire(bytes, false)) {
        data_ = std::unique_ptr<T, Free>(static_cast<T*>(p), Free{true});
        return;
      }
    }
    data_ = std::unique_ptr<T, Free>(static_cast<T*>(::operator new(bytes, std::align_val_t{kAlign})), Free{false});
  }
  T* get() const { return data_.get(); }

 private:
  static constexpr std::size_t kAlign = 64;
  struct Free {
    bool cached = false;
    void operator()(T* p) const {
      if (cached) scratch_blocks().release(p);
      else ::operator delete(p, std::align_val_t{kAlign});
    }
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
