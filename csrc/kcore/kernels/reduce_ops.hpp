// Reduction ops: small structs plugged into the engine (reduce_engine.hpp), in the manner of
// ATen's Reduce.h. Each op T -> out_t provides
//   state identity();                          the value of an empty reduction
//   state leaf(const T* p, n, index_base);     a contiguous run of n <= kLeaf elements
//   void  combine(state& a, const state& b);   a := a (+) b, where a's elements precede b's
//   out_t project(const state&, count);        the final value, rounded once
//   void  col_rows(state* st, rows, row_stride, nrows, w, index_base)
//                                              fold nrows rows of w contiguous columns into st
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/simd.hpp"

namespace kcore {
namespace KCORE_ISA {

constexpr std::int64_t kLeaf = 2048;     // elements in one horizontal leaf
constexpr std::int64_t kColBlock = 256;  // columns in one vertical block
constexpr std::int64_t kRowChunk = 128;  // rows folded into a temporary before merging

// Sum/prod accumulators: float16 in float32 (blocked), float32 in float64, float64 in float64.
template <class T> struct sum_acc { using type = double; };
template <> struct sum_acc<half> { using type = float; };
template <class T> using sum_acc_t = typename sum_acc<T>::type;

// Calls f(q, n) with q a widened view of p[0, n), n <= kLeaf: float16 goes through a buffer.
template <class T, class F>
inline auto with_widened(const T* p, std::int64_t n, F&& f) {
  if constexpr (std::is_same_v<T, half>) {
    alignas(64) float buf[kLeaf];
    widen_half(p, buf, n);
    return f(static_cast<const float*>(buf), n);
  } else {
    return f(p, n);
  }
}

// Widened view of one row of w <= kColBlock contiguous elements.
template <class T>
struct RowWidener {
  alignas(64) widen_t<T> buf[std::is_same_v<T, half> ? kColBlock : 1];
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

enum class Fold { add, mul };

template <class A, Fold F>
inline A fold1(A a, A b) {
  return F == Fold::add ? a + b : a * b;
}

// Blocked fold of q[0, n) in A: a 256-byte block of accumulators, a fixed-order tree, a tail.
template <class A, Fold F, class W>
inline A fold_contig(const W* q, std::int64_t n, A unit) {
  vec<A> acc[kBlockVecs];
  for (auto& a : acc) a = splat<A>(unit);
  std::int64_t i = fold_blocks<A>(acc, q, n, [](vec<A>& a, vec<A> x, std::int64_t) {
    a = F == Fold::add ? a + x : a * x;
  });
  A lanes[kBlockLanes<A>];
  spill(acc, lanes);
  A s = tree_lanes(lanes, fold1<A, F>);
  for (; i < n; ++i) s = fold1<A, F>(s, static_cast<A>(q[i]));
  return s;
}

// sum, prod and mean.
template <class T, Fold F, bool Mean>
struct SumOp {
  using A = sum_acc_t<T>;
  using W = widen_t<T>;
  using state = A;
  using out_t = T;
  // -0.0 is the additive identity that keeps the sign of an all -0.0 sum.
  static constexpr A kUnit = F == Fold::add ? A(-0.0) : A(1);

  state identity() const { return kUnit; }
  state leaf(const T* p, std::int64_t n, std::int64_t) const {
    return with_widened(p, n, [](const W* q, std::int64_t m) { return fold_contig<A, F>(q, m, kUnit); });
  }
  void combine(state& a, const state& b) const { a = fold1<A, F>(a, b); }
  out_t project(const state& s, std::int64_t count) const {
    if constexpr (Mean) {
      return narrow<T>(static_cast<double>(s) / static_cast<double>(count));  // empty: NaN
    } else {
      return narrow<T>(F == Fold::add && count == 0 ? A(0) : s);
    }
  }
  void col_rows(state* st, const char* rows, std::int64_t row_stride, std::int64_t nrows,
                std::int64_t w, std::int64_t) const {
    RowWidener<T> widen;
    A tmp[kColBlock];
    for (std::int64_t j = 0; j < w; ++j) tmp[j] = kUnit;
    for (std::int64_t r = 0; r < nrows; ++r) {
      const W* x = widen(rows + r * row_stride, w);
      for (std::int64_t j = 0; j < w; ++j) tmp[j] = fold1<A, F>(tmp[j], static_cast<A>(x[j]));
    }
    for (std::int64_t j = 0; j < w; ++j) st[j] = fold1<A, F>(st[j], tmp[j]);
  }
};

// max and min: NaN propagates (a NaN accumulator never leaves NaN).
template <class T, bool Max>
struct MinMaxOp {
  using W = widen_t<T>;
  using state = W;
  using out_t = T;
  static constexpr W kUnit = Max ? -std::numeric_limits<W>::infinity() : std::numeric_limits<W>::infinity();

