// Running products in double, exact down through the subnormal range without the hardware's
// slow path.
//
// A multiply with a subnormal operand or result takes a microcode assist, ~100x slower than the
// multiply itself. A running product of data like N(1, 1) is a random walk in the exponent that
// drifts down through double's subnormal range over hundreds of steps: a 4096x4096 cumprod of such
// data spent most of its time in assists (2-4x slower than cumsum; 4% of its steps are subnormal).
// Here a lane whose running value is below 2^-1008 is multiplied scaled up by 2^kShift, where
// nothing is subnormal, and the product is rounded to the subnormal grid by hand, the FMA residual
// deciding ties: the result is, bit for bit, the one the hardware returns. Levels without FMA
// keep the hardware product (exact too, just slower there).
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>

#include "kcore/kernels/simd.hpp"

namespace kcore {
namespace KCORE_ISA {

using vdouble = vec<double>;

namespace detail {
using vbits = vec<std::int64_t>;  // also the type of comparison masks

inline vbits lane_bits(vdouble v) {
  vbits r;
  std::memcpy(&r, &v, sizeof r);
  return r;
}
inline vdouble lane_double(vbits v) {
  vdouble r;
  std::memcpy(&r, &v, sizeof r);
  return r;
}

constexpr std::int64_t kSignBit = std::numeric_limits<std::int64_t>::min();
// Low, so that few steps take the slow path: from above it only a factor below 2^-14 reaches the
// subnormal range (the hardware then gets it right, slowly).
constexpr std::int64_t kTinyBits = std::int64_t(1023 - 1008) << 52;  // 2^-1008
constexpr int kShift = 1000;                                            // tiny lanes live at 2^kShift

#if defined(__FMA__)
inline vdouble fused_residual(vdouble a, vdouble b, vdouble hi) {  // a * b - hi, exactly
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    __m512d x, y, h;
    std::memcpy(&x, &a, sizeof x);
    std::memcpy(&y, &b, sizeof y);
    std::memcpy(&h, &hi, sizeof h);
    const __m512d r = _mm512_fmsub_pd(x, y, h);
    vdouble v;
    std::memcpy(&v, &r, sizeof v);
    return v;
  }
#endif
  if constexpr (kVecBytes == 32) {
    __m256d x, y, h;
    std::memcpy(&x, &a, sizeof x);
    std::memcpy(&y, &b, sizeof y);
    std::memcpy(&h, &hi, sizeof h);
    const __m256d r = _mm256_fmsub_pd(x, y, h);
    vdouble v;
    std::memcpy(&v, &r, sizeof v);
    return v;
  }
  vdouble v;
  for (int l = 0; l < kLanes<double>; ++l) v[l] = __builtin_fma(a[l], b[l], -hi[l]);
  return v;
}

// acc * x where some lanes (`tiny`) of acc are nonzero and below 2^-1008 (maybe subnormal).
[[gnu::noinline]] inline vdouble tiny_products(vdouble acc, vdouble x, vbits tiny) {
  constexpr double kUp = 0x1p1000, kDown = 0x1p-1000;
  constexpr double kGrid = 0x1p-74;      // subnormal spacing 2^-1074, scaled
  constexpr double kSubTop = 0x1p-22;    // 2^-1022 (smallest normal), scaled; = 2^52 kGrid
  const vbits bits = lane_bits(acc), mag = bits & ~kSignBit;
  // The scaled value: normal lanes by a multiply, subnormal ones from their integer significand
  // (a multiply would take the assist). Every other lane computes on 0 and is discarded.
  const vbits subnormal = tiny & (mag < (std::int64_t(1) << 52));
  const vdouble normal_up = (tiny & ~subnormal) ? acc : vdouble{};
  const vdouble sub_up = lane_double(lane_bits(__builtin_convertvector(mag, vdouble) * kGrid) | (bits & kSignBit));
  const vdouble scaled = subnormal ? sub_up : normal_up * kUp;
  // The exact product is hi + lo. Below the smallest normal it rounds to a multiple of kGrid:
  // hi's rounding is that of hi + lo except when hi lies exactly half way, where lo decides.
  const vdouble hi = scaled * x, lo = fused_residual(scaled, x, hi);
  const vbits hi_bits = lane_bits(hi), hi_sign = hi_bits & kSignBit;
  const vdouble ahi = lane_double(hi_bits & ~kSignBit);
  vdouble r = (ahi + kSubTop) - kSubTop;  // to the grid, nearest even
  const vdouble off = ahi - r;
  const vbits tie = ((off == kGrid / 2) | (off == -kGrid / 2)) & (lo != 0.0);
  const vbits lo_same_sign = ((lane_bits(lo) ^ hi_bits) & kSignBit) == 0;
  r = tie ? (lo_same_sign ? ahi + kGrid / 2 : ahi - kGrid / 2) : r;
  // r / kGrid <= 2^52 is the result's significand field (2^52 is the smallest normal's bits).
  const vbits below = __builtin_convertvector(r * 0x1p74, vbits) | hi_sign;
  vdouble out = (ahi < kSubTop) ? lane_double(below) : hi * kDown;
  // inf and NaN (an inf or NaN factor, or a product out of the scaled range): the hardware.
  const vbits special = tiny & ~(ahi <= std::numeric_limits<double>::max());
  if (any_lane(special)) out = special ? acc * x : out;
  const vdouble rest = tiny ? vdouble{} : acc;
  return tiny ? out : rest * x;
}
#endif
}  // namespace detail

// One step of running products: acc * x in every lane, rounded as the hardware rounds it.
inline vdouble product_step(vdouble acc, vdouble x) {
#if defined(__FMA__)
  const detail::vbits mag = detail::lane_bits(acc) & ~detail::kSignBit;
  using vunsigned = vec<std::uint64_t>;  // nonzero and below 2^-1008, in one unsigned compare
  const detail::vbits tiny = __builtin_convertvector(mag, vunsigned) - 1 < vunsigned{} + (detail::kTinyBits - 1);
  if (__builtin_expect(any_lane(tiny), 0)) return detail::tiny_products(acc, x, tiny);
#endif
  return acc * x;
}

// acc[j] = acc[j] * x[j] for j < n (x widened to double).
template <class W>
inline void multiply_run(double* acc, const W* x, std::int64_t n) {
  constexpr int L = kLanes<double>;
  std::int64_t j = 0;
  for (; j + L <= n; j += L) store(acc + j, product_step(load(acc + j), load_as<double>(x + j)));
  if (j < n) {
    alignas(64) double a[L], b[L];
    for (int l = 0; l < L; ++l) {
      a[l] = j + l < n ? acc[j + l] : 1.0;
      b[l] = j + l < n ? static_cast<double>(x[j + l]) : 1.0;
    }
    store(a, product_step(load(a), load(b)));
    for (int l = 0; j + l < n; ++l) acc[j + l] = a[l];
  }
}

}  // namespace KCORE_ISA
}  // namespace kcore
