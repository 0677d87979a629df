// float16 <-> float32/float64 conversions. Software versions are exact, round to nearest even,
// and keep NaN payloads the way NumPy does; F16C / AVX-512 versions are used for bulk widening.
#pragma once
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__F16C__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kcore/dtype.hpp"
#include "kcore/kernels/isa.hpp"
#include "kcore/kernels/simd.hpp"
#include "kcore/kernels/stream.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {

KCORE_INLINE float half_to_float(half h) {
  // Move exponent and mantissa into float position, rebias, then fix up Inf/NaN and subnormals.
  std::uint32_t o = static_cast<std::uint32_t>(h.bits & 0x7fffu) << 13;
  const std::uint32_t exp = o & 0x0f800000u;
  o += (127u - 15u) << 23;
  if (exp == 0x0f800000u) {
    o += (128u - 16u) << 23;  // Inf/NaN keep their payload
  } else if (exp == 0) {
    o += 1u << 23;  // subnormal: renormalise through the FPU (exact)
    o = bit_cast<std::uint32_t>(bit_cast<float>(o) - bit_cast<float>(113u << 23));
  }
  o |= static_cast<std::uint32_t>(h.bits & 0x8000u) << 16;
  return bit_cast<float>(o);
}

namespace detail {
// NaN: keep the top payload bits; a payload that shifts out entirely still must read as NaN.
inline std::uint16_t nan_to_half(std::uint16_t sign, std::uint32_t top_payload) {
  std::uint16_t r = static_cast<std::uint16_t>(0x7c00u | (top_payload & 0x3ffu));
  if (r == 0x7c00u) r |= 1u;
  return static_cast<std::uint16_t>(sign | r);
}
}  // namespace detail

KCORE_INLINE half float_to_half(float f) {
  std::uint32_t x = bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return half{detail::nan_to_half(sign, x >> 13)};
  if (x >= 0x477ff000u) return half{static_cast<std::uint16_t>(sign | 0x7c00u)};  // >= 65520
  if (x < 0x38800000u) {
    // Below 2^-14: the half is subnormal (or zero). Adding 0.5f puts the half's last bit
    // (2^-24) at the float's last bit, so the FPU rounds to nearest even for us.
    const float r = bit_cast<float>(x) + 0.5f;
    return half{static_cast<std::uint16_t>(sign | (bit_cast<std::uint32_t>(r) - 0x3f000000u))};
  }
  const std::uint32_t odd = (x >> 13) & 1u;
  x -= static_cast<std::uint32_t>(127 - 15) << 23;  // rebias the exponent
  x += 0xfffu + odd;                                 // round to nearest even
  return half{static_cast<std::uint16_t>(sign | (x >> 13))};
}

KCORE_INLINE half double_to_half(double d) {
  std::uint64_t x = bit_cast<std::uint64_t>(d);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 48) & 0x8000u);
  x &= 0x7fffffffffffffffull;
  if (x > 0x7ff0000000000000ull) return half{detail::nan_to_half(sign, static_cast<std::uint32_t>(x >> 42))};
  if (x >= 0x40effe0000000000ull) return half{static_cast<std::uint16_t>(sign | 0x7c00u)};  // >= 65520
  if (x < 0x3f10000000000000ull) {
    // Below 2^-14: adding 2^28 puts the half's last bit (2^-24) at the double's last bit.
    const double r = bit_cast<double>(x) + 268435456.0;
    return half{static_cast<std::uint16_t>(sign | (bit_cast<std::uint64_t>(r) - 0x41b0000000000000ull))};
  }
  const std::uint64_t odd = (x >> 42) & 1u;
  x -= static_cast<std::uint64_t>(1023 - 15) << 52;  // rebias the exponent
  x += 0x1ffffffffffull + odd;                        // round to nearest even
  return half{static_cast<std::uint16_t>(sign | (x >> 42))};
}

// NumPy keeps a NaN's payload bits (and its signalling state) when it changes width; hardware
// converters quiet signalling NaNs. These are the exact bit-level versions.
KCORE_INLINE double half_to_double(half h) {
  if ((h.bits & 0x7c00u) == 0x7c00u) {  // Inf/NaN: move the payload, keep the sign
    const std::uint64_t sign = static_cast<std::uint64_t>(h.bits & 0x8000u) << 48;
    return bit_cast<double>(sign | 0x7ff0000000000000ull | (static_cast<std::uint64_t>(h.bits & 0x3ffu) << 42));
  }
  return static_cast<double>(half_to_float(h));
}

