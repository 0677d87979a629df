// The one offset walker: byte offsets of N operands over a plan's loop dims (kcore/layout.hpp).
#pragma once
#include <array>
#include <cstdint>

#include "kcore/kernels/isa.hpp"
#include "kcore/layout.hpp"

namespace kcore {
namespace KCORE_ISA {

// off[op] = byte offset of the element with row-major index `linear` over dims[0, nd), for the
// first N operands.
template <int N>
KCORE_INLINE void offsets_of(std::int64_t linear, const LoopDim* dims, int nd, std::int64_t (&off)[N]) {
  for (int op = 0; op < N; ++op) off[op] = 0;
  for (int k = nd - 1; k >= 0; --k) {
    const std::int64_t i = linear % dims[k].size;
    linear /= dims[k].size;
    for (int op = 0; op < N; ++op) off[op] += i * dims[k].stride[op];
  }
}

// Calls f(off) for the row-major indices [b, e) over dims[0, nd), advancing the offsets like an
// odometer: one division per call rather than one per dim and index (which costs more than
// reducing a short row).
// The offsets go to f by value, so that they stay in registers.
template <int N, class F>
inline void for_each_offset(const LoopDim* dims, int nd, std::int64_t b, std::int64_t e, F f) {
  std::int64_t idx[kMaxDims];
  std::array<std::int64_t, N> off{};
  std::int64_t rest = b;
  for (int k = nd - 1; k >= 0; --k) {
    idx[k] = rest % dims[k].size;
    rest /= dims[k].size;
    for (int op = 0; op < N; ++op) off[op] += idx[k] * dims[k].stride[op];
  }
  for (std::int64_t o = b; o < e; ++o) {
    f(off);
    for (int k = nd - 1; k >= 0; --k) {
      for (int op = 0; op < N; ++op) off[op] += dims[k].stride[op];
      if (++idx[k] < dims[k].size) break;
      for (int op = 0; op < N; ++op) off[op] -= dims[k].size * dims[k].stride[op];
      idx[k] = 0;
    }
  }
}

}  // namespace KCORE_ISA
}  // namespace kcore
