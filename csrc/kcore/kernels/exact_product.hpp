// Running products in float32 or float64, exact down through the subnormal range without the
// hardware's slow path.
//
// A multiply with a subnormal operand or result takes a microcode assist, far slower than the
// multiply itself. A running product of data like N(1, 1) is a random walk in the exponent that
// drifts down through the subnormal range over many steps, and spent most of its time in assists
// (bench/NOTES.md).
// Here a lane whose running value is below 2^14 times the smallest normal is multiplied scaled up
// by 2^kShift, where nothing is subnormal, and the product is rounded to the (scaled) subnormal
// grid by one fused multiply-add: the result is, bit for bit, the one the hardware returns.
// Kernels that step a block of products from one running value keep such lanes scaled for the
// whole block (scaled_product_steps), so the scaling is paid once per block and the steps have
// no branch. Levels without FMA keep the hardware product (exact too, just slower there).
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
static_assert(kVecBytes >= 32, "the exact path needs the levels' fused multiply-add (simd.hpp's fmadd)");

// The running value of the `tiny` lanes scaled up by 2^kShift, where nothing is subnormal; the
// other lanes as they are. Subnormal lanes are rebuilt from their integer significand (a multiply
// would take the assist): j = bits, as a double j = (2^kFraction + j) - 2^kFraction, exactly.
template <class E>
inline vec<E> scaled_up(vec<E> acc, lanes_of<E> tiny) {
  using F = TinyFormat<E>;
  using I = int_of<E>;
  using V = vec<E>;
  const lanes_of<E> bits = lane_bits<E>(acc), mag = bits & ~kSignBit<E>;
  const lanes_of<E> subnormal = tiny & (mag < (I(1) << F::kFraction));
  const V normal_up = (tiny & ~subnormal) ? acc : V{};
  constexpr E kIntBase = E(I(1) << F::kFraction);
  // Only subnormal lanes are added: in the others the integer sum would overflow.
  const V significand = lane_values<E>((mag & subnormal) + lane_bits<E>(V{} + kIntBase)) - kIntBase;
  const V sub_up = lane_values<E>(lane_bits<E>(significand * F::kGrid) | (bits & kSignBit<E>));
  return subnormal ? sub_up : (tiny ? normal_up * F::kUp : acc);
}

// Where a product step puts its result on the subnormal grid: kSubTop for scaled lanes, the
// smallest normal for the others.
template <class E>
inline vec<E> grid_top(lanes_of<E> tiny) {
  return tiny ? vec<E>{} + TinyFormat<E>::kSubTop : vec<E>{} + std::numeric_limits<E>::min();
}

// One product step of scaled lanes (and of plain ones, top = the smallest normal), as the
// hardware rounds the unscaled product: above top the plain product (scaling by a power of two
// is exact there); below it the exact product rounded once to the grid, by adding top (where the
// spacing is the grid's) in the same fused multiply-add, then taking it away again. The sign is
// the factors', also for zeros.
template <class E>
inline vec<E> scaled_step(vec<E> s, vec<E> x, vec<E> top) {
  using V = vec<E>;
  const lanes_of<E> sign = (lane_bits<E>(s) ^ lane_bits<E>(x)) & kSignBit<E>;
  const V signed_top = lane_values<E>(lane_bits<E>(top) | sign);
  const V hi = s * x;
  const V low = lane_values<E>(lane_bits<E>(fmadd<E>(s, x, signed_top) - signed_top) | sign);
  return lane_values<E>(lane_bits<E>(hi) & ~kSignBit<E>) < top ? low : hi;
}

// Lanes of a scaled step result that are not finite (an overflow of the scaled value, or inf or
// NaN data).
template <class E>
inline lanes_of<E> not_finite(vec<E> v) {
  return ~(lane_values<E>(lane_bits<E>(v) & ~kSignBit<E>) <= std::numeric_limits<E>::max());
}