// The one dtype switch of the kernels: f(T{}) with T the C++ type of a float16/32/64 dtype;
// anything else is an error naming the op.
template <class F>
inline decltype(auto) visit_float(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::f16: return f(half{});
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: break;
  }
  throw std::invalid_argument(std::string(op) + ": unsupported dtype (float16, float32, float64 only)");
}

// visit_float, and also the integer types a cast reads (uint8, int8, int32, int64).
template <class F>
inline decltype(auto) visit_cast_source(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::u8: return f(std::uint8_t{});
    case DType::i8: return f(std::int8_t{});
    case DType::i32: return f(std::int32_t{});
    case DType::i64: return f(std::int64_t{});
    default: return visit_float(dt, op, std::forward<F>(f));
  }
}

// Narrowing from an accumulator with a single rounding.
template <class T, class A>
inline T narrow(A a) {
  if constexpr (std::is_same_v<T, half>) {
    if constexpr (std::is_same_v<A, double>) return double_to_half(a);
    else return float_to_half(static_cast<float>(a));
  } else {
    return static_cast<T>(a);
  }
}

// One vector of kLanes<A> elements of T widened to A in registers, and back, rounded once.
// The hardware conversions quiet a signalling NaN (NumPy's astype keeps it: casts use
// convert_run); for arithmetic on the values that makes no difference.
template <class A, class T>
inline vec<A> load_widened(const T* p) {
  if constexpr (std::is_same_v<T, A>) {
    return load(p);
  } else if constexpr (std::is_same_v<T, float>) {
    return load_as<A>(p);
  } else if constexpr (std::is_same_v<A, double>) {  // half -> float -> double, both exact
    vec<A> v;
#if defined(__AVX512F__)
    if constexpr (kVecBytes == 64) {
      const __m512d r = _mm512_cvtps_pd(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
      std::memcpy(&v, &r, sizeof v);
      return v;
    }
#endif
#if defined(__F16C__)
    if constexpr (kVecBytes == 32) {
      const __m256d r = _mm256_cvtps_pd(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
      std::memcpy(&v, &r, sizeof v);
      return v;
    }
#endif
    for (int l = 0; l < kLanes<A>; ++l) v[l] = static_cast<double>(half_to_float(p[l]));
    return v;
  } else {
    vec<A> v;
#if defined(__AVX512F__)
    if constexpr (kVecBytes == 64) {
      const __m512 r = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
      std::memcpy(&v, &r, sizeof v);
      return v;
    }
#endif
#if defined(__F16C__)
    if constexpr (kVecBytes == 32) {
      const __m256 r = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      std::memcpy(&v, &r, sizeof v);
      return v;
    }
#endif
    for (int l = 0; l < kLanes<A>; ++l) v[l] = half_to_float(p[l]);
    return v;
  }
}

// The first n (0 < n < kLanes<A>) elements of p widened as load_widened does, the other lanes
// `fill`; nothing past p + n is read. AVX-512: one masked load; elsewhere through a buffer.
template <class A, class T>
inline vec<A> load_widened_partial(const T* p, int n, A fill) {
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    vec<A> v;
    if constexpr (std::is_same_v<A, float>) {
      const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
      __m512 r;
      if constexpr (std::is_same_v<T, float>) r = _mm512_mask_loadu_ps(_mm512_set1_ps(fill), m, p);
      else r = _mm512_mask_blend_ps(m, _mm512_set1_ps(fill), _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)));
      std::memcpy(&v, &r, sizeof v);
      return v;
    } else if constexpr (std::is_same_v<A, double>) {
      const __mmask8 m = static_cast<__mmask8>((1u << n) - 1);
      __m512d r;
      if constexpr (std::is_same_v<T, double>) r = _mm512_mask_loadu_pd(_mm512_set1_pd(fill), m, p);
      else if constexpr (std::is_same_v<T, float>) r = _mm512_mask_blend_pd(m, _mm512_set1_pd(fill), _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, p)));
      else r = _mm512_mask_blend_pd(m, _mm512_set1_pd(fill), _mm512_cvtps_pd(_mm256_cvtph_ps(_mm_maskz_loadu_epi16(m, p))));
      std::memcpy(&v, &r, sizeof v);
      return v;
    }
  }
