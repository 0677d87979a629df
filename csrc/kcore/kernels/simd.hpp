// Portable SIMD through GCC/Clang vector extensions. The compiler lowers `vec<T>` to the native
// registers of the level being compiled (xmm, ymm or zmm).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__AVX__) || defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kcore/kernels/isa.hpp"

namespace kcore {
namespace KCORE_ISA {

constexpr int kVecBytes = KCORE_VEC_BYTES;

template <class T, int Bytes>
struct vec_type {
  typedef T type __attribute__((vector_size(Bytes)));
};
template <class T>
using vec = typename vec_type<T, kVecBytes>::type;
template <class T>
constexpr int kLanes = kVecBytes / static_cast<int>(sizeof(T));

// Same-width integer, for comparison masks and lane indices.
template <class T>
using int_of = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
// Same-width unsigned integer, for a value's bits (float16, float32, float64).
template <class T>
using uint_of = std::conditional_t<sizeof(T) == 2, std::uint16_t,
                                   std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>;

// x's bits as a To of the same size (what std::bit_cast does in C++20; the memcpy compiles to a
// register move or nothing).
template <class To, class From>
KCORE_INLINE To bit_cast(const From& x) {
  static_assert(sizeof(To) == sizeof(From), "size mismatch");
  To y;
  std::memcpy(&y, &x, sizeof y);
  return y;
}

template <class T>
inline vec<T> load(const T* p) {
  vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Takes v by value: callers store register accumulators without taking their address (which
// would make GCC keep the whole accumulator array in memory).
template <class T>
inline void store(T* p, vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}

// A broadcast, as one instruction. (Not `vec<T>{} + x`: without fast-math that is a real addition
// that also turns -0.0 into +0.0; and GCC turns a lane-by-lane fill into masked inserts.)
template <class T>
inline vec<T> splat(T x) {
  vec<T> v;
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    if constexpr (std::is_same_v<T, float>) { const __m512 r = _mm512_set1_ps(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (std::is_same_v<T, double>) { const __m512d r = _mm512_set1_pd(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 4) { const __m512i r = _mm512_set1_epi32(static_cast<int>(x)); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 8) { const __m512i r = _mm512_set1_epi64(static_cast<long long>(x)); std::memcpy(&v, &r, sizeof v); return v; }
  }
#endif
#if defined(__AVX__)
  if constexpr (kVecBytes == 32) {
    if constexpr (std::is_same_v<T, float>) { const __m256 r = _mm256_set1_ps(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (std::is_same_v<T, double>) { const __m256d r = _mm256_set1_pd(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 4) { const __m256i r = _mm256_set1_epi32(static_cast<int>(x)); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 8) { const __m256i r = _mm256_set1_epi64x(static_cast<long long>(x)); std::memcpy(&v, &r, sizeof v); return v; }
  }
#endif
#if defined(__SSE2__)
  if constexpr (kVecBytes == 16) {
    if constexpr (std::is_same_v<T, float>) { const __m128 r = _mm_set1_ps(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (std::is_same_v<T, double>) { const __m128d r = _mm_set1_pd(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 4) { const __m128i r = _mm_set1_epi32(static_cast<int>(x)); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 8) { const __m128i r = _mm_set1_epi64x(static_cast<long long>(x)); std::memcpy(&v, &r, sizeof v); return v; }
  }
#endif
  for (int l = 0; l < kLanes<T>; ++l) v[l] = x;
  return v;
}

// Loads kLanes<A> elements of W and widens them to A (float -> double).
template <class A, class W>
inline vec<A> load_as(const W* p) {
  if constexpr (std::is_same_v<A, W>) {
    return load(p);
#if defined(__AVX512F__)
  } else if constexpr (std::is_same_v<A, double> && std::is_same_v<W, float> && kVecBytes == 64) {
    // GCC splits the generic conversion into two halves; one vcvtps2pd does it.
    return bit_cast<vec<A>>(_mm512_cvtps_pd(_mm256_loadu_ps(p)));
#endif
#if defined(__AVX__)
  } else if constexpr (std::is_same_v<A, double> && std::is_same_v<W, float> && kVecBytes == 32) {
    return bit_cast<vec<A>>(_mm256_cvtps_pd(_mm_loadu_ps(p)));
#endif
  } else {
    typedef W narrow __attribute__((vector_size(kLanes<A> * sizeof(W))));
    narrow x;
    std::memcpy(&x, p, sizeof x);
    return __builtin_convertvector(x, vec<A>);
  }
}

// Lanes [h * L/2, (h + 1) * L/2) of a float vector (h = 0 or 1) as one vector of doubles: an
// extract and one conversion (GCC's generic conversion of the half splits in two on AVX-512).
KCORE_INLINE vec<double> widen_vector_half(vec<float> v, int h) {
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    const __m512 x = bit_cast<__m512>(v);
    return bit_cast<vec<double>>(_mm512_cvtps_pd(h == 0 ? _mm512_castps512_ps256(x) : _mm512_extractf32x8_ps(x, 1)));
  }
#endif
#if defined(__AVX__)
  if constexpr (kVecBytes == 32) {
    const __m256 x = bit_cast<__m256>(v);
    return bit_cast<vec<double>>(_mm256_cvtps_pd(h == 0 ? _mm256_castps256_ps128(x) : _mm256_extractf128_ps(x, 1)));
  }
#endif
  typedef float half_vec __attribute__((vector_size(kVecBytes / 2)));
  half_vec x;
  std::memcpy(&x, reinterpret_cast<const char*>(&v) + h * (kVecBytes / 2), sizeof x);
  return __builtin_convertvector(x, vec<double>);
}

// t[i mod N] for each lane's index i (N a power of two): one or two two-register permutes where N
// fits (vpermt2ps on AVX-512, vpermps on AVX2), a load per lane otherwise; the same values by any.
template <int N, class T>
inline vec<T> lookup(const T* t, vec<int_of<T>> i) {
  static_assert(N > 0 && (N & (N - 1)) == 0, "the index is taken modulo N");
  constexpr int L = kLanes<T>;
  if constexpr (N <= 2 * L) {  // __builtin_shuffle takes the index modulo 2L
    return __builtin_shuffle(load(t), N > L ? load(t + L) : load(t), i);
  } else if constexpr (N <= 4 * L && kVecBytes >= 32) {
    const vec<T> lo = __builtin_shuffle(load(t), load(t + L), i);
    const vec<T> hi = __builtin_shuffle(load(t + 2 * L), N > 3 * L ? load(t + 3 * L) : load(t + 2 * L), i);
    return (i & (2 * L)) == 0 ? lo : hi;
  } else {
    vec<T> r;
    for (int l = 0; l < L; ++l) r[l] = t[i[l] & (N - 1)];
    return r;
  }
}

// True if any lane of a comparison mask is set (a single test instruction where there is one).
template <class Mask>
inline bool any_lane(Mask m) {
  static_assert(sizeof(Mask) == kVecBytes, "expects one native vector");
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    __m512i v;
    std::memcpy(&v, &m, sizeof v);
    return _mm512_test_epi64_mask(v, v) != 0;
  }
#endif
#if defined(__AVX__)
  if constexpr (kVecBytes == 32) {
    __m256i v;
    std::memcpy(&v, &m, sizeof v);
    return !_mm256_testz_si256(v, v);
  }
#endif
#if defined(__SSE2__)
  if constexpr (kVecBytes == 16) {
    __m128i v;
    std::memcpy(&v, &m, sizeof v);
    return _mm_movemask_epi8(v) != 0;
  }
#endif
  std::uint64_t w[kVecBytes / 8];
  std::memcpy(w, &m, sizeof w);
  std::uint64_t r = 0;
  for (std::uint64_t v : w) r |= v;
  return r != 0;
}

// Whether a lane of v is inf or NaN (x - x is 0 exactly for the finite ones).
template <class V>
inline bool any_nonfinite(V v) {
  return any_lane(~(v - v == V{}));
}

// Index of the first set lane of a comparison mask whose lanes are sizeof(I) wide, or -1.
template <class I, class Mask>
inline int first_set_lane(Mask m) {
  static_assert(sizeof(Mask) == kVecBytes, "expects one native vector");
  unsigned bits = 0;
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    __m512i v;
    std::memcpy(&v, &m, sizeof v);
    bits = sizeof(I) == 4 ? static_cast<unsigned>(_mm512_movepi32_mask(v))
                          : static_cast<unsigned>(_mm512_movepi64_mask(v));
    return bits ? __builtin_ctz(bits) : -1;
  }
#endif
#if defined(__AVX__)
  if constexpr (kVecBytes == 32) {
    __m256i v;
    std::memcpy(&v, &m, sizeof v);
    bits = static_cast<unsigned>(sizeof(I) == 4 ? _mm256_movemask_ps(_mm256_castsi256_ps(v))
                                                : _mm256_movemask_pd(_mm256_castsi256_pd(v)));
    return bits ? __builtin_ctz(bits) : -1;
  }
#endif
#if defined(__SSE2__)
  if constexpr (kVecBytes == 16) {
    __m128i v;
    std::memcpy(&v, &m, sizeof v);
    bits = static_cast<unsigned>(sizeof(I) == 4 ? _mm_movemask_ps(_mm_castsi128_ps(v))
                                                : _mm_movemask_pd(_mm_castsi128_pd(v)));
    return bits ? __builtin_ctz(bits) : -1;
  }
#endif
  I lanes[kVecBytes / sizeof(I)];
  std::memcpy(lanes, &m, sizeof lanes);
  for (int l = 0; l < static_cast<int>(kVecBytes / sizeof(I)); ++l)
    if (lanes[l]) return l;
  return -1;
}

// The first n (< kLanes) elements of p, the other lanes zero; and the matching partial store.
// True when the level has masked loads/stores for T (otherwise callers copy through a buffer).
template <class T>
constexpr bool kHasMaskedIo =
#if defined(__AVX512F__)
    kVecBytes == 64 && (std::is_same_v<T, float> || std::is_same_v<T, double>);
#elif defined(__AVX2__)
    kVecBytes == 32 && (std::is_same_v<T, float> || std::is_same_v<T, double>);
#else
    false;
#endif

template <class T>
inline vec<T> load_partial(const T* p, int n) {
  vec<T> v;
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64 && std::is_same_v<T, float>) {
    const __m512 r = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
    std::memcpy(&v, &r, sizeof v);
    return v;
  } else if constexpr (kVecBytes == 64 && std::is_same_v<T, double>) {
    const __m512d r = _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1), p);
    std::memcpy(&v, &r, sizeof v);
    return v;
  }
#elif defined(__AVX2__)
  if constexpr (kVecBytes == 32 && (std::is_same_v<T, float> || std::is_same_v<T, double>)) {
    // The mask from a compare (hoisted out of loops with a fixed n): lanes stored to memory and
    // read back as a vector stalled every load on store forwarding.
    if constexpr (std::is_same_v<T, float>) {
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      const __m256 r = _mm256_maskload_ps(p, mask);
      std::memcpy(&v, &r, sizeof v);
    } else {
      const __m256i mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
      const __m256d r = _mm256_maskload_pd(p, mask);
      std::memcpy(&v, &r, sizeof v);
    }
    return v;
  }
#endif
  T tmp[kLanes<T>] = {};
  std::memcpy(tmp, p, static_cast<std::size_t>(n) * sizeof(T));
  std::memcpy(&v, tmp, sizeof v);
  return v;
}

template <class T>
inline void store_partial(T* p, vec<T> v, int n) {
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64 && std::is_same_v<T, float>) {
    __m512 r;
    std::memcpy(&r, &v, sizeof r);
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), r);
    return;
  } else if constexpr (kVecBytes == 64 && std::is_same_v<T, double>) {
    __m512d r;
    std::memcpy(&r, &v, sizeof r);
    _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1), r);
    return;
  }
#endif
  T tmp[kLanes<T>];
  std::memcpy(tmp, &v, sizeof tmp);
  std::memcpy(p, tmp, static_cast<std::size_t>(n) * sizeof(T));
}

// Index of the first q[j] == value in [begin, end), or -1. Compare masks stay in mask registers
// (the generic vector form round-trips them through a vector register).
template <class W>
inline std::int64_t find_first_equal(const W* q, std::int64_t begin, std::int64_t end, W value) {
  std::int64_t j = begin;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<W, float>) {
    const __m512 t = _mm512_set1_ps(value);
    for (; j + 16 <= end; j += 16) {
      const unsigned m = _mm512_cmp_ps_mask(_mm512_loadu_ps(q + j), t, _CMP_EQ_OQ);
      if (m) return j + __builtin_ctz(m);
    }
  } else if constexpr (std::is_same_v<W, double>) {
    const __m512d t = _mm512_set1_pd(value);
    for (; j + 8 <= end; j += 8) {
      const unsigned m = _mm512_cmp_pd_mask(_mm512_loadu_pd(q + j), t, _CMP_EQ_OQ);
      if (m) return j + __builtin_ctz(m);
    }
  }
#elif defined(__AVX__)
  if constexpr (std::is_same_v<W, float>) {
    const __m256 t = _mm256_set1_ps(value);
    for (; j + 8 <= end; j += 8) {
      const int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(q + j), t, _CMP_EQ_OQ));
      if (m) return j + __builtin_ctz(static_cast<unsigned>(m));
    }
  } else if constexpr (std::is_same_v<W, double>) {
    const __m256d t = _mm256_set1_pd(value);
    for (; j + 4 <= end; j += 4) {
      const int m = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(q + j), t, _CMP_EQ_OQ));
      if (m) return j + __builtin_ctz(static_cast<unsigned>(m));
    }
  }
