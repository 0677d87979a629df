// Elementwise ops: small functors plugged into the elementwise engine (elementwise_engine.hpp).
// Each provides
//   using out_t, in_t;  static constexpr int kInputs;
//   void run(out_t* d, const in_t* const* s, n) const;           n outputs from contiguous inputs
//   void run_streamed(out_t* d, const in_t* const* s, n) const;  the same for results far larger
//                                                                than the caches (written behind)
// Arithmetic happens in the element's arithmetic type (float16 in float32: for +, -, *, / the
// result rounded once to float16 is the correctly rounded float16 result, as NumPy computes it).
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>

#include "kcore/kernels/accumulate.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/simd.hpp"
#include "kcore/kernels/vmath.hpp"

namespace kcore {
namespace KCORE_ISA {

// A copy converting S to D exactly as NumPy's astype.
template <class S, class D>
struct Convert {
  using out_t = D;
  using in_t = S;
  static constexpr int kInputs = 1;
  void run(D* d, const S* const* s, std::int64_t n) const { convert_run(s[0], d, n); }
  void run_streamed(D* d, const S* const* s, std::int64_t n) const { convert_streamed(s[0], d, n); }
};

struct Add {
  template <class V> static V apply(V a, V b) { return a + b; }
};
struct Subtract {
  template <class V> static V apply(V a, V b) { return a - b; }
};
struct Multiply {
  template <class V> static V apply(V a, V b) { return a * b; }
};
struct Divide {
  template <class V> static V apply(V a, V b) { return a / b; }
};

// NaN from either operand wins, as NumPy's maximum and minimum.
struct Maximum {
  template <class V> static V apply(V a, V b) {
    const V m = a < b ? b : a;
    return b != b ? b : m;
  }
};
struct Minimum {
  template <class V> static V apply(V a, V b) {
    const V m = b < a ? b : a;
    return b != b ? b : m;
  }
};

// Comparisons: a bool (scalars) or a lane mask (vectors), IEEE's rules (NaN unordered).
struct Equal {
  template <class V> static auto apply(V a, V b) { return a == b; }
};
struct NotEqual {
  template <class V> static auto apply(V a, V b) { return a != b; }
};
struct Greater {
  template <class V> static auto apply(V a, V b) { return a > b; }
};
struct GreaterEqual {
  template <class V> static auto apply(V a, V b) { return a >= b; }
};
struct Less {
  template <class V> static auto apply(V a, V b) { return a < b; }
};
struct LessEqual {
  template <class V> static auto apply(V a, V b) { return a <= b; }
};

// A comparison of two operands of one float type (in its arithmetic type) into bools.
template <class T, class F>
struct Compare {
  using out_t = bool;
  using in_t = T;
  static constexpr int kInputs = 2;
  void run(bool* d, const T* const* s, std::int64_t n) const {
    using A = widen_t<T>;
    constexpr int L = kLanes<A>;
    typedef std::int8_t bytes __attribute__((vector_size(L)));
    std::int64_t i = 0;
    for (; i + L <= n; i += L) {
      const bytes b = __builtin_convertvector(F::apply(load_widened<A>(s[0] + i), load_widened<A>(s[1] + i)), bytes) & 1;
      std::memcpy(d + i, &b, sizeof b);
    }
    for (; i < n; ++i) d[i] = F::apply(convert_one<A>(s[0][i]), convert_one<A>(s[1][i]));
  }
  void run_streamed(bool* d, const T* const* s, std::int64_t n) const { run(d, s, n); }
};

struct MultiplyAdd {
  template <class V> static V apply(V a, V b, V c) { return a * b + c; }  // (fp-contract off: no FMA)
};
struct Clip {
  // Comparisons false for NaN keep it; vector or scalar, the same selects.
  template <class V> static V apply(V a, V lo, V hi) {
    a = a < lo ? lo : a;
    return a > hi ? hi : a;
  }
};

// t where c is nonzero (NaN and infinities included: c - c is 0 only for finite c), else e: the
// value of a branch unchanged.
struct Select {
  template <class V> static V apply(V c, V t, V e) { return c != c - c ? t : e; }
};

// clip with bounds that are one value each (relu6, K.clip with numbers): one input, the bounds
// held in the functor (the engine would otherwise gather them, repeated, beside every chunk).
template <class T>
struct ClipScalar {
  using out_t = T;
  using in_t = T;
  using A = widen_t<T>;
  static constexpr int kInputs = 1;
  A lo, hi;
  void run(T* d, const T* const* s, std::int64_t n) const {
    const T* a = s[0];
    std::int64_t i = 0;
    constexpr int L = kLanes<A>;
    const vec<A> vlo = splat(lo), vhi = splat(hi);
    if constexpr (!std::is_same_v<T, A>) {
      for (; i + L <= n; i += L) store_narrowed<T, A>(d + i, Clip::apply(load_widened<A>(a + i), vlo, vhi));
      for (; i < n; ++i) d[i] = narrow<T>(Clip::apply(convert_one<A>(a[i]), lo, hi));
    } else {
      for (; i + L <= n; i += L) store(d + i, Clip::apply(load(a + i), vlo, vhi));
      for (; i < n; ++i) d[i] = Clip::apply(a[i], lo, hi);
    }
  }
  void run_streamed(T* d, const T* const* s, std::int64_t n) const { run(d, s, n); }
};

// exp, log and the parameterless activations (vmath.hpp) on vectors of their arithmetic type A.
template <class A, vec<A> (*F)(vec<A>)>
struct VectorFn {
  vec<A> apply(vec<A> x) const { return F(x); }
};
// x where x > 0, else alpha * expm1(x).
template <class A>
struct Elu {
  A alpha;
  vec<A> apply(vec<A> x) const { return x > splat<A>(0) ? x : splat<A>(alpha) * vmath::expm1<A>(x); }
};
// Keras 2.3.1's relu(x, alpha, max_value, threshold) step by step, as its TensorFlow backend:
// max(x, 0) (NaN kept), or x * (x > threshold) for a threshold; clipped as
// tf.clip_by_value(., 0, max_value) when a maximum is given; minus alpha * max(threshold - x, 0).
template <class A>
struct Relu {
  A alpha, max_value, threshold;
  bool has_max;
  vec<A> apply(vec<A> x) const {
    const vec<A> t = splat<A>(threshold);
    vec<A> y = threshold != 0 ? x * (x > t ? splat<A>(1) : splat<A>(0)) : (x < splat<A>(0) ? splat<A>(0) : x);
    if (has_max) {  // as tf.clip_by_value: the maximum first, so a negative one gives 0
      y = y > splat<A>(max_value) ? splat<A>(max_value) : y;
      y = y < splat<A>(0) ? splat<A>(0) : y;
    }
    if (alpha != 0) {
      const vec<A> d = t - x;
      y = y - splat<A>(alpha) * (d > splat<A>(0) ? d : splat<A>(0));
    }
    return y;
  }
};

// g times the slope of Relu at x, as TensorFlow differentiates Keras 2.3.1's relu graph: 1 where x
// passes (x > threshold; with a maximum, x >= 0 after a threshold and x <= max_value, below it
// for relu6: no threshold, max_value 6), else alpha where x < threshold (the negative part), else
// 0; leaky_relu (alpha alone) takes alpha wherever x > 0 fails (NaN included). g * 0 stays NaN for
// a NaN or infinite g, as g * cast(mask) does.
// The rule's choices (leaky_relu, relu6, a threshold) are made on Keras's parameters as given,
// before they are converted to x's dtype: the flags.
template <class A>
struct ReluGrad {
  A alpha, max_value, threshold;
  bool has_max, leaky, relu6, thresholded;
  vec<A> apply(vec<A> g, vec<A> x) const {
    const vec<A> one = splat<A>(1), zero = splat<A>(0), t = splat<A>(threshold);
    if (leaky) return g * (x > zero ? one : splat<A>(alpha));
    auto pass = x > t;
    if (has_max) {
      const vec<A> top = splat<A>(max_value);
      if (thresholded) pass = pass & (x >= zero);
      pass = pass & (relu6 ? x < top : x <= top);
    }
    vec<A> slope = pass ? one : zero;
    if (alpha != 0) slope = x < t ? splat<A>(alpha) : slope;
    return g * slope;
  }
};

// out = f(in0, ..., in(K-1)) for K operands of one float type, computed in vectors of its
// arithmetic type A (float16 in float32, rounded once). A tail shorter than a vector goes through
// the same vector code (padded), so where a run is cut never changes a bit.
template <class T, class F, int K>
struct Map {
  using out_t = T;
  using in_t = T;
  static constexpr int kInputs = K;
  F f;
  void run(T* d, const T* const* s, std::int64_t n) const {
    run_each<false>(d, s, n, std::make_integer_sequence<int, K>{});
  }
  // float32/float64 results from the first vector-aligned element on with streaming stores
  // (float16's half vectors take ordinary ones); the same values either way.
  void run_streamed(T* d, const T* const* s, std::int64_t n) const {
    run_each<std::is_same_v<T, widen_t<T>>>(d, s, n, std::make_integer_sequence<int, K>{});
  }