// Scaled lanes back to the value they stand for: below kSubTop the bits are the grid index
// (read as an integer through j + 2^kFraction, exactly), above it one exact multiply. Narrow:
// subnormals become zeros of their sign, what rounding them to a narrower type gives.
template <class E, bool kNarrow = false>
inline vec<E> scaled_down(vec<E> v, lanes_of<E> tiny) {
  using F = TinyFormat<E>;
  using I = int_of<E>;
  using V = vec<E>;
  const lanes_of<E> bits = lane_bits<E>(v), sign = bits & kSignBit<E>;
  const V mag = lane_values<E>(bits & ~kSignBit<E>);
  const lanes_of<E> below = tiny & (mag < F::kSubTop);
  const V down = ((tiny & ~below) ? v : V{}) * F::kDown;  // no subnormal product is formed
  V sub;
  if constexpr (kNarrow) {
    sub = lane_values<E>(sign);
  } else {
    constexpr E kIntBase = E(I(1) << F::kFraction);
    sub = lane_values<E>((lane_bits<E>(mag * F::kToInt + kIntBase) - lane_bits<E>(V{} + kIntBase)) | sign);
  }
  return below ? sub : (tiny ? down : v);
}

// acc * x where some lanes (`tiny`) of acc are nonzero and below the threshold (maybe subnormal).
template <class E>
[[gnu::noinline]] vec<E> tiny_products(vec<E> acc, vec<E> x, lanes_of<E> tiny) {
  const vec<E> v = scaled_step<E>(scaled_up<E>(acc, tiny), x, grid_top<E>(tiny));
  // inf and NaN (an inf or NaN factor, or a product out of the scaled range): the hardware.
  const lanes_of<E> special = tiny & not_finite<E>(v);
  const vec<E> out = scaled_down<E>(v, tiny);
  return any_lane(special) ? (special ? acc * x : out) : out;
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

// r[k] = acc = product_step(acc, r[k]) for k < n: running products, one step at a time. Out of
// line, so that a caller's loop of plain multiplies keeps its registers.
template <class E, int n>
[[gnu::noinline]] void product_steps(vec<E>& acc, vec<E>* r) {
  for (int k = 0; k < n; ++k) r[k] = acc = product_step<E>(acc, r[k]);
}

// The same for a block where some running value starts near the bottom of the range, faster:
// those lanes are scaled up once, run the whole block scaled (a few more instructions per step
// than a multiply, and no test or branch), and are scaled back once per result. With kNarrow the
// results r (not acc) may have subnormals replaced by zeros of their sign: they are going to be
// rounded to a narrower type, where that is what they become. False if a scaled value overflowed
// (factors totalling far above 1 in one block, or inf or NaN data): acc and r are then spoiled
// and the caller redoes the block with product_steps.
template <class E, int n, bool kNarrow>
[[gnu::noinline]] bool scaled_product_steps(vec<E>& acc, vec<E>* r) {
#if defined(__FMA__)
  const detail::lanes_of<E> tiny = detail::tiny_lanes<E>(acc);
  const vec<E> top = detail::grid_top<E>(tiny);
  acc = detail::scaled_up<E>(acc, tiny);
  for (int k = 0; k < n; ++k) r[k] = acc = detail::scaled_step<E>(acc, r[k], top);
  // Not finite at the end of the block if at any step: inf * x and NaN * x are not finite.
  if (any_lane(tiny & detail::not_finite<E>(acc))) return false;
  acc = detail::scaled_down<E>(acc, tiny);
  for (int k = 0; k < n; ++k) r[k] = detail::scaled_down<E, kNarrow>(r[k], tiny);
#else
  product_steps<E, n>(acc, r);
#endif
  return true;
}

// r[k] = acc = acc * r[k] for k < n, each product as the hardware rounds it: plain multiplies
// when every lane starts clear of the bottom of the range (within n steps a value can then only
// reach the subnormal range through factors totalling below 2^-kMargin, and the hardware gets
// those right too, slowly), else scaled_product_steps, else (a scaled value overflowed)
// product_steps on the factors read into r again by `read`.
template <class E, int n, bool kNarrow, class Read>
inline void block_products(vec<E>& acc, vec<E>* r, Read read) {
  if (!any_tiny<E>(acc)) {
#pragma GCC unroll 16
    for (int k = 0; k < n; ++k) r[k] = acc = acc * r[k];
    return;
  }
  const vec<E> before = acc;
  if (scaled_product_steps<E, n, kNarrow>(acc, r)) return;
  acc = before;
  read();
  product_steps<E, n>(acc, r);
}

}  // namespace KCORE_ISA
}  // namespace kcore
