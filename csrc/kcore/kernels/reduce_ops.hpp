// Reduction ops: small structs plugged into the engine (reduce_engine.hpp), in the manner of
// ATen's Reduce.h. Each op T -> out_t provides
//   state identity();                          the value of an empty reduction
//   state leaf(const T* p, n, index_base);     a contiguous run of n <= tuning::kLeaf elements
//   void  combine(state& a, const state& b);   a := a (+) b, where a's elements precede b's
//   out_t project(const state&, count);        the final value, rounded once
//   void  col_rows(state* st, rows, row_stride, nrows, w, index_base)
//                                              fold nrows rows of w contiguous columns into st
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kcore/kernels/accumulate.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/simd.hpp"
#include "kcore/kernels/stream.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {

// Widened view of one row of w <= tuning::kColBlock contiguous elements.
template <class T>
struct RowWidener {
  alignas(64) widen_t<T> buf[std::is_same_v<T, half> ? tuning::kColBlock : 1];
  const widen_t<T>* operator()(const char* row, std::int64_t w) {
    if constexpr (std::is_same_v<T, half>) {
      widen_half(reinterpret_cast<const half*>(row), buf, w);
      return buf;
    } else {
      (void)w;
      return reinterpret_cast<const T*>(row);
    }
  }
};

// The row loop of the column folds: rows in passes of four (four streams from memory at once;
// measured faster than one or two), prefetched only within the block's columns (past them lie
// other blocks'), then the last rows one at a time. Rows are passed as stored: float16 is widened
// in registers (load_widened), which beat widening each row into a buffer first.
//   four(x, j): fold the vector of L columns at j of the four rows x[0..3]
//   four_one(x, j): fold column j of the four rows (the columns past the last whole vector)
//   one_row(x): fold one row
template <class T, int L, class Four, class FourOne, class OneRow>
inline void fold_rows_by_four(const char* rows, std::int64_t row_stride, std::int64_t nrows, std::int64_t w,
                              Four four, FourOne four_one, OneRow one_row) {
  const std::int64_t wv = w / L * L;
  constexpr std::int64_t kAhead = tuning::kPrefetchBytes / static_cast<std::int64_t>(sizeof(T));
  const std::int64_t prefetch_end = std::max<std::int64_t>(0, wv - kAhead);
  const auto row = [&](std::int64_t r) { return reinterpret_cast<const T*>(rows + r * row_stride); };
  std::int64_t r = 0;
  for (; r + 4 <= nrows; r += 4) {
    const T* x[4];
    for (int k = 0; k < 4; ++k) x[k] = row(r + k);
    std::int64_t j = 0;
    for (; j < prefetch_end; j += L) {
      for (int k = 0; k < 4; ++k) prefetch_ahead<L * sizeof(T)>(x[k] + j);
      four(x, j);
    }
    for (; j < wv; j += L) four(x, j);
    for (; j < w; ++j) four_one(x, j);
  }
  for (; r < nrows; ++r) one_row(row(r));
}

// sum, prod and mean. Wide: the result is the accumulator itself, not rounded to T (partial
// sums that are merged later, as kcore.dask's blocks are).
template <class T, Fold F, bool Mean, bool Wide = false>
struct SumOp {
  using A = fold_acc_t<T, F>;
  using W = widen_t<T>;
  using state = A;
  using out_t = std::conditional_t<Wide, A, T>;
  static constexpr std::int64_t kCols = tuning::kColsSum;
  // -0.0 is the additive identity that keeps the sign of an all -0.0 sum.
  static constexpr A kUnit = F == Fold::add ? A(-0.0) : A(1);

