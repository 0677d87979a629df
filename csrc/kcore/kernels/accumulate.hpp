// The accumulation scheme shared by reductions and scans: what each element type computes in
// (the one accumulator table, after ATen's AccumulateType.h), and blocks of accumulators whose
// layout is the same on every ISA level.
//
// Accumulating loops keep a fixed 256-byte block of accumulators (kBlockBytes), split into as many
// native vectors as the level needs. Logical lane j always sees elements j, j+B, j+2B, ..., so the
// order of floating-point operations, and therefore every result bit, is the same on every level.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kcore/dtype.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/simd.hpp"
#include "kcore/kernels/stream.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {

enum class Fold { add, mul };

// What element type T computes in, by family:
//   elem: its arithmetic type (float16 is storage only): max/min/arg, products, elementwise ops
//   sum:  sums, means and running values (scans): float16 in float32 (blocked), float32 in float64
//         (float32 sums add runs of tuning::kSumRun in float32 first: sum_in_runs below along
//         rows, SumOp::col_rows down columns)
//   prod: products (reductions): float16 in float64 too, where float32 would drift into the slow
//         subnormal range over long products (running products avoid that range: exact_product.hpp)
//   var:  variance and standard deviation: float64 always (two passes, Chan merge)
template <class T>
struct Acc {
  using elem = T;
  using sum = double;
  using prod = double;
  using var = double;
};
template <>
struct Acc<half> {
  using elem = float;
  using sum = float;
  using prod = double;
  using var = double;
};
template <class T> using widen_t = typename Acc<T>::elem;
template <class T> using sum_acc_t = typename Acc<T>::sum;
template <class T> using scan_acc_t = typename Acc<T>::sum;
template <class T, Fold F>
using fold_acc_t = std::conditional_t<F == Fold::add, typename Acc<T>::sum, typename Acc<T>::prod>;

// a (+) b, on scalars or vectors alike.
template <Fold F>
struct FoldOp {
  template <class X>
  X operator()(X a, X b) const { return F == Fold::add ? a + b : a * b; }
};
template <class A, Fold F>
inline A fold1(A a, A b) {
  return FoldOp<F>{}(a, b);
}

constexpr int kBlockBytes = 256;
template <class T>
constexpr int kBlockLanes = kBlockBytes / static_cast<int>(sizeof(T));
constexpr int kBlockVecs = kBlockBytes / kVecBytes;

// Sets every accumulator of a block to v. Unrolled, the block starts in registers; as a loop GCC
// may build it in memory and reload it, a store-forwarding stall on each short leaf.
template <class T, int N>
inline void fill_block(vec<T> (&acc)[N], T v) {
#pragma GCC unroll 16
  for (int k = 0; k < N; ++k) acc[k] = splat<T>(v);
}

// Calls step(k, x, offset) for each native vector x (as A) of the whole blocks of p[0, n), where
// k is the vector's slot in the block (which accumulator it feeds); returns how many were
// consumed. float16 elements are widened in registers: widening a run into a buffer first
// made its stores hold up the run's loads from memory (4K aliasing), by where the buffer lay.
template <class A, class W, class Step>
inline std::int64_t fold_blocks(const W* p, std::int64_t n, Step step) {
  constexpr int L = kLanes<A>;
  constexpr int B = kBlockLanes<A>;
  std::int64_t i = 0;
  for (; i + B <= n; i += B) {
    prefetch_ahead<static_cast<int>(B * sizeof(W))>(p + i);
#pragma GCC unroll 16
    for (int k = 0; k < kBlockVecs; ++k) {
      if constexpr (std::is_same_v<W, half>) step(k, load_widened<A>(p + i + k * L), i + k * L);
      else step(k, load_as<A>(p + i + k * L), i + k * L);
    }
  }
  return i;
}

// The last, partial block of a run, q[0, n) with n <= the block's lanes: calls step(k, x, offset)
// for each vector that holds elements, its lanes past the end set to `unit` (which leaves an
// accumulator as it was). Logical lane j still gets element j, so a tail keeps the lane order of
// the whole blocks on every level, and its elements are summed pairwise with the rest rather than
// one after another.
template <class A, class W, class Step>
inline void fold_partial_block(const W* q, std::int64_t n, A unit, Step step) {
  constexpr int L = kLanes<A>;
#pragma GCC unroll 16
  for (int k = 0; k < kBlockVecs; ++k) {  // (unrolled: a constant k keeps the accumulators in registers)
    const std::int64_t have = n - k * L;
    if (have <= 0) break;
    step(k, have >= L ? load_widened<A>(q + k * L) : load_widened_partial<A>(q + k * L, static_cast<int>(have), unit), k * L);
  }
}

