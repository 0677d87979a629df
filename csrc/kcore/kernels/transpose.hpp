// Transposes of small square blocks in registers: the copy engine's transposes, the scans'
// blocks of lines and the GEMM's packing of row-major panels all use them.
#pragma once
#include <cstdint>
#include <cstring>
#include <utility>

#include "kcore/kernels/simd.hpp"
#include "kcore/kernels/stream.hpp"

#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define KCORE_REGISTER_TRANSPOSE 1
#endif
#endif

namespace kcore {
namespace KCORE_ISA {

#ifdef KCORE_REGISTER_TRANSPOSE
// N x N blocks of U (N = kVecBytes / sizeof(U): one vector per row) transposed in registers.
// Stage B swaps bit B of the row index with bit B of the column index (the off-diagonal B x B
// blocks of every 2B x 2B block); the log2(N) stages together are the transpose.
template <class U>
struct RegisterTranspose {
  static constexpr int N = kVecBytes / static_cast<int>(sizeof(U));
  typedef U V __attribute__((vector_size(kVecBytes)));

  template <int B, std::size_t... I>
  KCORE_INLINE static V upper(V a, V b, std::index_sequence<I...>) {  // row with bit B clear
    return __builtin_shufflevector(a, b, ((I & B) ? N + static_cast<int>(I) - B : static_cast<int>(I))...);
  }
  template <int B, std::size_t... I>
  KCORE_INLINE static V lower(V a, V b, std::index_sequence<I...>) {  // row with bit B set
    return __builtin_shufflevector(a, b, ((I & B) ? N + static_cast<int>(I) : static_cast<int>(I) + B)...);
  }
  template <int B>
  KCORE_INLINE static void stage(V* r) {
    if constexpr (B >= 1) {
#pragma GCC unroll 32
      for (int i = 0; i < N; ++i) {
        if (i & B) continue;
        const V a = r[i], b = r[i + B];
        r[i] = upper<B>(a, b, std::make_index_sequence<N>{});
        r[i + B] = lower<B>(a, b, std::make_index_sequence<N>{});
      }
      stage<B / 2>(r);
    }
  }
  KCORE_INLINE static void transpose(V* r) { stage<N / 2>(r); }
  // dst row i (byte stride ds) = src column i (src rows at byte stride ss).
  template <bool Stream>
  // Out of line: inlined into a caller's loop, a block of 32 rows takes every vector register.
  [[gnu::noinline]] static void block(const char* s, std::int64_t ss, char* d, std::int64_t ds) {
    V r[N];
#pragma GCC unroll 32
    for (int i = 0; i < N; ++i) std::memcpy(&r[i], s + i * ss, sizeof(V));
    transpose(r);
#pragma GCC unroll 32
    for (int i = 0; i < N; ++i) {
      if constexpr (Stream) stream_store(d + i * ds, r[i]);
      else std::memcpy(d + i * ds, &r[i], sizeof(V));
    }
  }
};

#endif  // KCORE_REGISTER_TRANSPOSE


}  // namespace KCORE_ISA
}  // namespace kcore