  state identity() const { return kUnit; }
  state leaf(const T* p, std::int64_t n, std::int64_t) const {
    if constexpr (F == Fold::add && std::is_same_v<T, float>) return sum_in_runs(p, n);
    return fold_contig<A, F>(p, n, kUnit);
  }
  // Rows of at most one block, or of a few ending in a partial one, kRows at once: each row's
  // blocks as leaf() folds them (the last one partial, lanes past the end the unit) and its
  // vector steps, then the in-vector steps of all of them in one shuffle network
  // (tree_lanes_rows): leaf()'s bits. (A float32 sum's leaf of so few blocks is fold_contig.)
  using RowLane = std::conditional_t<F == Fold::add && std::is_same_v<T, float>, float, A>;
  static constexpr int kRows = kLanes<RowLane>;
  static_assert(tuning::kRowsAtOnceBlocks <= tuning::kSumRun, "a float32 sum's leaf of one run");
  static bool rows_at_once(std::int64_t n) {
    constexpr std::int64_t B = kBlockLanes<RowLane>;
    return n <= B || (n <= tuning::kRowsAtOnceBlocks * B && n % B != 0);
  }
  void leaf_rows(const T* const* rows, std::int64_t n, state* out) const {
    const RowLane unit = static_cast<RowLane>(kUnit);
    vec<RowLane> v[kRows];
    if (n <= kRows) {  // one vector a row (the block's others hold the unit: no vector steps)
#pragma GCC unroll 16
      for (int r = 0; r < kRows; ++r)
        v[r] = n == kRows ? load_widened<RowLane>(rows[r]) : load_widened_partial<RowLane>(rows[r], static_cast<int>(n), unit);
    } else if (n <= kBlockLanes<RowLane>) {
      for (int r = 0; r < kRows; ++r) {
        vec<RowLane> acc[kBlockVecs];  // (the unit, then the row loaded in: unit op x is x)
        fill_block(acc, unit);
        fold_partial_block<RowLane>(rows[r], n, unit, [&acc](int k, vec<RowLane> x, std::int64_t) { acc[k] = x; });
        v[r] = tree_vectors(acc, FoldOp<F>{});
      }
    } else {
#pragma GCC unroll 16
      for (int r = 0; r < kRows; ++r) {
        vec<RowLane> acc[kBlockVecs];
        fill_block(acc, unit);
        const auto step = [&acc](int k, vec<RowLane> x, std::int64_t) { acc[k] = FoldOp<F>{}(acc[k], x); };
        const std::int64_t i = fold_blocks<RowLane>(rows[r], n, step);
        fold_partial_block<RowLane>(rows[r] + i, n - i, unit, step);
        v[r] = tree_vectors(acc, FoldOp<F>{});
      }
    }
    const vec<RowLane> s = tree_lanes_rows<RowLane>(v, FoldOp<F>{});
    for (int r = 0; r < kRows; ++r) {
      if constexpr (std::is_same_v<RowLane, A>) out[r] = s[r];
      else out[r] = std::isfinite(s[r]) ? static_cast<A>(s[r]) : leaf(rows[r], n, 0);  // (float32 sums: as sum_in_runs)
    }
  }
  void combine(state& a, const state& b) const { a = fold1<A, F>(a, b); }
  out_t project(const state& s, std::int64_t count) const {
    if constexpr (Wide) {
      static_assert(!Mean);
      return F == Fold::add && count == 0 ? A(0) : s;
    } else if constexpr (Mean) {
      return narrow<T>(static_cast<double>(s) / static_cast<double>(count));  // empty: NaN
    } else {
      return narrow<T>(F == Fold::add && count == 0 ? A(0) : s);
    }
  }
  void col_rows(state* st, const char* rows, std::int64_t row_stride, std::int64_t nrows,
                std::int64_t w, std::int64_t) const {
    if constexpr (F == Fold::add && std::is_same_v<T, float>) {
      // Runs of kSumRun rows are added in float32 in registers as a pairwise tree (3 roundings
      // per term at most), then meet the column's float64 total: one conversion per run instead
      // of one per element. A short last run reads -0.0 rows in place of the missing ones (the
      // identity: the same bits as a smaller tree). A run that leaves float32's range (terms that
      // cancel later) is added again in float64, lane by lane.
      constexpr int Lf = kLanes<float>, Ld = kLanes<double>;
      constexpr int R = static_cast<int>(tuning::kSumRun);
      static_assert(R == 8, "tree8's three levels");
      const auto tree8 = [](auto v0, auto v1, auto v2, auto v3, auto v4, auto v5, auto v6, auto v7) {
        return ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7));
      };
      alignas(64) static const std::array<float, kCols> kMissing = [] {
        std::array<float, kCols> z;
        z.fill(-0.0f);
        return z;
      }();
      const auto run_in_double = [](const float* const* x, int m, std::int64_t j) {
        double a = x[0][j];
        for (int k = 1; k < m; ++k) a += static_cast<double>(x[k][j]);
        return a;
      };
      alignas(64) double tmp[kCols];
      for (std::int64_t j = 0; j < w; ++j) tmp[j] = kUnit;
      const std::int64_t wv = w / Lf * Lf;
      for (std::int64_t r = 0; r < nrows; r += R) {
        const int m = static_cast<int>(std::min<std::int64_t>(R, nrows - r));
        const float* x[R];
        for (int k = 0; k < R; ++k)
          x[k] = k < m ? reinterpret_cast<const float*>(rows + (r + k) * row_stride) : kMissing.data();
        std::int64_t j = 0;
        for (; j < wv; j += Lf) {
          const vec<float> a = tree8(load(x[0] + j), load(x[1] + j), load(x[2] + j), load(x[3] + j),
                                     load(x[4] + j), load(x[5] + j), load(x[6] + j), load(x[7] + j));
          alignas(64) float f[Lf];
          store(f, a);
          if (any_nonfinite(a)) {  // lane by lane, as the tail
            for (int h = 0; h < Lf; ++h) tmp[j + h] += std::isfinite(f[h]) ? static_cast<double>(f[h]) : run_in_double(x, m, j + h);
            continue;
          }
#pragma GCC unroll 4
          for (int h = 0; h < Lf; h += Ld) store(tmp + j + h, load(tmp + j + h) + load_as<double>(f + h));
        }
        for (; j < w; ++j) {
          const float a = tree8(x[0][j], x[1][j], x[2][j], x[3][j], x[4][j], x[5][j], x[6][j], x[7][j]);
          tmp[j] += std::isfinite(a) ? static_cast<double>(a) : run_in_double(x, m, j);
        }
      }
      for (std::int64_t j = 0; j < w; ++j) st[j] += tmp[j];
      return;
    }
    // Each column folds its rows one at a time, in row order.
    constexpr int L = kLanes<A>;
    const FoldOp<F> fold;
    alignas(64) A tmp[kCols];
    for (std::int64_t j = 0; j < w; ++j) tmp[j] = kUnit;
    fold_rows_by_four<T, L>(
        rows, row_stride, nrows, w,
        [&](const T* const* x, std::int64_t j) {
          vec<A> t = load(tmp + j);
          for (int k = 0; k < 4; ++k) t = fold(t, load_widened<A>(x[k] + j));
          store(tmp + j, t);
        },
        [&](const T* const* x, std::int64_t j) {
          for (int k = 0; k < 4; ++k) tmp[j] = fold1<A, F>(tmp[j], convert_one<A>(x[k][j]));
        },
        [&](const T* x) {
          for (std::int64_t j = 0; j < w; ++j) tmp[j] = fold1<A, F>(tmp[j], convert_one<A>(x[j]));
        });
    for (std::int64_t j = 0; j < w; ++j) st[j] = fold1<A, F>(st[j], tmp[j]);
  }
};