  static W pick(W m, W x) { return ((Max ? x > m : x < m) || x != x) ? x : m; }

  state identity() const { return kUnit; }
  state leaf(const T* p, std::int64_t n, std::int64_t) const {
    return with_widened(p, n, [](const W* q, std::int64_t m) {
      vec<W> acc[kBlockVecs];
      for (auto& a : acc) a = splat<W>(kUnit);
      std::int64_t i = fold_blocks<W>(acc, q, m, [](vec<W>& a, vec<W> x, std::int64_t) {
        a = ((Max ? x > a : x < a) | (x != x)) ? x : a;
      });
      W lanes[kBlockLanes<W>];
      spill(acc, lanes);
      W s = tree_lanes(lanes, pick);
      for (; i < m; ++i) s = pick(s, q[i]);
      return s;
    });
  }
  void combine(state& a, const state& b) const { a = pick(a, b); }
  out_t project(const state& s, std::int64_t) const { return narrow<T>(s); }
  void col_rows(state* st, const char* rows, std::int64_t row_stride, std::int64_t nrows,
                std::int64_t w, std::int64_t) const {
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

  static bool beats(W x, W best) { return Max ? x > best : x < best; }

  state identity() const { return {std::numeric_limits<W>::quiet_NaN(), -1}; }
  state leaf(const T* p, std::int64_t n, std::int64_t index_base) const {
    state s = with_widened(p, n, [](const W* q, std::int64_t m) {
      constexpr int L = kLanes<W>;
      constexpr int B = kBlockLanes<W>;
      vec<I> iota;
      for (int l = 0; l < L; ++l) iota[l] = static_cast<I>(l);
      vec<W> val[kBlockVecs];
      vec<I> idx[kBlockVecs];
      for (int k = 0; k < kBlockVecs; ++k) {
        val[k] = splat<W>(std::numeric_limits<W>::quiet_NaN());
        idx[k] = splat<I>(I(-1));
      }
      std::int64_t i = 0;
      for (; i + B <= m; i += B) {
#pragma GCC unroll 16
        for (int k = 0; k < kBlockVecs; ++k) {
          const vec<W> x = load(q + i + k * L);
          const auto take = (Max ? x > val[k] : x < val[k]) | ((idx[k] < 0) & (x == x));
          val[k] = take ? x : val[k];
          idx[k] = take ? splat<I>(static_cast<I>(i + k * L)) + iota : idx[k];
        }
      }
      W lv[B];
      I li[B];
      std::memcpy(lv, val, sizeof lv);
      std::memcpy(li, idx, sizeof li);
      state best{std::numeric_limits<W>::quiet_NaN(), -1};
      for (int j = 0; j < B; ++j) {
        if (li[j] < 0) continue;
        if (best.idx < 0 || beats(lv[j], best.val) || (lv[j] == best.val && li[j] < best.idx))
          best = {lv[j], static_cast<std::int64_t>(li[j])};
      }
      for (; i < m; ++i)
        if (q[i] == q[i] && (best.idx < 0 || beats(q[i], best.val))) best = {q[i], i};
      return best;
    });
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
    W val[kColBlock];
    std::int64_t idx[kColBlock];
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
    return with_widened(p, n, [](const W* q, std::int64_t m) {
      const double mean = fold_contig<double, Fold::add>(q, m, -0.0) / static_cast<double>(m);
      vec<double> acc[kBlockVecs];
      for (auto& a : acc) a = splat<double>(0.0);
      const vec<double> mv = splat<double>(mean);
      std::int64_t i = fold_blocks<double>(acc, q, m, [mv](vec<double>& a, vec<double> x, std::int64_t) {
        const vec<double> d = x - mv;
        a += d * d;
      });
      double lanes[kBlockLanes<double>];
      spill(acc, lanes);
      double m2 = tree_lanes(lanes, fold1<double, Fold::add>);
      for (; i < m; ++i) {
        const double d = static_cast<double>(q[i]) - mean;
        m2 += d * d;
      }
      return state{static_cast<double>(m), mean, m2};
    });
  }
  void combine(state& a, const state& b) const { merge(a, b.n, b.mean, b.m2); }
  out_t project(const state& s, std::int64_t) const {
    const double v = s.m2 / s.n;  // empty: 0/0 = NaN
    return narrow<T>(Sqrt ? std::sqrt(v) : v);
  }
  void col_rows(state* st, const char* rows, std::int64_t row_stride, std::int64_t nrows,
                std::int64_t w, std::int64_t) const {
    RowWidener<T> widen;
    double mean[kColBlock], m2[kColBlock];
    for (std::int64_t j = 0; j < w; ++j) mean[j] = m2[j] = 0;
    for (std::int64_t r = 0; r < nrows; ++r) {
      const W* x = widen(rows + r * row_stride, w);
      for (std::int64_t j = 0; j < w; ++j) mean[j] += static_cast<double>(x[j]);
    }
    const double inv = 1.0 / static_cast<double>(nrows);
    for (std::int64_t j = 0; j < w; ++j) mean[j] *= inv;
    for (std::int64_t r = 0; r < nrows; ++r) {
      const W* x = widen(rows + r * row_stride, w);
      for (std::int64_t j = 0; j < w; ++j) {
        const double d = static_cast<double>(x[j]) - mean[j];
        m2[j] += d * d;
      }
    }
    for (std::int64_t j = 0; j < w; ++j) merge(st[j], static_cast<double>(nrows), mean[j], m2[j]);
  }
};

// any and all: truthiness is x != 0 (NaN is true), as NumPy's and TensorFlow's bool cast.
template <class T, bool Any>
struct AnyAllOp {
  using W = widen_t<T>;
  using I = int_of<W>;
  using state = bool;
  using out_t = std::uint8_t;

