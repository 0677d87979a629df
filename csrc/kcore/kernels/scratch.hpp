// Scratch space for kernels: inline (on the stack) up to a size, on the heap beyond it. Small
// calls are dominated by fixed costs, and a heap allocation is one of them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace kcore {
namespace KCORE_ISA {

template <class T, std::size_t Inline>
class Scratch {
 public:
  explicit Scratch(std::int64_t n)
      : heap_(n > static_cast<std::int64_t>(Inline) ? new T[static_cast<std::size_t>(n)] : nullptr) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() { return heap_ ? heap_.get() : inline_; }

 private:
  alignas(64) T inline_[Inline];
  std::unique_ptr<T[]> heap_;
};

}  // namespace KCORE_ISA
}  // namespace kcore