// f over the lanes of one vector in tree_block's order (lane j absorbs lane j + w for w = L/2,
// ..., 1), as halves of narrowing vectors: extracts and vector ops, never through memory.
template <class A, int Bytes, class V, class F>
inline A tree_lanes(V v, F f) {
  if constexpr (Bytes == 2 * static_cast<int>(sizeof(A))) {
    return f(v[0], v[1]);
  } else {
    using H = typename vec_type<A, Bytes / 2>::type;
    H lo, hi;
    std::memcpy(&lo, &v, sizeof lo);
    std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
    return tree_lanes<A, Bytes / 2>(f(lo, hi), f);
  }
}

// Pairwise combination of a block of accumulators in a fixed order: logical lane j absorbs lane
// j + w for w = B/2, B/4, ..., 1. Steps with w >= the native lane count pair whole vectors, so
// they run as vector ops; the same pairs are formed on every level, so the bits agree.
template <class V, class F>
inline V tree_vectors(V* acc, F f) {  // (the steps that pair whole vectors)
  for (int w = kBlockVecs / 2; w >= 1; w /= 2)
    for (int k = 0; k < w; ++k) acc[k] = f(acc[k], acc[k + w]);
  return acc[0];
}
template <class A, class V, class F>
inline A tree_block(V* acc, F f) {
  const V v = tree_vectors(acc, f);
  if constexpr (kLanes<A> == 1) return v[0];
  else return tree_lanes<A, kVecBytes>(v, f);
}

// tree_lanes of kLanes<A> vectors at once, the result of v[r] in lane r: the vectors pair up,
// and two shuffles gather the first and the second halves of each row's lanes, which one op
// combines -- tree_lanes' pairs, so its bits, in about three instructions per row where each row
// alone took a chain of extracts.
template <int L, int W, int Shift>
constexpr int row_half_lane(int l) {  // lane l of a step's result: from a or b, its row, its lane
  const int j = l % (L / 2);
  return (l < L / 2 ? 0 : L) + j / W * 2 * W + j % W + Shift;
}
template <class A, int W, int Shift, std::size_t... l>
inline vec<A> row_halves(vec<A> a, vec<A> b, std::index_sequence<l...>) {
  using I = int_of<A>;
  return __builtin_shuffle(a, b, vec<I>{static_cast<I>(row_half_lane<kLanes<A>, W, Shift>(static_cast<int>(l)))...});
}
template <class A, int W, class F>
inline void tree_rows_step(vec<A>* v, F f) {  // 2W vectors of rows of 2W lanes in, W out
  const auto lanes = std::make_index_sequence<kLanes<A>>{};
#pragma GCC unroll 16
  for (int i = 0; i < W; ++i)
    v[i] = f(row_halves<A, W, 0>(v[2 * i], v[2 * i + 1], lanes), row_halves<A, W, W>(v[2 * i], v[2 * i + 1], lanes));
  if constexpr (W > 1) tree_rows_step<A, W / 2>(v, f);
}
template <class A, class F>
inline vec<A> tree_lanes_rows(vec<A>* v, F f) {  // v[kLanes<A>]
  tree_rows_step<A, kLanes<A> / 2>(v, f);
  return v[0];
}

// Blocked fold of q[0, n) in A: a block of accumulators (the tail a partial block), a fixed-order
// tree.
template <class A, Fold F, class W>
inline A fold_contig(const W* q, std::int64_t n, A unit) {
  vec<A> acc[kBlockVecs];
  fill_block(acc, unit);
  const auto step = [&acc](int k, vec<A> x, std::int64_t) { acc[k] = FoldOp<F>{}(acc[k], x); };
  const std::int64_t i = fold_blocks<A>(q, n, step);
  fold_partial_block<A>(q + i, n - i, unit, step);
  return tree_block<A>(acc, FoldOp<F>{});
}