// max and min: NaN propagates (a NaN accumulator never leaves NaN).
template <class T, bool Max>
struct MinMaxOp {
  using W = widen_t<T>;
  using state = W;
  using out_t = T;
  static constexpr std::int64_t kCols = tuning::kColsMinMax;
  static constexpr W kUnit = Max ? -std::numeric_limits<W>::infinity() : std::numeric_limits<W>::infinity();

  static W pick(W m, W x) { return ((Max ? x > m : x < m) || x != x) ? x : m; }
  // pick() for values known not to be NaN: x if it beats m, else m (ties keep m).
  template <class V>
  static V better(V x, V m) { return (Max ? x > m : x < m) ? x : m; }
  static bool has_nan(const T* q, std::int64_t m) {
    for (std::int64_t i = 0; i < m; ++i) {
      const W v = convert_one<W>(q[i]);
      if (v != v) return true;
    }
    return false;
  }

  state identity() const { return kUnit; }
  state leaf(const T* p, std::int64_t n, std::int64_t) const {
    // The extreme ignoring NaN (`better` is one max/min instruction) and, apart, a plain sum of
    // the values, which is NaN if any value is. The sum costs one add per vector where an exact
    // NaN test costs a compare and a mask merge, and made float64 compute-bound. It also turns
    // NaN on inf - inf: then an exact pass decides.
    vec<W> acc[kBlockVecs], sum[kBlockVecs];
    fill_block(acc, kUnit);
    fill_block(sum, W(0));
    const auto step = [&](int k, vec<W> x, std::int64_t) {
      acc[k] = better(x, acc[k]);
      sum[k] += x;
    };
    const std::int64_t i = fold_blocks<W>(p, n, step);
    fold_partial_block<W>(p + i, n - i, kUnit, step);  // (an inf among the values may meet the padding's)
    vec<W> total = sum[0];
    for (int k = 1; k < kBlockVecs; ++k) total += sum[k];
    if (any_lane(total != total) && has_nan(p, n)) return std::numeric_limits<W>::quiet_NaN();
    return tree_block<W>(acc, [](auto a, auto b) { return (Max ? b > a : b < a) ? b : a; });
  }
  void combine(state& a, const state& b) const { a = pick(a, b); }
  out_t project(const state& s, std::int64_t) const { return narrow<T>(s); }
  void col_rows(state* st, const char* rows, std::int64_t row_stride, std::int64_t nrows,
                std::int64_t w, std::int64_t) const {
    // max/min instructions over the rows, and apart a plain sum of every value read, NaN if
    // any value is (or on inf - inf). Then, rarely, the block is redone with pick() from the
    // states saved before it. An exact NaN test per vector made this compute-bound.
    constexpr int L = kLanes<W>;
    alignas(64) state saved[kCols];
    std::memcpy(saved, st, static_cast<std::size_t>(w) * sizeof(state));
    // One add to the sum per four vectors.
    vec<W> check = splat<W>(W(0));
    const std::int64_t wv = w / L * L;
    fold_rows_by_four<T, L>(
        rows, row_stride, nrows, w,
        [&](const T* const* x, std::int64_t j) {
          vec<W> m = load(st + j);
          const vec<W> a0 = load_widened<W>(x[0] + j), a1 = load_widened<W>(x[1] + j), a2 = load_widened<W>(x[2] + j),
                       a3 = load_widened<W>(x[3] + j);
          m = better(a3, better(a2, better(a1, better(a0, m))));
          check += (a0 + a1) + (a2 + a3);
          store(st + j, m);
        },
        [&](const T* const* x, std::int64_t j) {
          for (int k = 0; k < 4; ++k) st[j] = pick(st[j], convert_one<W>(x[k][j]));
        },
        [&](const T* x) {
          for (std::int64_t j = 0; j < wv; j += L) {
            const vec<W> a = load_widened<W>(x + j);
            store(st + j, better(a, load(st + j)));
            check += a;
          }
          for (std::int64_t j = wv; j < w; ++j) st[j] = pick(st[j], convert_one<W>(x[j]));
        });
    if (!any_lane(check != check)) return;
    std::memcpy(st, saved, static_cast<std::size_t>(w) * sizeof(state));
    RowWidener<T> widen;
    for (std::int64_t r = 0; r < nrows; ++r) {
      const W* x = widen(rows + r * row_stride, w);
      for (std::int64_t j = 0; j < w; ++j) st[j] = pick(st[j], x[j]);
    }
  }
};

