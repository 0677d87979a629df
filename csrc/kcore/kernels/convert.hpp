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

namespace kcore {
namespace KCORE_ISA {

template <class To, class From>
inline To bit_cast(From x) {
  static_assert(sizeof(To) == sizeof(From), "size mismatch");
  To y;
  std::memcpy(&y, &x, sizeof y);
  return y;
}

inline float half_to_float(half h) {
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

inline half float_to_half(float f) {
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

inline half double_to_half(double d) {
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
inline double half_to_double(half h) {
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

// The arithmetic type of an element type: float16 computes in float32.
template <class T> struct widen_of { using type = T; };
template <> struct widen_of<half> { using type = float; };
template <class T> using widen_t = typename widen_of<T>::type;

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

}  // namespace KCORE_ISA
}  // namespace kcore