 private:
  template <bool Stream, int... I>
  void run_each(T* d, const T* const* s, std::int64_t n, std::integer_sequence<int, I...>) const {
    using A = widen_t<T>;
    constexpr int L = kLanes<A>;
    std::int64_t i = 0;
    if constexpr (Stream) {
      const auto at = reinterpret_cast<std::uintptr_t>(d);
      if (at % sizeof(T) == 0) {
        const std::int64_t head = std::min<std::int64_t>(n, static_cast<std::int64_t>((kVecBytes - at % kVecBytes) % kVecBytes / sizeof(T)));
        run_each<false>(d, s, head, std::integer_sequence<int, I...>{});
        for (i = head; i + L <= n; i += L) stream_store(reinterpret_cast<char*>(d + i), f.apply(load(s[I] + i)...));
      }
    }
    for (; i + L <= n; i += L) store_narrowed<T, A>(d + i, f.apply(load_widened<A>(s[I] + i)...));
    if (i == n) return;
    alignas(64) T in[K][L] = {};
    alignas(64) T out[L];
    for (int k = 0; k < K; ++k) std::memcpy(in[k], s[k] + i, (n - i) * sizeof(T));
    store_narrowed<T, A>(out, f.apply(load_widened<A>(in[I])...));
    std::memcpy(d + i, out, (n - i) * sizeof(T));
  }
};
template <class T, class F>
using Unary = Map<T, F, 1>;

// A float16 function of one float16 operand read from a table of its 65536 results, built once per
// function by Unary<half, F> itself: the same bits, for a load per element instead of a polynomial.
template <class F>
struct HalfTable {
  using out_t = half;
  using in_t = half;
  static constexpr int kInputs = 1;
  const std::uint16_t* table = values();
  void run(half* d, const half* const* s, std::int64_t n) const {
    const auto* x = reinterpret_cast<const std::uint16_t*>(s[0]);
    auto* y = reinterpret_cast<std::uint16_t*>(d);
    std::int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      const std::uint16_t a = table[x[i]], b = table[x[i + 1]], c = table[x[i + 2]], e = table[x[i + 3]];
      y[i] = a;
      y[i + 1] = b;
      y[i + 2] = c;
      y[i + 3] = e;
    }
    for (; i < n; ++i) y[i] = table[x[i]];
  }
  void run_streamed(half* d, const half* const* s, std::int64_t n) const { run(d, s, n); }

 private:
  static const std::uint16_t* values() {
    static const std::unique_ptr<std::uint16_t[]> table = [] {
      constexpr std::int64_t kCount = std::int64_t(1) << 16;
      auto in = std::make_unique<std::uint16_t[]>(kCount);
      auto out = std::make_unique<std::uint16_t[]>(kCount);
      for (std::int64_t i = 0; i < kCount; ++i) in[i] = static_cast<std::uint16_t>(i);
      const half* src = reinterpret_cast<const half*>(in.get());
      Unary<half, F>{}.run(reinterpret_cast<half*>(out.get()), &src, kCount);
      return out;
    }();
    return table.get();
  }
};
template <class T, class F>
using Binary = Map<T, F, 2>;
template <class T, class F>
using Ternary = Map<T, F, 3>;

}  // namespace KCORE_ISA
}  // namespace kcore