// argmax and argmin: the first index of the extreme, NaN skipped (as Keras on TensorFlow);
// idx < 0 means "no non-NaN element yet" and projects to 0.
template <class T, bool Max>
struct ArgOp {
  using W = widen_t<T>;
  using I = int_of<W>;
  struct state {
    W val;
    std::int64_t idx;
  };
  using out_t = std::int64_t;
  static constexpr std::int64_t kCols = tuning::kColsArg;

  static bool beats(W x, W best) { return Max ? x > best : x < best; }

  state identity() const { return {std::numeric_limits<W>::quiet_NaN(), -1}; }
  // Pass 1 finds the extreme over non-NaN values (NaN never wins a strict comparison) chunk by
  // chunk, remembering the first chunk that reached it; pass 2 finds the first index holding it
  // inside that chunk only. A float16 run longer than a chunk is widened in registers in pass 1
  // and a chunk at a time in pass 2 (widened whole into a buffer, a long run's stores held up its
  // loads from memory); a shorter one is widened once into a buffer.
  static constexpr std::int64_t kChunk = tuning::kArgChunkBytes / sizeof(W);  // what pass 2 re-reads at most

  template <class E>
  static std::int64_t first_equal(const E* q, std::int64_t from, std::int64_t to, W value) {
    if constexpr (std::is_same_v<E, half>) {
      alignas(64) W buf[kChunk];
      for (std::int64_t c = from; c < to; c += kChunk) {
        const std::int64_t len = std::min(kChunk, to - c);
        widen_half(q + c, buf, len);
        const std::int64_t j = find_first_equal(static_cast<const W*>(buf), 0, len, value);
        if (j >= 0) return c + j;
      }
      return -1;
    } else {
      return find_first_equal(q, from, to, value);
    }
  }

