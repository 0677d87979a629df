// Running products in float32 or float64, exact down through the subnormal range without the
// hardware's slow path.
//
// A multiply with a subnormal operand or result takes a microcode assist, ~100x slower than the
// multiply itself. A running product of data like N(1, 1) is a random walk in the exponent that
// drifts down through the subnormal range over many steps: a 4096x4096 float64 cumprod of such
// data spent most of its time in assists (2-4x slower than cumsum; 4% of its steps are subnormal).
// Here a lane whose running value is below 2^14 times the smallest normal is multiplied scaled up
// by 2^kShift, where nothing is subnormal, and the product is rounded to the (scaled) subnormal
// grid by one fused multiply-add: the result is, bit for bit, the one the hardware returns.
// Levels without FMA keep the hardware product (exact too, just slower there).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kcore/kernels/simd.hpp"

namespace kcore {
namespace KCORE_ISA {

namespace detail {

template <class E>
struct TinyFormat;
template <>
struct TinyFormat<double> {
  static constexpr int kFraction = 52, kMinNormalExp = -1022, kShift = 1000, kMargin = 14;
  static constexpr double kUp = 0x1p1000, kDown = 0x1p-1000;
  static constexpr double kGrid = 0x1p-74;    // the subnormal spacing 2^-1074, scaled
  static constexpr double kSubTop = 0x1p-22;  // the smallest normal 2^-1022, scaled: 2^52 kGrid
  static constexpr double kToInt = 0x1p74;    // 1 / kGrid
};
template <>
struct TinyFormat<float> {
  static constexpr int kFraction = 23, kMinNormalExp = -126, kShift = 100, kMargin = 20;
  static constexpr float kUp = 0x1p100f, kDown = 0x1p-100f;
  static constexpr float kGrid = 0x1p-49f;    // 2^-149, scaled
  static constexpr float kSubTop = 0x1p-26f;  // 2^-126, scaled: 2^23 kGrid
  static constexpr float kToInt = 0x1p49f;
};

template <class E>
using lanes_of = vec<int_of<E>>;  // lane bits; also the type of comparison masks

template <class E>
inline lanes_of<E> lane_bits(vec<E> v) {
  lanes_of<E> r;
  std::memcpy(&r, &v, sizeof r);
  return r;
}
template <class E>
inline vec<E> lane_values(lanes_of<E> v) {
  vec<E> r;
  std::memcpy(&r, &v, sizeof r);
  return r;
}

template <class E>
constexpr int_of<E> kSignBit = std::numeric_limits<int_of<E>>::min();
// Lanes below 2^kMargin times the smallest normal take the exact path: low, so that few steps
// take it, yet far enough above the subnormal range that a block of plain steps (8 doubles or
// 16 floats per vector) rarely gets there (factors totalling below 2^-kMargin; the hardware then
// gets those steps right, slowly).
template <class E>
constexpr int_of<E> kTinyBits = int_of<E>(std::numeric_limits<E>::max_exponent - 1 +
                                          TinyFormat<E>::kMinNormalExp + TinyFormat<E>::kMargin)
                                << TinyFormat<E>::kFraction;

#if defined(__FMA__)
// a * b + c with one rounding.
template <class E>
inline vec<E> fused_multiply_add(vec<E> a, vec<E> b, vec<E> c) {
  vec<E> v;
#define KCORE_FMADD(R, fn)             \
  {                                    \
    R x, y, z;                         \
    std::memcpy(&x, &a, sizeof x);     \
    std::memcpy(&y, &b, sizeof y);     \
    std::memcpy(&z, &c, sizeof z);     \
    const R r = fn(x, y, z);           \
    std::memcpy(&v, &r, sizeof v);     \
    return v;                          \
  }
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64 && std::is_same_v<E, double>) KCORE_FMADD(__m512d, _mm512_fmadd_pd)
  if constexpr (kVecBytes == 64 && std::is_same_v<E, float>) KCORE_FMADD(__m512, _mm512_fmadd_ps)
#endif
  if constexpr (kVecBytes == 32 && std::is_same_v<E, double>) KCORE_FMADD(__m256d, _mm256_fmadd_pd)
  if constexpr (kVecBytes == 32 && std::is_same_v<E, float>) KCORE_FMADD(__m256, _mm256_fmadd_ps)
#undef KCORE_FMADD
  for (int l = 0; l < kLanes<E>; ++l) v[l] = std::fma(a[l], b[l], c[l]);
  return v;
}

// acc * x where some lanes (`tiny`) of acc are nonzero and below the threshold (maybe subnormal).
template <class E>
[[gnu::noinline]] vec<E> tiny_products(vec<E> acc, vec<E> x, lanes_of<E> tiny) {
  using F = TinyFormat<E>;
  using I = int_of<E>;
  using V = vec<E>;
  using M = lanes_of<E>;
  const M bits = lane_bits<E>(acc), mag = bits & ~kSignBit<E>;
  // The scaled value: normal lanes by a multiply, subnormal ones from their integer significand
  // (a multiply would take the assist). Every other lane computes on 0 and is discarded.
  const M subnormal = tiny & (mag < (I(1) << F::kFraction));
  const V normal_up = (tiny & ~subnormal) ? acc : V{};
  const V sub_up = lane_values<E>(lane_bits<E>(__builtin_convertvector(mag, V) * F::kGrid) | (bits & kSignBit<E>));
  const V scaled = subnormal ? sub_up : normal_up * F::kUp;
  const V hi = scaled * x;
  const M hi_bits = lane_bits<E>(hi), sign = hi_bits & kSignBit<E>;
  const V ahi = lane_values<E>(hi_bits & ~kSignBit<E>);
  // Below the smallest normal the exact |product| rounds to a multiple of kGrid: adding kSubTop
  // (= 2^kFraction kGrid, where the spacing is kGrid) in the same fused operation rounds it
  // there once, to nearest even. Above, hi is the hardware's result, scaled.
  const V magnitude = fused_multiply_add<E>(lane_values<E>(lane_bits<E>(scaled) & ~kSignBit<E>),
                                            lane_values<E>(lane_bits<E>(x) & ~kSignBit<E>), V{} + F::kSubTop) - F::kSubTop;
  // magnitude / kGrid <= 2^kFraction is the result's bits without the sign (2^kFraction: the
  // smallest normal).
  const M below = __builtin_convertvector(magnitude * F::kToInt, M) | sign;
  V out = (ahi < F::kSubTop) ? lane_values<E>(below) : hi * F::kDown;
  // inf and NaN (an inf or NaN factor, or a product out of the scaled range): the hardware.
  const M special = tiny & ~(ahi <= std::numeric_limits<E>::max());
  if (any_lane(special)) out = special ? acc * x : out;
  const V rest = tiny ? V{} : acc;
  return tiny ? out : rest * x;
}
#endif
}  // namespace detail

namespace detail {
template <class E>
inline lanes_of<E> tiny_lanes(vec<E> acc) {  // nonzero and below the threshold, in one compare
  using U = vec<std::make_unsigned_t<int_of<E>>>;
  const lanes_of<E> mag = lane_bits<E>(acc) & ~kSignBit<E>;
  return __builtin_convertvector(mag, U) - 1 < U{} + (kTinyBits<E> - 1);
}
}  // namespace detail

// True if a product step from acc takes the exact path in some lane.
template <class E>
inline bool any_tiny(vec<E> acc) {
#if defined(__FMA__)
  return any_lane(detail::tiny_lanes<E>(acc));
#else
  (void)acc;
  return false;
#endif
}

// One step of running products: acc * x in every lane, rounded as the hardware rounds it.
template <class E>
inline vec<E> product_step(vec<E> acc, vec<E> x) {
#if defined(__FMA__)
  const detail::lanes_of<E> tiny = detail::tiny_lanes<E>(acc);
  if (__builtin_expect(any_lane(tiny), 0)) return detail::tiny_products<E>(acc, x, tiny);
#endif
  return acc * x;
}

// r[g][k] = acc[g] = product_step(acc[g], r[g][k]) for k < n, g < G (G independent chains,
// interleaved): running products along blocks that start
// (or may start) near the bottom of the range. Out of line, so that a caller's loop of plain
// multiplies keeps its registers.
template <class E, int n, int G>
[[gnu::noinline]] void product_steps(vec<E>* acc, vec<E> (*r)[n]) {
  for (int k = 0; k < n; ++k)
    for (int g = 0; g < G; ++g) r[g][k] = acc[g] = product_step<E>(acc[g], r[g][k]);
}

}  // namespace KCORE_ISA
}  // namespace kcore