#endif
  for (; j < end; ++j)
    if (q[j] == value) return j;
  return -1;
}

// a * b + c for the products' inner loops: fused (one rounding) where the level has FMA, else
// a multiply and an add. (exact_product.hpp relies on the fused form and only uses it with FMA.)
template <class A>
KCORE_INLINE vec<A> fmadd(vec<A> a, vec<A> b, vec<A> c) {
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    if constexpr (std::is_same_v<A, float>) {
      __m512 r = _mm512_fmadd_ps(reinterpret_cast<__m512&>(a), reinterpret_cast<__m512&>(b), reinterpret_cast<__m512&>(c));
      return reinterpret_cast<vec<A>&>(r);
    } else {
      __m512d r = _mm512_fmadd_pd(reinterpret_cast<__m512d&>(a), reinterpret_cast<__m512d&>(b), reinterpret_cast<__m512d&>(c));
      return reinterpret_cast<vec<A>&>(r);
    }
  }
#endif
#if defined(__FMA__)
  if constexpr (kVecBytes == 32) {
    if constexpr (std::is_same_v<A, float>) {
      __m256 r = _mm256_fmadd_ps(reinterpret_cast<__m256&>(a), reinterpret_cast<__m256&>(b), reinterpret_cast<__m256&>(c));
      return reinterpret_cast<vec<A>&>(r);
    } else {
      __m256d r = _mm256_fmadd_pd(reinterpret_cast<__m256d&>(a), reinterpret_cast<__m256d&>(b), reinterpret_cast<__m256d&>(c));
      return reinterpret_cast<vec<A>&>(r);
    }
  }
#endif
  return a * b + c;
}

// a * b + c rounded once on every level (vmath's fixed sequences): fmadd where the level has the
// instruction, else the C library's exact fma (x86 CPUs without FMA predate AVX2).
template <class A>
KCORE_INLINE vec<A> fmadd_exact(vec<A> a, vec<A> b, vec<A> c) {
#if defined(__FMA__)
  if constexpr (kVecBytes >= 32) return fmadd<A>(a, b, c);
#endif
  vec<A> r;
  for (int l = 0; l < kLanes<A>; ++l) r[l] = std::fma(a[l], b[l], c[l]);
  return r;
}

}  // namespace KCORE_ISA
}  // namespace kcore