  template <class E>
  static state extreme(const E* q, std::int64_t n) {
    constexpr W kInit = Max ? -std::numeric_limits<W>::infinity() : std::numeric_limits<W>::infinity();
    W best = kInit;
    std::int64_t best_chunk = -1;
    for (std::int64_t c0 = 0; c0 < n; c0 += kChunk) {
      const std::int64_t len = std::min(kChunk, n - c0);
      vec<W> acc[kBlockVecs];
      fill_block(acc, kInit);
      const std::int64_t done = fold_blocks<W>(q + c0, len, [&acc](int k, vec<W> x, std::int64_t) {
        acc[k] = (Max ? x > acc[k] : x < acc[k]) ? x : acc[k];
      });
      if (done > 0) {
        vec<W> v = acc[0];
        for (int k = 1; k < kBlockVecs; ++k) v = (Max ? acc[k] > v : acc[k] < v) ? acc[k] : v;
        if (any_lane(Max ? v > splat<W>(best) : v < splat<W>(best))) {  // rare after a while
          best = tree_block<W>(acc, [](auto a, auto b) { return (Max ? b > a : b < a) ? b : a; });
          best_chunk = c0;
        }
      }
      for (std::int64_t i = c0 + done; i < c0 + len; ++i) {
        const W x = convert_one<W>(q[i]);
        if (beats(x, best)) {
          best = x;
          best_chunk = c0;
        }
      }
    }
    // No value beat the initial +-inf: search the whole run for it (or find only NaN).
    const std::int64_t from = best_chunk < 0 ? 0 : best_chunk;
    const std::int64_t to = best_chunk < 0 ? n : std::min(n, best_chunk + kChunk);
    return state{best, first_equal(q, from, to, best)};
  }

  state leaf(const T* p, std::int64_t n, std::int64_t index_base) const {
    state s;
    if constexpr (std::is_same_v<T, half>) {
      if (n <= kChunk) {
        alignas(64) W buf[kChunk];
        widen_half(p, buf, n);
        s = extreme(static_cast<const W*>(buf), n);
      } else {
        s = extreme(p, n);
      }
    } else {
      s = extreme(p, n);
    }
    if (s.idx >= 0) s.idx += index_base;
    return s;
  }
  void combine(state& a, const state& b) const {
    if (b.idx >= 0 && (a.idx < 0 || beats(b.val, a.val))) a = b;
  }
  out_t project(const state& s, std::int64_t) const { return s.idx < 0 ? 0 : s.idx; }
  void col_rows(state* st, const char* rows, std::int64_t row_stride, std::int64_t nrows,
                std::int64_t w, std::int64_t index_base) const {
    RowWidener<T> widen;
    W val[kCols];
    std::int64_t idx[kCols];
    for (std::int64_t j = 0; j < w; ++j) {
      val[j] = st[j].val;
      idx[j] = st[j].idx;
    }
    for (std::int64_t r = 0; r < nrows; ++r) {
      const W* x = widen(rows + r * row_stride, w);
      const std::int64_t at = index_base + r;
      for (std::int64_t j = 0; j < w; ++j) {
        const bool take = (Max ? x[j] > val[j] : x[j] < val[j]) || (idx[j] < 0 && x[j] == x[j]);
        val[j] = take ? x[j] : val[j];
        idx[j] = take ? at : idx[j];
      }
    }
    for (std::int64_t j = 0; j < w; ++j) st[j] = {val[j], idx[j]};
  }
};