#endif
  T part[kLanes<A>] = {};
  std::memcpy(part, p, static_cast<std::size_t>(n) * sizeof(T));
  alignas(64) A lanes[kLanes<A>];
  store(lanes, load_widened<A>(part));
  for (int l = n; l < kLanes<A>; ++l) lanes[l] = fill;
  return load(lanes);
}

template <class T, class A>
inline void store_narrowed(T* p, vec<A> v) {
  if constexpr (std::is_same_v<T, A>) {
    store(p, v);
  } else if constexpr (std::is_same_v<T, float>) {
#if defined(__AVX512F__)
    if constexpr (kVecBytes == 64) {
      __m512d r;
      std::memcpy(&r, &v, sizeof r);
      _mm256_storeu_ps(p, _mm512_cvtpd_ps(r));
      return;
    }
#endif
    for (int l = 0; l < kLanes<A>; ++l) p[l] = static_cast<float>(v[l]);
  } else {
#if defined(__AVX512F__)
    if constexpr (kVecBytes == 64) {
      __m512 r;
      std::memcpy(&r, &v, sizeof r);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      return;
    }
#endif
#if defined(__F16C__)
    if constexpr (kVecBytes == 32) {
      __m256 r;
      std::memcpy(&r, &v, sizeof r);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      return;
    }
#endif
    for (int l = 0; l < kLanes<A>; ++l) p[l] = narrow<half>(v[l]);
  }
}

// Bulk widening used by every float16 kernel: float16 is read, arithmetic is float32 or wider.
inline void widen_half(const half* src, float* dst, std::int64_t n) {
  std::int64_t i = 0;
#if defined(__AVX512F__) || defined(__F16C__)
  if constexpr (kVecBytes >= 32)
    for (; i + kLanes<float> <= n; i += kLanes<float>) store(dst + i, load_widened<float>(src + i));
#endif
  for (; i < n; ++i) dst[i] = half_to_float(src[i]);
}

// One element, exactly as NumPy's astype converts it.
template <class D, class S>
inline D convert_one(S x) {
  if constexpr (std::is_same_v<S, D>) {
    return x;
  } else if constexpr (std::is_same_v<S, half>) {
    if constexpr (std::is_same_v<D, float>) return half_to_float(x);
    else return half_to_double(x);
  } else if constexpr (std::is_same_v<D, half>) {
    // An integer rounds once: below 2^24 it is exact in float, from 65520 on it is inf either way.
    if constexpr (std::is_same_v<S, double>) return double_to_half(x);
    else return float_to_half(static_cast<float>(x));
  } else {
    return static_cast<D>(x);
  }
}

namespace detail {
typedef std::uint16_t u16x16 __attribute__((vector_size(32)));

// True if any of 16 halves is a NaN (hardware quiets signalling NaNs; NumPy does not).
inline bool any_half_nan(const half* s) {
#if defined(__AVX2__)
  // Magnitudes are below 2^15, so the signed compare is exact (the generic unsigned one took
  // three instructions, and its mask went through memory).
  const __m256i h = _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s)), _mm256_set1_epi16(0x7fff));
  const __m256i nan = _mm256_cmpgt_epi16(h, _mm256_set1_epi16(0x7c00));
  return !_mm256_testz_si256(nan, nan);
#else
  u16x16 h;
  std::memcpy(&h, s, sizeof h);
  const u16x16 nan = (h & 0x7fffu) > 0x7c00u;
  std::uint64_t w[4];
  std::memcpy(w, &nan, sizeof w);
  return (w[0] | w[1] | w[2] | w[3]) != 0;
#endif
}
}  // namespace detail

