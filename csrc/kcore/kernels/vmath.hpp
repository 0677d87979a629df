// Vector exp, expm1, log and log1p for float and double, written only with the vector
// extensions' +, -, *, /, compares, selects, integer bit operations and explicit fused
// multiply-adds (simd.hpp's fmadd_exact, one rounding on every level; the build forbids FMA
// contraction): each lane computes a fixed sequence of correctly rounded IEEE operations, so
// every ISA level, vector width and tail gives the same bits. Designs after fdlibm: Cody-Waite
// reduction by ln 2 with a two-part constant, Taylor polynomials long enough that the truncation
// stays far below half an ulp on the reduced interval, and log through s = f / (2 + f).
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kcore/kernels/simd.hpp"
#include "kcore/kernels/tanh_table.hpp"

namespace kcore {
namespace KCORE_ISA {
namespace vmath {

template <class A>
struct Consts;
template <>
struct Consts<float> {
  static constexpr int kMant = 23, kBias = 127;
  static constexpr float kLn2Hi = 0.693359375f;  // 9 significant bits: n * kLn2Hi is exact
  static constexpr float kLn2Lo = -2.12194440e-4f;
  static constexpr float kExpLo = -104.0f, kExpHi = 89.0f;  // beyond: 0 and inf, by the scaling
  static constexpr float kExpFast = 87.0f;                   // 2^n normal: |n| <= 126
  static constexpr float kExpm1Big = 20.0f;                 // expm1 rounds to exp beyond this
  static constexpr int kExpm1Terms = 7;                      // r^k / k!, k = 2..7
  static constexpr int kLogTerms = 4;                        // 2 / (2k + 1), k = 1..4
};
template <>
struct Consts<double> {
  static constexpr int kMant = 52, kBias = 1023;
  static constexpr double kLn2Hi = 6.93147180369123816490e-01;  // low 32 bits zero
  static constexpr double kLn2Lo = 1.90821492927058770002e-10;
  static constexpr double kExpLo = -746.0, kExpHi = 710.0;
  static constexpr double kExpFast = 708.0;  // |n| <= 1022
  static constexpr double kExpm1Big = 40.0;
  static constexpr int kExpm1Terms = 13;
  static constexpr int kLogTerms = 10;
  static constexpr double kTanhOne = 20.0;
  static constexpr double kTanhSeries = 0.55;
  static constexpr int kTanhTerms = 19;
};

template <class A>
using ivec = vec<int_of<A>>;

template <class To, class From>
inline To bits_as(From v) {
  static_assert(sizeof(To) == sizeof(From));
  To r;
  std::memcpy(&r, &v, sizeof r);
  return r;
}

template <class A>
inline vec<A> copysign(vec<A> magnitude, vec<A> sign) {
  using I = int_of<A>;
  const I kSign = std::numeric_limits<I>::min();
  return bits_as<vec<A>>((bits_as<ivec<A>>(magnitude) & ~splat<I>(kSign)) | (bits_as<ivec<A>>(sign) & splat<I>(kSign)));
}

template <class A>
inline vec<A> abs(vec<A> x) {
  using I = int_of<A>;
  return bits_as<vec<A>>(bits_as<ivec<A>>(x) & ~splat<I>(std::numeric_limits<I>::min()));
}

// 2^n for integer n in the normal exponent range, built from its bits.
template <class A>
inline vec<A> pow2(ivec<A> n) {
  using C = Consts<A>;
  return bits_as<vec<A>>((n + C::kBias) << C::kMant);
}

// v * 2^n in two exact steps, so n from about -2 * bias to 2 * bias reaches the subnormals (one
// rounding, in the second step) and infinity.
template <class A>
inline vec<A> scale(vec<A> v, ivec<A> n) {
  const ivec<A> h = n >> 1;
  return v * pow2<A>(h) * pow2<A>(n - h);
}

// x = n ln2 + r with |r| <= ln2 / 2 (a little more from rounding), n an integer; returns r and
// sets n. x must lie well inside +-2^22 ln2 (callers clamp it).
template <class A>
inline vec<A> reduce_ln2(vec<A> x, ivec<A>& n) {
  using C = Consts<A>;
  using I = int_of<A>;
  constexpr A kLog2e = static_cast<A>(1.44269504088896340736);
  constexpr A kMagic = static_cast<A>(1.5) * static_cast<A>(I{1} << C::kMant);  // rounds to an integer
  const vec<A> t = fmadd_exact<A>(x, splat<A>(kLog2e), splat<A>(kMagic));
  const vec<A> nf = t - splat<A>(kMagic);
  n = bits_as<ivec<A>>(t) - splat<I>(bits_as<I>(kMagic));  // the integer sits in t's low bits
  return fmadd_exact<A>(-nf, splat<A>(C::kLn2Lo), fmadd_exact<A>(-nf, splat<A>(C::kLn2Hi), x));
}

// The polynomials' coefficients, each rounded once, as compile-time tables (a loop computing
// them in place is not reliably folded).
template <class A, int N>
constexpr std::array<A, N + 1> inv_factorials() {  // 1 / k!
  std::array<A, N + 1> c{};
  long double f = 1;
  for (int k = 0; k <= N; ++k) {
    if (k > 1) f *= k;
    c[k] = static_cast<A>(1.0L / f);
  }
  return c;
}
template <class A, int N>
constexpr std::array<A, N + 1> tanh_series() {  // tanh(x) = sum a_k x^(2k+1): (2k+1) a_k = -sum a_i a_(k-1-i)
  long double a[N + 1] = {1.0L};
  std::array<A, N + 1> c{};
  c[0] = 1;
  for (int k = 1; k <= N; ++k) {
    long double s = 0;
    for (int i = 0; i < k; ++i) s += a[i] * a[k - 1 - i];
    a[k] = -s / (2 * k + 1);
    c[k] = static_cast<A>(a[k]);
  }
  return c;
}
template <class A, int N>
constexpr std::array<A, N + 1> two_over_odd() {  // 2 / (2k + 1)
  std::array<A, N + 1> c{};
  for (int k = 0; k <= N; ++k) c[k] = static_cast<A>(2.0L / (2 * k + 1));
  return c;
}

// expm1 on the reduced interval: r + r^2 (1/2! + r (1/3! + ...)).
template <class A>
inline vec<A> expm1_reduced(vec<A> r) {
  constexpr int N = Consts<A>::kExpm1Terms;
  static constexpr std::array<A, N + 1> c = inv_factorials<A, N>();
  vec<A> q = splat<A>(c[N]);
#pragma GCC unroll 16
  for (int k = N - 1; k >= 2; --k) q = fmadd_exact<A>(q, r, splat<A>(c[k]));
  return fmadd_exact<A>(r * r, q, r);
}

// x limited to [lo, hi]; NaN passes (both comparisons are false).
template <class A>
inline vec<A> clamp(vec<A> x, A lo, A hi) {
  x = x < splat<A>(lo) ? splat<A>(lo) : x;
  return x > splat<A>(hi) ? splat<A>(hi) : x;
}

// Vectors with every |x| <= kExpFast (the usual input) need no clamp, and their 2^n is a normal
// number: one multiply scales (one rounding, as scale's second step: the same bits).
template <class A>
inline vec<A> exp(vec<A> x) {
  using C = Consts<A>;
  ivec<A> n;
  if (!any_lane(~(abs<A>(x) <= splat<A>(C::kExpFast)))) {
    const vec<A> p = expm1_reduced<A>(reduce_ln2<A>(x, n));
    return (splat<A>(1) + p) * pow2<A>(n);
  }
  const vec<A> p = expm1_reduced<A>(reduce_ln2<A>(clamp<A>(x, C::kExpLo, C::kExpHi), n));
  return scale<A>(splat<A>(1) + p, n);
}

// exp(x) - 1 without cancellation: 2^n p + (2^n - 1), both parts exact while n is small; past
// kExpm1Big the result is exp(x) itself.
template <class A>
inline vec<A> expm1(vec<A> x) {
  using C = Consts<A>;
  ivec<A> n;
  const vec<A> p = expm1_reduced<A>(reduce_ln2<A>(clamp<A>(x, C::kExpLo, C::kExpHi), n));
  const vec<A> two_n = scale<A>(splat<A>(1), n);
  const vec<A> small = two_n * p + (two_n - splat<A>(1));
  const vec<A> r = x > splat<A>(C::kExpm1Big) ? scale<A>(splat<A>(1) + p, n) : small;
  return x == splat<A>(0) ? x : r;  // expm1(-0) = -0
}

// log of a positive normal number given by its bits b, less e_lift in the exponent:
// x = 2^e m with m in (sqrt(1/2), sqrt(2)] split off by integer arithmetic (b less the bits of the
// smallest such m carries into the exponent field exactly when m would pass sqrt(2)), f = m - 1
// (exact), then log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))) with s = f / (2 + f).
template <class A>
inline vec<A> log_normal(ivec<A> b, ivec<A> e_lift) {
  using C = Consts<A>;
  using I = int_of<A>;
  using U = std::make_unsigned_t<I>;
  constexpr U kLowest = __builtin_bit_cast(U, static_cast<A>(1.41421356237309504880)) - (U{1} << C::kMant) + 1;
  const ivec<A> t = bits_as<ivec<A>>(bits_as<vec<U>>(b) - splat<U>(kLowest));  // (wraps, unsigned)
  const ivec<A> e = (t >> C::kMant) - e_lift;
  const vec<A> m = bits_as<vec<A>>(bits_as<vec<U>>(b) - (bits_as<vec<U>>(t) & splat<U>(~((U{1} << C::kMant) - 1))));
  const vec<A> f = m - splat<A>(1);
  const vec<A> s = f / (splat<A>(2) + f);
  const vec<A> z = s * s;
  constexpr int N = C::kLogTerms;
  static constexpr std::array<A, N + 1> c = two_over_odd<A, N>();
  vec<A> r = splat<A>(c[N]);
#pragma GCC unroll 16
  for (int k = N - 1; k >= 1; --k) r = fmadd_exact<A>(r, z, splat<A>(c[k]));
  r = r * z;
  const vec<A> hfsq = splat<A>(static_cast<A>(0.5)) * f * f;
  const vec<A> ef = __builtin_convertvector(e, vec<A>);
  return fmadd_exact<A>(ef, splat<A>(C::kLn2Hi), f - (hfsq - fmadd_exact<A>(s, hfsq + r, ef * splat<A>(C::kLn2Lo))));
}

// log: vectors of positive normal numbers (the usual input) take log_normal alone; others lift
// subnormals into the normals first and set the special values after (the same bits for the
// normal lanes either way).
template <class A>
inline vec<A> log(vec<A> x) {
  using C = Consts<A>;
  using I = int_of<A>;
  using U = std::make_unsigned_t<I>;
  constexpr A kInf = std::numeric_limits<A>::infinity();
  constexpr A kMinNormal = std::numeric_limits<A>::min();
  const ivec<A> b = bits_as<ivec<A>>(x);
  // Positive normal: bits - min normal's bits below inf's - min normal's, as unsigned.
  constexpr U kMinBits = __builtin_bit_cast(U, kMinNormal), kInfBits = __builtin_bit_cast(U, kInf);
  const auto odd = bits_as<vec<U>>(b) - splat<U>(kMinBits) >= splat<U>(kInfBits - kMinBits);
  if (!any_lane(odd)) return log_normal<A>(b, splat<I>(0));
  constexpr A kSub = static_cast<A>(I{1} << (C::kMant + 1));  // lifts subnormals into the normals
  const auto tiny = x < splat<A>(kMinNormal);
  const vec<A> xn = tiny ? x * splat<A>(kSub) : x;
  vec<A> y = log_normal<A>(bits_as<ivec<A>>(xn), tiny ? splat<I>(C::kMant + 1) : splat<I>(0));
  y = x < splat<A>(0) ? splat<A>(std::numeric_limits<A>::quiet_NaN()) : y;
  y = x == splat<A>(0) ? splat<A>(-kInf) : y;
  y = x == splat<A>(kInf) ? splat<A>(kInf) : y;
  return x != x ? x : y;
}

// log(1 + u) for u >= 0: log of w = 1 + u (rounded) plus the part of u the rounding dropped.
template <class A>
inline vec<A> log1p_nonneg(vec<A> u) {
  const vec<A> w = splat<A>(1) + u;
  const vec<A> c = (u - (w - splat<A>(1))) / w;
  return log<A>(w) + c;
}

#if defined(__AVX2__) && !defined(__AVX512F__)
// float tanh's coefficients by interval, one 32-byte row each: C5, C4, C3, C2, C1, C0, C0Lo, 0.
alignas(32) inline constexpr std::array<float, 8 * tanh_table::kIntervals> kTanhRows = [] {
  namespace tt = tanh_table;
  std::array<float, 8 * tt::kIntervals> r{};
  for (int i = 0; i < tt::kIntervals; ++i) {
    const float c[8] = {tt::kTanhC5[i], tt::kTanhC4[i], tt::kTanhC3[i], tt::kTanhC2[i],
                        tt::kTanhC1[i], tt::kTanhC0[i], tt::kTanhC0Lo[i], 0.0f};
    for (int k = 0; k < 8; ++k) r[static_cast<std::size_t>(8 * i + k)] = c[k];
  }
  return r;
}();
#endif

// float tanh's coefficients of interval i (taken modulo 32) in each lane: C5, C4, C3, C2, C1,
// C0, C0Lo. AVX-512: vpermt2ps from each table. AVX2: vpermps takes 8 entries (4 permutes and 3
// blends a coefficient, and slow on Zen 3), so each lane's row is loaded and the 8 rows
// transposed. The same values either way, so the same bits.
inline void tanh_coefficients(ivec<float> i, vec<float> (&c)[7]) {
  namespace tt = tanh_table;
  constexpr int N = tt::kIntervals;
  static_assert(N == 32, "the index mask below");
#if defined(__AVX2__) && !defined(__AVX512F__)
  __m256i iv;
  const ivec<float> at = (i & splat<std::int32_t>(N - 1)) * 8;
  std::memcpy(&iv, &at, sizeof iv);
  const __m128i lo = _mm256_castsi256_si128(iv), hi = _mm256_extracti128_si256(iv, 1);
  const float* t = kTanhRows.data();
  // (extracts, not a store and 8 loads: those stalled on store forwarding)
  const __m256 r0 = _mm256_load_ps(t + _mm_cvtsi128_si32(lo)), r1 = _mm256_load_ps(t + _mm_extract_epi32(lo, 1));
  const __m256 r2 = _mm256_load_ps(t + _mm_extract_epi32(lo, 2)), r3 = _mm256_load_ps(t + _mm_extract_epi32(lo, 3));
  const __m256 r4 = _mm256_load_ps(t + _mm_cvtsi128_si32(hi)), r5 = _mm256_load_ps(t + _mm_extract_epi32(hi, 1));
  const __m256 r6 = _mm256_load_ps(t + _mm_extract_epi32(hi, 2)), r7 = _mm256_load_ps(t + _mm_extract_epi32(hi, 3));
  const __m256 a0 = _mm256_unpacklo_ps(r0, r1), a1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 a2 = _mm256_unpacklo_ps(r2, r3), a3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 a4 = _mm256_unpacklo_ps(r4, r5), a5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 a6 = _mm256_unpacklo_ps(r6, r7), a7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 b0 = _mm256_shuffle_ps(a0, a2, 0x44), b1 = _mm256_shuffle_ps(a0, a2, 0xee);
  const __m256 b2 = _mm256_shuffle_ps(a1, a3, 0x44), b3 = _mm256_shuffle_ps(a1, a3, 0xee);
  const __m256 b4 = _mm256_shuffle_ps(a4, a6, 0x44), b5 = _mm256_shuffle_ps(a4, a6, 0xee);
  const __m256 b6 = _mm256_shuffle_ps(a5, a7, 0x44), b7 = _mm256_shuffle_ps(a5, a7, 0xee);
  const __m256 col[7] = {_mm256_permute2f128_ps(b0, b4, 0x20), _mm256_permute2f128_ps(b1, b5, 0x20),
                         _mm256_permute2f128_ps(b2, b6, 0x20), _mm256_permute2f128_ps(b3, b7, 0x20),
                         _mm256_permute2f128_ps(b0, b4, 0x31), _mm256_permute2f128_ps(b1, b5, 0x31),
                         _mm256_permute2f128_ps(b2, b6, 0x31)};
  std::memcpy(c, col, sizeof c);
#else
  c[0] = lookup<N>(tt::kTanhC5, i);
  c[1] = lookup<N>(tt::kTanhC4, i);
  c[2] = lookup<N>(tt::kTanhC3, i);
  c[3] = lookup<N>(tt::kTanhC2, i);
  c[4] = lookup<N>(tt::kTanhC1, i);
  c[5] = lookup<N>(tt::kTanhC0, i);
  c[6] = lookup<N>(tt::kTanhC0Lo, i);
#endif
}

// float tanh: a degree-5 polynomial per quarter binade of |x| (tanh_table.hpp, from
// tools/gen_tanh_table.py), its coefficients picked per lane (tanh_coefficients): no exp, no
// division.
inline vec<float> tanh_float(vec<float> x) {
  namespace tt = tanh_table;
  using I = std::int32_t;
  vec<float> a = abs<float>(x);
  a = a > splat<float>(tt::kOne) ? splat<float>(tt::kOne) : a;  // NaN stays NaN
  const ivec<float> bits = bits_as<ivec<float>>(a);
  const auto first = a < splat<float>(tt::kFirstEnd);
  // The interval (NaN's is out of range: the lookup wraps it, and NaN - start stays NaN) and its
  // start, |x| with the bits below the interval index cleared.
  const ivec<float> i = first ? splat<I>(0) : (bits >> tt::kShift) - splat<I>(tt::kBase);
  const ivec<float> start = first ? splat<I>(0) : bits & splat<I>(-(I{1} << tt::kShift));
  const vec<float> d = a - bits_as<vec<float>>(start);  // exact
  static_assert(tt::kDegree == 5, "the Horner steps below");
  vec<float> c[7];
  tanh_coefficients(i, c);
  vec<float> p = c[0];
  p = fmadd_exact<float>(p, d, c[1]);
  p = fmadd_exact<float>(p, d, c[2]);
  p = fmadd_exact<float>(p, d, c[3]);
  p = fmadd_exact<float>(p, d, c[4]);
  const vec<float> y = c[5] + fmadd_exact<float>(d, p, c[6]);
  return copysign<float>(y, x);
}

// tanh: near 0 its odd Taylor series (terms to well below half an ulp), elsewhere
// tanh(|x|) = 1 - 2 / (exp(2|x|) + 1) (no cancellation there: the quotient is under 1/2) with the
// sign restored.
template <class A>
inline vec<A> tanh_series_exp(vec<A> x) {
  using C = Consts<A>;
  const vec<A> a = clamp<A>(abs<A>(x), 0, C::kTanhOne);
  const vec<A> far = splat<A>(1) - splat<A>(2) / (exp<A>(a + a) + splat<A>(1));
  static constexpr std::array<A, C::kTanhTerms + 1> c = tanh_series<A, C::kTanhTerms>();
  const vec<A> z = x * x;
  vec<A> q = splat<A>(c[C::kTanhTerms]);
#pragma GCC unroll 16
  for (int k = C::kTanhTerms - 1; k >= 1; --k) q = fmadd_exact<A>(q, z, splat<A>(c[k]));
  const vec<A> near = fmadd_exact<A>(x, z * q, x);
  return copysign<A>(a < splat<A>(C::kTanhSeries) ? near : far, x);
}

template <class A>
inline vec<A> tanh(vec<A> x) {
  if constexpr (std::is_same_v<A, float>) {
    return tanh_float(x);
  } else {
    return tanh_series_exp<A>(x);
  }
}

// 1 / (1 + e^-x) from e = exp(-|x|), which never overflows (tiny results keep their precision).
template <class A>
inline vec<A> sigmoid(vec<A> x) {
  const vec<A> e = exp<A>(-abs<A>(x));
  const vec<A> d = splat<A>(1) + e;
  return (x < splat<A>(0) ? e : splat<A>(1)) / d;  // one division per vector, not one per branch
}

// log(1 + e^x) = max(x, 0) + log1p(e^-|x|).
template <class A>
inline vec<A> softplus(vec<A> x) {
  const vec<A> pos = x > splat<A>(0) ? x : splat<A>(0);
  const vec<A> r = pos + log1p_nonneg<A>(exp<A>(-abs<A>(x)));
  return x != x ? x : r;
}

template <class A>
inline vec<A> softsign(vec<A> x) {
  return x / (splat<A>(1) + abs<A>(x));
}

template <class A>
inline vec<A> square(vec<A> x) {
  return x * x;
}

template <class A>
inline vec<A> negative(vec<A> x) {
  return -x;
}

// The IEEE square root (correctly rounded on every level) of x limited below by +0 (Keras's
// TensorFlow backend clips first); NaN stays NaN.
template <class A>
inline vec<A> sqrt(vec<A> x) {
  vec<A> v = x > splat<A>(0) ? x : (x != x ? x : splat<A>(0));
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    if constexpr (std::is_same_v<A, float>) return bits_as<vec<A>>(_mm512_sqrt_ps(bits_as<__m512>(v)));
    else return bits_as<vec<A>>(_mm512_sqrt_pd(bits_as<__m512d>(v)));
  }
#endif
#if defined(__AVX__)
  if constexpr (kVecBytes == 32) {
    if constexpr (std::is_same_v<A, float>) return bits_as<vec<A>>(_mm256_sqrt_ps(bits_as<__m256>(v)));
    else return bits_as<vec<A>>(_mm256_sqrt_pd(bits_as<__m256d>(v)));
  }
#endif
#if defined(__SSE2__)
  if constexpr (kVecBytes == 16) {
    if constexpr (std::is_same_v<A, float>) return bits_as<vec<A>>(_mm_sqrt_ps(bits_as<__m128>(v)));
    else return bits_as<vec<A>>(_mm_sqrt_pd(bits_as<__m128d>(v)));
  }
#endif
  for (int l = 0; l < kLanes<A>; ++l) v[l] = std::sqrt(v[l]);
  return v;
}

// -1, +0 or 1 by x's sign, as NumPy's sign (both zeros give +0); NaN stays NaN.
template <class A>
inline vec<A> sign(vec<A> x) {
  const vec<A> zero_or_nan = x == x ? splat<A>(0) : x;
  return x > splat<A>(0) ? splat<A>(1) : (x < splat<A>(0) ? splat<A>(-1) : zero_or_nan);
}

// Round half to even in the current (nearest) mode: below 2^(digits - 1), adding and taking away
// that power leaves |x| rounded to an integer; larger values, infinities and NaN are integers or
// stay as they are. The sign goes back on after, so -0.4 gives -0.0 (as NumPy's round).
template <class A>
inline vec<A> round(vec<A> x) {
  const vec<A> big = splat<A>(static_cast<A>(std::int64_t(1) << (std::numeric_limits<A>::digits - 1)));
  const vec<A> a = abs<A>(x);
  const vec<A> r = copysign<A>((a + big) - big, x);
  return a < big ? r : x;
}

// Keras 2.3.1 (TensorFlow): clip(0.2 x + 0.5, 0, 1), rounded after each step.
template <class A>
inline vec<A> hard_sigmoid(vec<A> x) {
  return clamp<A>(x * splat<A>(static_cast<A>(0.2)) + splat<A>(static_cast<A>(0.5)), 0, 1);
}

}  // namespace vmath
}  // namespace KCORE_ISA
}  // namespace kcore