// var and std (population): two passes over each cache-resident leaf or row chunk, merged
// with Chan et al.'s formula, all in float64 -- no E[x^2] - E[x]^2 cancellation.
template <class T, bool Sqrt>
struct VarOp {
  using W = widen_t<T>;
  struct state {
    double n, mean, m2;
  };
  using out_t = T;
  static constexpr std::int64_t kCols = tuning::kColsVar;

  static void merge(state& a, double nb, double mean_b, double m2_b) {
    if (nb == 0) return;
    if (a.n == 0) {
      a = {nb, mean_b, m2_b};
      return;
    }
    const double n = a.n + nb;
    const double d = mean_b - a.mean;
    a.mean += d * (nb / n);
    a.m2 += m2_b + d * d * (a.n * nb / n);
    a.n = n;
  }

  state identity() const { return {0, 0, 0}; }
  state leaf(const T* p, std::int64_t n, std::int64_t) const {
    double mean = fold_contig<double, Fold::add>(p, n, -0.0) / static_cast<double>(n);
    if (!std::isfinite(mean)) {
      // A float64 total past the largest double (finite terms): each term over n first, so that
      // the padding below stays at a finite mean (inf - inf would make it NaN).
      mean = -0.0;
      for (std::int64_t i = 0; i < n; ++i) mean += convert_one<double>(p[i]) / static_cast<double>(n);
    }
    vec<double> acc[kBlockVecs];
    fill_block(acc, 0.0);
    const vec<double> mv = splat<double>(mean);
    const auto step = [&acc, mv](int k, vec<double> x, std::int64_t) {
      const vec<double> d = x - mv;
      acc[k] += d * d;
    };
    const std::int64_t i = fold_blocks<double>(p, n, step);
    fold_partial_block<double>(p + i, n - i, mean, step);  // padding at the mean adds 0
    return state{static_cast<double>(n), mean, tree_block<double>(acc, [](auto a, auto b) { return a + b; })};
  }
  void combine(state& a, const state& b) const { merge(a, b.n, b.mean, b.m2); }
  out_t project(const state& s, std::int64_t) const {
    const double v = s.m2 / s.n;  // empty: 0/0 = NaN
    return narrow<T>(Sqrt ? std::sqrt(v) : v);
  }
  // Each column's mean, then its squared deviations, adds the rows one at a time in row order,
  // four rows a pass (fold_rows_by_four: the column's total loaded and stored once per four).
  void col_rows(state* st, const char* rows, std::int64_t row_stride, std::int64_t nrows,
                std::int64_t w, std::int64_t) const {
    constexpr int L = kLanes<double>;
    alignas(64) double mean[kCols], m2[kCols];
    for (std::int64_t j = 0; j < w; ++j) mean[j] = m2[j] = 0;
    fold_rows_by_four<T, L>(
        rows, row_stride, nrows, w,
        [&](const T* const* x, std::int64_t j) {
          vec<double> t = load(mean + j);
          for (int k = 0; k < 4; ++k) t += load_widened<double>(x[k] + j);
          store(mean + j, t);
        },
        [&](const T* const* x, std::int64_t j) {
          for (int k = 0; k < 4; ++k) mean[j] += convert_one<double>(x[k][j]);
        },
        [&](const T* x) {
          for (std::int64_t j = 0; j < w; ++j) mean[j] += convert_one<double>(x[j]);
        });
    const double inv = 1.0 / static_cast<double>(nrows);
    for (std::int64_t j = 0; j < w; ++j) mean[j] *= inv;
    fold_rows_by_four<T, L>(
        rows, row_stride, nrows, w,
        [&](const T* const* x, std::int64_t j) {
          const vec<double> mv = load(mean + j);
          vec<double> t = load(m2 + j);
          for (int k = 0; k < 4; ++k) {
            const vec<double> d = load_widened<double>(x[k] + j) - mv;
            t += d * d;
          }
          store(m2 + j, t);
        },
        [&](const T* const* x, std::int64_t j) {
          for (int k = 0; k < 4; ++k) {
            const double d = convert_one<double>(x[k][j]) - mean[j];
            m2[j] += d * d;
          }
        },
        [&](const T* x) {
          for (std::int64_t j = 0; j < w; ++j) {
            const double d = convert_one<double>(x[j]) - mean[j];
            m2[j] += d * d;
          }
        });
    for (std::int64_t j = 0; j < w; ++j) merge(st[j], static_cast<double>(nrows), mean[j], m2[j]);
  }
};