namespace detail {
// kLanes<A> int32 lanes w as A: one vcvtdq2pd for doubles, where GCC's generic conversion
// splits into two half conversions and an insert.
template <class A, class V>
KCORE_INLINE vec<A> int32_lanes_as(V w) {
  static_assert(sizeof(V) == kLanes<A> * 4, "one int32 per lane of A");
  if constexpr (std::is_same_v<A, double>) {
#if defined(__AVX512F__)
    if constexpr (kVecBytes == 64) {
      return bit_cast<vec<A>>(_mm512_cvtepi32_pd(bit_cast<__m256i>(w)));
    }
#endif
#if defined(__AVX__)
    if constexpr (kVecBytes == 32) {
      return bit_cast<vec<A>>(_mm256_cvtepi32_pd(bit_cast<__m128i>(w)));
    }
#endif
  }
  return __builtin_convertvector(w, vec<A>);
}

// kLanes<A> integers from p as A. Bytes go through int32 by vpmovsxbd/vpmovzxbd (GCC's generic
// conversion of a byte vector goes lane by lane).
template <class A, class S>
inline vec<A> int_lanes_as(const S* p) {
  constexpr int L = kLanes<A>;
  if constexpr (sizeof(S) == 1) {
    typedef std::int32_t i32v __attribute__((vector_size(L * 4)));
    i32v w;
#if defined(__AVX512F__)
    if constexpr (L == 16) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const __m512i r = std::is_signed_v<S> ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
      std::memcpy(&w, &r, sizeof w);
      return int32_lanes_as<A>(w);
    }
#endif
#if defined(__AVX2__)
    if constexpr (L == 8) {
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
      const __m256i r = std::is_signed_v<S> ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
      std::memcpy(&w, &r, sizeof w);
      return int32_lanes_as<A>(w);
    }
    if constexpr (L == 4) {  // (float64 on AVX2)
      std::int32_t four;
      std::memcpy(&four, p, sizeof four);
      const __m128i b = _mm_cvtsi32_si128(four);
      const __m128i r = std::is_signed_v<S> ? _mm_cvtepi8_epi32(b) : _mm_cvtepu8_epi32(b);
      std::memcpy(&w, &r, sizeof w);
      return int32_lanes_as<A>(w);
    }
#endif
    std::int32_t lanes[L];
    for (int l = 0; l < L; ++l) lanes[l] = p[l];
    std::memcpy(&w, lanes, sizeof w);
    return int32_lanes_as<A>(w);
  } else {
    typedef S sv __attribute__((vector_size(L * sizeof(S))));
    sv x;
    std::memcpy(&x, p, sizeof x);
    if constexpr (std::is_same_v<S, std::int32_t>) return int32_lanes_as<A>(x);
    else return __builtin_convertvector(x, vec<A>);
  }
}
}  // namespace detail

// Contiguous run: s[0, n) -> d[0, n).
template <class S, class D>
inline void convert_run(const S* s, D* d, std::int64_t n) {
  std::int64_t i = 0;
  if constexpr (std::is_same_v<S, D>) {
    std::memcpy(d, s, static_cast<std::size_t>(n) * sizeof(S));
    return;
  } else if constexpr (std::is_integral_v<S>) {
    // Integers widen in registers (vpmovzxbd/vpmovsxbd, then vcvtdq2ps; vcvtqq2ps for int64):
    // the same values as the C conversion, float16 through float32 as convert_one.
    using A = std::conditional_t<std::is_same_v<D, double>, double, float>;
    for (; i + kLanes<A> <= n; i += kLanes<A>) store_narrowed<D, A>(d + i, detail::int_lanes_as<A>(s + i));
  } else if constexpr (std::is_same_v<S, half>) {
#if defined(__AVX512F__) || defined(__F16C__)
    for (; i + 16 <= n; i += 16) {
#if defined(__AVX512F__)
      // A NaN (quieted by the conversion, so found after it) sends the block to the software path.
      const __m512 f = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
      if (_mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q)) {
        for (int l = 0; l < 16; ++l) d[i + l] = convert_one<D>(s[i + l]);
        continue;
      }
      if constexpr (std::is_same_v<D, float>) {
        _mm512_storeu_ps(d + i, f);
      } else {
        _mm512_storeu_pd(d + i, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
        _mm512_storeu_pd(d + i + 8, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
      }
#else
      if (detail::any_half_nan(s + i)) {
        for (int l = 0; l < 16; ++l) d[i + l] = convert_one<D>(s[i + l]);
        continue;
      }
      for (int h = 0; h < 16; h += 8) {
        const __m256 f = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + h)));
        if constexpr (std::is_same_v<D, float>) {
          _mm256_storeu_ps(d + i + h, f);
        } else {
          _mm256_storeu_pd(d + i + h, _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
          _mm256_storeu_pd(d + i + h + 4, _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
        }
      }
#endif
    }
#endif
  } else if constexpr (std::is_same_v<D, half>) {
    // float32 -> float16 rounds to nearest even in hardware. float64 -> float16 goes through
    // float32 rounded to odd (truncate, then set the last bit if inexact): with 13 spare bits the
    // second rounding is then exact, so there is no double rounding (on AVX2 only for the blocks
    // where rounding to nearest could round twice). Blocks holding a NaN take the software path,
    // which keeps NaN payloads as NumPy does (hardware quiets them).
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
      __m512 f;
      if constexpr (std::is_same_v<S, float>) {
        f = _mm512_loadu_ps(s + i);
        if (_mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q)) {
          for (int l = 0; l < 16; ++l) d[i + l] = convert_one<half>(s[i + l]);
          continue;
        }
      } else {
        const __m512d lo = _mm512_loadu_pd(s + i), hi = _mm512_loadu_pd(s + i + 8);
        if (_mm512_cmp_pd_mask(lo, lo, _CMP_UNORD_Q) | _mm512_cmp_pd_mask(hi, hi, _CMP_UNORD_Q)) {
          for (int l = 0; l < 16; ++l) d[i + l] = convert_one<half>(s[i + l]);
          continue;
        }
        const auto to_odd = [](__m512d x) {
          const __m256 t = _mm512_cvt_roundpd_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
          // Inexact where a dropped significand bit (the low 29) is set: exact in float32's normal
          // range; below it, and past float32's largest value, float16 gives 0 or inf whatever t's
          // last bit. (Converting t back to compare cost two more conversions per 16 elements.)
          const __mmask8 inexact = _mm512_test_epi64_mask(_mm512_castpd_si512(x), _mm512_set1_epi64((1 << 29) - 1));
          return _mm256_mask_or_epi32(_mm256_castps_si256(t), inexact, _mm256_castps_si256(t), _mm256_set1_epi32(1));
        };
        f = _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castsi256_si512(to_odd(lo)), to_odd(hi), 1));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), _mm512_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