  state identity() const { return !Any; }
  state leaf(const T* p, std::int64_t n, std::int64_t) const {
    return with_widened(p, n, [](const W* q, std::int64_t m) {
      vec<I> acc[kBlockVecs];
      for (auto& a : acc) a = splat<I>(Any ? I(0) : I(-1));
      std::int64_t i = 0;
      constexpr int L = kLanes<W>;
      for (; i + kBlockLanes<W> <= m; i += kBlockLanes<W>) {
#pragma GCC unroll 16
        for (int k = 0; k < kBlockVecs; ++k) {
          const vec<W> x = load(q + i + k * L);
          acc[k] = Any ? (acc[k] | (x != 0)) : (acc[k] & (x != 0));
        }
      }
      I lanes[kBlockLanes<W>];
      std::memcpy(lanes, acc, sizeof lanes);
      bool s = !Any;
      for (I v : lanes) s = Any ? (s || v != 0) : (s && v != 0);
      for (; i < m; ++i) s = Any ? (s || q[i] != 0) : (s && q[i] != 0);
      return s;
    });
  }
  void combine(state& a, const state& b) const { a = Any ? (a || b) : (a && b); }
  out_t project(const state& s, std::int64_t) const { return s ? 1 : 0; }
  void col_rows(state* st, const char* rows, std::int64_t row_stride, std::int64_t nrows,
                std::int64_t w, std::int64_t) const {
    RowWidener<T> widen;
    for (std::int64_t r = 0; r < nrows; ++r) {
      const W* x = widen(rows + r * row_stride, w);
      for (std::int64_t j = 0; j < w; ++j) st[j] = Any ? (st[j] || x[j] != 0) : (st[j] && x[j] != 0);
    }
  }
};

}  // namespace KCORE_ISA
}  // namespace kcore