// any and all: truthiness is x != 0 (NaN is true), as NumPy's and TensorFlow's bool cast.
// float16 is tested on its bits (anything but +-0 is true): no widening, 2x the lanes.
template <class T>
struct truth_of {
  using elem = widen_t<T>;  // what the lanes compare
  using mask = int_of<elem>;
  static const elem* view(const T* p, std::int64_t n, elem* buf) {
    (void)n;
    (void)buf;
    return p;
  }
  template <class V>
  static auto truthy(V x) { return x != 0; }
};
template <>
struct truth_of<half> {
  using elem = std::uint16_t;
  using mask = std::int16_t;
  static const elem* view(const half* p, std::int64_t, elem*) { return reinterpret_cast<const elem*>(p); }
  template <class V>
  static auto truthy(V x) { return (x & elem(0x7fff)) != 0; }
};

template <class T, bool Any>
struct AnyAllOp {
  using Tr = truth_of<T>;
  using E = typename Tr::elem;
  using I = typename Tr::mask;
  using state = bool;
  using out_t = std::uint8_t;
  static constexpr std::int64_t kCols = sizeof(T) == 2 ? tuning::kColsAnyAllHalf : tuning::kColsAnyAll;

  state identity() const { return !Any; }
  state leaf(const T* p, std::int64_t m, std::int64_t) const {
    const E* q = Tr::view(p, m, nullptr);
    vec<I> acc[kBlockVecs];
    fill_block(acc, Any ? I(0) : I(-1));
    std::int64_t i = 0;
    constexpr int L = kLanes<E>;
    for (; i + kBlockLanes<E> <= m; i += kBlockLanes<E>) {
#pragma GCC unroll 16
      for (int k = 0; k < kBlockVecs; ++k) {
        const vec<E> x = load(q + i + k * L);
        const vec<I> t = (vec<I>)Tr::truthy(x);
        acc[k] = Any ? (acc[k] | t) : (acc[k] & t);
      }
    }
    for (; i + L <= m; i += L) {  // whole vectors left (a float16 row of 64 is two, no block)
      const vec<I> t = (vec<I>)Tr::truthy(load(q + i));
      acc[0] = Any ? (acc[0] | t) : (acc[0] & t);
    }
    vec<I> v = acc[0];
    for (int k = 1; k < kBlockVecs; ++k) v = Any ? (v | acc[k]) : (v & acc[k]);
    bool s = Any ? any_lane(v) : !any_lane(~v);
    for (; i < m; ++i) {
      const bool t = Tr::truthy(q[i]);
      s = Any ? (s || t) : (s && t);
    }
    return s;
  }
  void combine(state& a, const state& b) const { a = Any ? (a || b) : (a && b); }
  out_t project(const state& s, std::int64_t) const { return s ? 1 : 0; }
  void col_rows(state* st, const char* rows, std::int64_t row_stride, std::int64_t nrows,
                std::int64_t w, std::int64_t) const {
    I acc[kCols];  // same width as the compared elements, so the compare-and-merge vectorises
    for (std::int64_t j = 0; j < w; ++j) acc[j] = st[j] ? I(-1) : I(0);
    for (std::int64_t r = 0; r < nrows; ++r) {
      const E* x = Tr::view(reinterpret_cast<const T*>(rows + r * row_stride), w, nullptr);
      for (std::int64_t j = 0; j < w; ++j) {
        const I truthy = Tr::truthy(x[j]) ? I(-1) : I(0);
        acc[j] = Any ? (acc[j] | truthy) : (acc[j] & truthy);
      }
    }
    for (std::int64_t j = 0; j < w; ++j) st[j] = acc[j] != 0;
  }
};

}  // namespace KCORE_ISA
}  // namespace kcore
