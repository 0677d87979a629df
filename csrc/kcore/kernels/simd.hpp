// Portable SIMD through GCC/Clang vector extensions. The compiler lowers `vec<T>` to the native
// registers of the level being compiled (xmm, ymm or zmm).
//
// Accumulating loops keep a fixed 256-byte block of accumulators (kBlockBytes), split into as many
// native vectors as the level needs. Logical lane j always sees elements j, j+B, j+2B, ..., so the
// order of floating-point operations, and therefore every result bit, is the same on every level.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kcore/kernels/isa.hpp"

namespace kcore {
namespace KCORE_ISA {

constexpr int kVecBytes = KCORE_VEC_BYTES;
constexpr int kBlockBytes = 256;

template <class T, int Bytes>
struct vec_type {
  typedef T type __attribute__((vector_size(Bytes)));
};
template <class T>
using vec = typename vec_type<T, kVecBytes>::type;
template <class T>
constexpr int kLanes = kVecBytes / static_cast<int>(sizeof(T));
template <class T>
constexpr int kBlockLanes = kBlockBytes / static_cast<int>(sizeof(T));
constexpr int kBlockVecs = kBlockBytes / kVecBytes;

// Same-width integer, for comparison masks and lane indices.
template <class T>
using int_of = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;

template <class T>
inline vec<T> load(const T* p) {
  vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class T>
inline vec<T> splat(T x) {
  return vec<T>{} + x;
}

// Loads kLanes<A> elements of W and widens them to A (float -> double).
template <class A, class W>
inline vec<A> load_as(const W* p) {
  if constexpr (std::is_same_v<A, W>) {
    return load(p);
  } else {
    typedef W narrow __attribute__((vector_size(kLanes<A> * sizeof(W))));
    narrow x;
    std::memcpy(&x, p, sizeof x);
    return __builtin_convertvector(x, vec<A>);
  }
}

// Runs `step(acc[k], x, offset)` over whole blocks of p[0, n); returns how many were consumed.
template <class A, class W, class Step>
inline std::int64_t fold_blocks(vec<A>* acc, const W* p, std::int64_t n, Step step) {
  constexpr int L = kLanes<A>;
  constexpr int B = kBlockLanes<A>;
  std::int64_t i = 0;
  for (; i + B <= n; i += B) {
#pragma GCC unroll 16
    for (int k = 0; k < kBlockVecs; ++k) step(acc[k], load_as<A>(p + i + k * L), i + k * L);
  }
  return i;
}

// Flattens a block of accumulators into its logical lanes.
template <class A>
inline void spill(const vec<A>* acc, A* lanes) {
  std::memcpy(lanes, acc, kBlockBytes);
}

// Pairwise combination of the logical lanes, in a fixed order.
template <class A, class F>
inline A tree_lanes(A* lanes, F f) {
  for (int w = kBlockLanes<A> / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) lanes[j] = f(lanes[j], lanes[j + w]);
  return lanes[0];
}

}  // namespace KCORE_ISA
}  // namespace kcore