namespace detail {
// The runs of sum_in_runs into tot, the float64 totals of logical lanes [0, B/2). Checked: a
// lane whose run left float32's range (terms that cancel later), or that holds inf or NaN, is
// added again in float64, so the result is float64's. Unchecked, such a lane leaves its total
// inf or NaN, which nothing after it makes finite again. (Inlined: tot stays in registers.)
template <bool Checked>
KCORE_INLINE void sum_runs(const float* q, std::int64_t n, vec<double> (&tot)[kBlockVecs]) {
  constexpr int L = kLanes<float>;
  constexpr int B = kBlockLanes<float>;
  constexpr int H = kBlockVecs / 2;  // vectors of a block's first half
  fill_block(tot, -0.0);
  // The run t of len elements from q + start: lanes j and j + B/2 meet in float32, and the pair
  // meets total j (lane j of tot[k] is lane j of the block's vector k / 2, half k % 2).
  const auto flush = [&tot, q](vec<float>(&t)[kBlockVecs], std::int64_t start, std::int64_t len) {
#pragma GCC unroll 16
    for (int k = 0; k < H; ++k) t[k] += t[k + H];
    if constexpr (Checked) {
      vec<float> any = t[0] - t[0];  // (0 where finite, NaN where not)
#pragma GCC unroll 16
      for (int k = 1; k < H; ++k) any += t[k] - t[k];
      if (any_nonfinite(any)) {
        alignas(64) float lanes[B / 2];
        std::memcpy(lanes, t, sizeof lanes);
        alignas(64) double wide[B / 2];
        for (int l = 0; l < B / 2; ++l) {
          wide[l] = lanes[l];
          if (std::isfinite(lanes[l])) continue;
          double a[2] = {-0.0, -0.0};  // (lanes l and l + B/2 apart, then together: the fast path's order)
          for (int h = 0; h < 2; ++h)
            for (std::int64_t e = l + h * (B / 2); e < len; e += B) a[h] += static_cast<double>(q[start + e]);
          wide[l] = a[0] + a[1];
        }
        for (int k = 0; k < kBlockVecs; ++k) tot[k] += load(wide + k * kLanes<double>);
        return;
      }
    }
#pragma GCC unroll 16
    for (int k = 0; k < kBlockVecs; ++k) tot[k] += widen_vector_half(t[k / 2], k % 2);
  };
  std::int64_t i = 0;
  while (i + B <= n) {
    const std::int64_t blocks = std::min(tuning::kSumRun, (n - i) / B);
    vec<float> t[kBlockVecs];
    prefetch_ahead<B * sizeof(float)>(q + i);
#pragma GCC unroll 16
    for (int k = 0; k < kBlockVecs; ++k) t[k] = load(q + i + k * L);
#pragma GCC unroll 1
    for (std::int64_t b = 1; b < blocks; ++b) {
      const float* x = q + i + b * B;
      prefetch_ahead<B * sizeof(float)>(x);
#pragma GCC unroll 16
      for (int k = 0; k < kBlockVecs; ++k) t[k] += load(x + k * L);
    }
    flush(t, i, blocks * B);
    i += blocks * B;
  }
  if (i < n) {  // the partial block: a run of its own
    vec<float> t[kBlockVecs];
    fill_block(t, -0.0f);
    fold_partial_block<float>(q + i, n - i, -0.0f, [&t](int k, vec<float> x, std::int64_t) { t[k] += x; });
    flush(t, i, n - i);
  }
}
}  // namespace detail

// Sum of float32 q[0, n) in float64, at float32 speed: widening every element cost a conversion
// each, the bound of the loop. Logical lane j of the 256-byte block adds its elements of a run
// of tuning::kSumRun blocks in float32; lanes j and j + B/2 then meet in float32 too (the tree's
// first pairing), and their sum meets lane j's float64 total; then tree_block's order. At most
// kSumRun float32 roundings per term, so as accurate as pairwise summation, with one float64
// conversion per 16 elements. Runs are added unchecked, all in registers; a non-finite result (a run
// that overflowed float32, or inf or NaN in x) is redone checked, the same bits wherever it is
// finite. A leaf of one run (n <= kSumRun * B, the last block partial) stays in float32 to the
// end, tree included, unless that overflows: the conversions that cost a short row as much as
// its loads are gone. The run's loop stays rolled: unrolled, GCC ordered its adds column by
// column, a chain of dependent adds 256 bytes apart (20-30% slower).
inline double sum_in_runs(const float* q, std::int64_t n) {
  if (n <= tuning::kSumRun * kBlockLanes<float>) {
    const float s = fold_contig<float, Fold::add>(q, n, -0.0f);
    if (std::isfinite(s)) return s;  // else an overflow the float64 totals below may not meet, or NaN
  }
  vec<double> tot[kBlockVecs];
  detail::sum_runs<false>(q, n, tot);
  const double s = tree_block<double>(tot, FoldOp<Fold::add>{});
  if (std::isfinite(s)) return s;
  detail::sum_runs<true>(q, n, tot);
  return tree_block<double>(tot, FoldOp<Fold::add>{});
}

}  // namespace KCORE_ISA
}  // namespace kcore