#elif defined(__F16C__) && defined(__AVX2__)
    for (; i + 8 <= n; i += 8) {
      __m256 f;
      if constexpr (std::is_same_v<S, float>) {
        f = _mm256_loadu_ps(s + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(f, f, _CMP_UNORD_Q))) {
          for (int l = 0; l < 8; ++l) d[i + l] = convert_one<half>(s[i + l]);
          continue;
        }
      } else {
        // Rounded to the nearest float32 first: float16 then rounds that once more, which gives the
        // nearest float16 of the double unless the float32 landed exactly on a midpoint between two
        // float16 values (all of which float32 holds). Blocks with such a lane or a NaN take the
        // exact path below. A midpoint of normal float16s has 0x1000 as its low 13 bits; one of
        // subnormals (an odd multiple of 2^-25) shows the same bits once 2^-14 is added, exactly.
        // Other lanes that match only cost a block on the exact path.
        f = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_loadu_pd(s + i + 4)), _mm256_cvtpd_ps(_mm256_loadu_pd(s + i)));
        const __m256i bits = _mm256_and_si256(_mm256_castps_si256(f), _mm256_set1_epi32(0x7fffffff));
        const __m256i shifted = _mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(bits), _mm256_set1_ps(0x1p-14f)));
        const __m256i low = _mm256_set1_epi32(0x1fff), mid = _mm256_set1_epi32(0x1000);
        const __m256i risky = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi32(_mm256_and_si256(bits, low), mid),
                            _mm256_cmpeq_epi32(_mm256_and_si256(shifted, low), mid)),
            _mm256_cmpgt_epi32(bits, _mm256_set1_epi32(0x7f800000)));
        if (!_mm256_testz_si256(risky, risky)) {
          // Rounded to odd in 32-bit integer lanes, on each double's high and low words side by side
          // (lanes in the order 0 1 4 5 2 3 6 7 until the last permute): the exponent rebiased and
          // clamped to [2^-100, 2^17] (float16 0 and inf either way), the low 29 bits folded into
          // bit 29 so that the shift keeps "inexact" as the last bit. Converting to float and back
          // to find the direction took twice the time on Zen 3.
          const __m256 lo = _mm256_loadu_ps(reinterpret_cast<const float*>(s + i));
          const __m256 hi = _mm256_loadu_ps(reinterpret_cast<const float*>(s + i + 4));
          const __m256i up = _mm256_castps_si256(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)));
          const __m256i down = _mm256_castps_si256(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)));
          const __m256i mag = _mm256_and_si256(up, _mm256_set1_epi32(0x7fffffff));
          // NaNs take the scalar path; infinities (found by the same first test) clamp to float16's.
          const __m256i special = _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(0x7fefffff));
          if (!_mm256_testz_si256(special, special)) {
            const __m256i low_bit = _mm256_min_epu32(down, _mm256_set1_epi32(1));
            const __m256i nan = _mm256_cmpgt_epi32(_mm256_or_si256(mag, low_bit), _mm256_set1_epi32(0x7ff00000));
            if (!_mm256_testz_si256(nan, nan)) {
              for (int l = 0; l < 8; ++l) d[i + l] = convert_one<half>(s[i + l]);
              continue;
            }
          }
          __m256i e = _mm256_sub_epi32(mag, _mm256_set1_epi32((1023 - 127) << 20));
          e = _mm256_min_epi32(_mm256_max_epi32(e, _mm256_set1_epi32(27 << 20)), _mm256_set1_epi32((127 + 17) << 20));
          const __m256i m = _mm256_set1_epi32((1 << 29) - 1);
          const __m256i last = _mm256_srli_epi32(_mm256_or_si256(down, _mm256_add_epi32(_mm256_and_si256(down, m), m)), 29);
          const __m256i t = _mm256_or_si256(_mm256_or_si256(_mm256_slli_epi32(e, 3), last), _mm256_andnot_si256(mag, up));
          f = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castsi256_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
        }
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
    }
#endif
  } else {
    // float32 <-> float64: the vector conversion is what the C cast (and NumPy) does. Widening
    // goes through load_as: GCC splits the generic one into two half conversions and an insert.
    constexpr int L = kLanes<double>;
    if constexpr (std::is_same_v<D, double>) {
      for (; i + L <= n; i += L) store(d + i, load_as<double>(s + i));
    } else {
      typedef S sv __attribute__((vector_size(L * sizeof(S))));
      typedef D dv __attribute__((vector_size(L * sizeof(D))));
      for (; i + L <= n; i += L) {
        sv x;
        std::memcpy(&x, s + i, sizeof x);
        const dv y = __builtin_convertvector(x, dv);
        std::memcpy(d + i, &y, sizeof y);
      }
    }
  }
  for (; i < n; ++i) d[i] = convert_one<D>(s[i]);
}

// convert_run for results much larger than the caches: converted in L1 a step at a time, a
// piece of results written behind with streaming stores while the next converts (WriteBehind),
// the source prefetched a few steps ahead (the hardware prefetchers alone keep too few lines in
// flight). Pieces after the first start on a line of d.
template <class S, class D>
inline void convert_streamed(const S* s, D* d, std::int64_t n) {
  constexpr std::int64_t kPiece = tuning::kStreamPieceBytes / sizeof(D);
  constexpr std::int64_t kStep = tuning::kStreamStepBytes / sizeof(D);  // converted between two writes
  constexpr std::int64_t kAhead = tuning::kStreamAheadSteps * kStep;
  alignas(64) D buf[2][kPiece];
  const std::int64_t misaligned = static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(d) % kLineBytes);
  std::int64_t len = misaligned % static_cast<std::int64_t>(sizeof(D)) == 0 ? kPiece - misaligned / static_cast<std::int64_t>(sizeof(D)) : kPiece;
  WriteBehind writer(true);
  int cur = 0;
  for (std::int64_t i = 0; i < n; i += len, len = kPiece, cur ^= 1) {
    len = std::min(len, n - i);
    const std::int64_t per_step = writer.pending() / ((len + kStep - 1) / kStep) + 1;
    for (std::int64_t j = 0; j < len; j += kStep) {
      const std::int64_t ahead = i + j + kAhead;
      if (ahead < n) prefetch_range(s + ahead, std::min(kStep, n - ahead) * static_cast<std::int64_t>(sizeof(S)));
      convert_run(s + i + j, buf[cur] + j, std::min(kStep, len - j));
      writer.write(per_step);
    }
    char* const dst = reinterpret_cast<char*>(d + i);
    writer.start(reinterpret_cast<const char*>(buf[cur]), 0, &dst, 1, len * static_cast<std::int64_t>(sizeof(D)));
  }
  writer.finish();
}

}  // namespace KCORE_ISA
}  // namespace kcore
