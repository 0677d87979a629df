// The elementwise family's entries, compiled once per ISA level (CMakeLists.txt).
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "kcore/kernels/accumulate.hpp"
#include "kcore/kernels/elementwise_engine.hpp"
#include "kcore/kernels/entries.hpp"
#include "kcore/kernels/scratch.hpp"

namespace kcore {
namespace KCORE_ISA {

namespace {

// Results go out with streaming stores when the operands the op reads and writes in full exceed
// the last-level cache (tuning::stream_bytes()): they cannot all stay in it, and an ordinary
// store first reads each line it writes. When they fit, the result stays there for what reads it
// next (and repeated calls find their operands there). Strictly over, unlike the scans' rule
// (tuning::stream_writes): a unary op that exactly fills the LLC ran no faster streamed.
template <class T>
bool stream_result(const ElementwisePlan& p) {
  const std::int64_t bytes = p.size * static_cast<std::int64_t>(sizeof(T));
  std::int64_t total = bytes;
  for (int k = 0; k < p.nops - 1; ++k) {
    bool full = p.period[kIn + k] == 0;  // (a periodic input is one short row)
    for (int d = 0; d < p.ndim; ++d) full = full && (p.dim[d].size == 1 || p.dim[d].stride[kIn + k] != 0);
    if (full) total += bytes;
  }
  return total > tuning::stream_bytes();
}

template <class T>
void clip_typed(const ElementwisePlan& p) {
  bool scalar_bounds = true;  // both bounds one value, broadcast along every dim
  for (int k = 0; k < p.ndim; ++k) scalar_bounds &= p.dim[k].stride[kIn + 1] == 0 && p.dim[k].stride[kIn + 2] == 0;
  if (scalar_bounds) {
    using A = widen_t<T>;
    A lo, hi;
    convert_run(reinterpret_cast<const T*>(p.data[kIn + 1]), &lo, 1);
    convert_run(reinterpret_cast<const T*>(p.data[kIn + 2]), &hi, 1);
    return run_lines(p, ClipScalar<T>{lo, hi}, false);
  }
  run_lines(p, Ternary<T, Clip>{}, stream_result<T>(p));
}

// The parameterless transcendental functions: float16 through tables (HalfTable), the others
// in vectors of their arithmetic type.
template <class T, class F>
void unary_fn(const ElementwisePlan& p) {
  if constexpr (std::is_same_v<T, half>) {
    run_lines(p, HalfTable<F>{}, false);
  } else {
    run_lines(p, Unary<T, F>{}, stream_result<T>(p));
  }
}

template <class T>
void unary_typed(const ElementwisePlan& p) {
  using A = widen_t<T>;
  const A a0 = static_cast<A>(p.param[0]), a1 = static_cast<A>(p.param[1]), a2 = static_cast<A>(p.param[2]);
  switch (p.kind) {
    case ElementwiseKind::exp: return unary_fn<T, VectorFn<A, vmath::exp<A>>>(p);
    case ElementwiseKind::log: return unary_fn<T, VectorFn<A, vmath::log<A>>>(p);
    case ElementwiseKind::tanh: return unary_fn<T, VectorFn<A, vmath::tanh<A>>>(p);
    case ElementwiseKind::sigmoid: return unary_fn<T, VectorFn<A, vmath::sigmoid<A>>>(p);
    case ElementwiseKind::hard_sigmoid: return run_lines(p, Unary<T, VectorFn<A, vmath::hard_sigmoid<A>>>{}, stream_result<T>(p));
    case ElementwiseKind::softplus: return unary_fn<T, VectorFn<A, vmath::softplus<A>>>(p);
    case ElementwiseKind::softsign: return run_lines(p, Unary<T, VectorFn<A, vmath::softsign<A>>>{}, stream_result<T>(p));
    case ElementwiseKind::square: return run_lines(p, Unary<T, VectorFn<A, vmath::square<A>>>{}, stream_result<T>(p));
    case ElementwiseKind::abs: return run_lines(p, Unary<T, VectorFn<A, vmath::abs<A>>>{}, stream_result<T>(p));
    case ElementwiseKind::sqrt: return run_lines(p, Unary<T, VectorFn<A, vmath::sqrt<A>>>{}, stream_result<T>(p));
    case ElementwiseKind::sign: return run_lines(p, Unary<T, VectorFn<A, vmath::sign<A>>>{}, stream_result<T>(p));
    case ElementwiseKind::round: return run_lines(p, Unary<T, VectorFn<A, vmath::round<A>>>{}, stream_result<T>(p));
    case ElementwiseKind::negative: return run_lines(p, Unary<T, VectorFn<A, vmath::negative<A>>>{}, stream_result<T>(p));
    case ElementwiseKind::elu: return run_lines(p, Unary<T, Elu<A>>{{std::isnan(p.param[0]) ? A(1) : a0}}, stream_result<T>(p));
    case ElementwiseKind::relu: return run_lines(p, Unary<T, Relu<A>>{{std::isnan(p.param[0]) ? A(0) : a0, a1, std::isnan(p.param[2]) ? A(0) : a2, !std::isnan(p.param[1])}}, stream_result<T>(p));
    default: throw std::invalid_argument("elementwise: not a unary kind");
  }
}

// One row: the maximum, exp(x - max) into e (in A), their sum blocked as the reductions sum, and
// each exp divided by it. The division is a multiply by 1/sum corrected once with two fused
// multiply-adds: the quotient's correctly rounded bits (Markstein's theorem; tiny results, whose
// correction underflows, within an ulp of them) on every level, where a divide instruction cost
// many times a multiply.
template <class T>
void softmax_row(const T* x, T* y, std::int64_t n, widen_t<T>* e) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
  const std::int64_t whole = n / L * L;
  const int tail = static_cast<int>(n - whole);
  // Tail lanes read as -inf here: they never change the maximum.
  const A none = -std::numeric_limits<A>::infinity();
  const auto vmax = [](auto a, auto b) { return a > b ? a : b; };
  // Four chains of maxima (one chain waits on each max's latency), in registers.
  vec<A> m0 = splat<A>(none), m1 = m0, m2 = m0, m3 = m0;
  std::int64_t i = 0;
  for (; i + 4 * L <= whole; i += 4 * L) {
    m0 = vmax(load_widened<A>(x + i), m0);
    m1 = vmax(load_widened<A>(x + i + L), m1);
    m2 = vmax(load_widened<A>(x + i + 2 * L), m2);
    m3 = vmax(load_widened<A>(x + i + 3 * L), m3);
  }
  for (; i < whole; i += L) m0 = vmax(load_widened<A>(x + i), m0);
  if (tail) m1 = vmax(load_widened_partial<A>(x + whole, tail, none), m1);
  const A mx = tree_lanes<A, kVecBytes>(vmax(vmax(m0, m1), vmax(m2, m3)), vmax);
  // A NaN anywhere gives a NaN exp below and sum, so the whole row is NaN (as the reference).
  const vec<A> vmx = splat<A>(mx);
  for (i = 0; i < whole; i += L) store(e + i, vmath::exp<A>(load_widened<A>(x + i) - vmx));
  // (Tail lanes here read as the maximum: exp(-inf) would cost subnormal assists on Intel; only
  // the row's n exps are summed.)
  if (tail) store(e + whole, vmath::exp<A>(load_widened_partial<A>(x + whole, tail, mx) - vmx));
  const A s = static_cast<A>(fold_contig<sum_acc_t<T>, Fold::add>(e, n, sum_acc_t<T>(0)));
  if (std::isnan(s)) {  // one NaN for the row on every level (the fused steps pass NaN signs on differently)
    const A nan = std::numeric_limits<A>::quiet_NaN();
    T nan_t;
    convert_run(&nan, &nan_t, 1);
    std::fill(y, y + n, nan_t);
    return;
  }
  const vec<A> vs = splat<A>(s), inv = splat<A>(A(1) / s);
  const auto quotient = [&](vec<A> v) {
    const vec<A> q = v * inv;
    return fmadd_exact<A>(fmadd_exact<A>(-q, vs, v), inv, q);
  };
  for (i = 0; i < whole; i += L) store_narrowed<T, A>(y + i, quotient(load(e + i)));
  if (tail) {
    if constexpr (std::is_same_v<T, A> && kHasMaskedIo<T>) {
      store_partial(y + whole, quotient(load(e + whole)), tail);
    } else {
      alignas(64) T part[L];
      store_narrowed<T, A>(part, quotient(load(e + whole)));
      std::copy(part, part + tail, y + whole);
    }
  }
}

}  // namespace

// Rows in order, each part's row copied in turn, in pieces of at most kCopyChunk float32s' bytes
// (so a few long rows still spread over the threads); whole lines stream by stream_result's rule
// (the parts read and the result written pass the last-level cache).
void concat(const ConcatPlan& p) {
  constexpr std::int64_t kPiece = tuning::kCopyChunk * 4;
  std::int64_t row = 0, pieces = 0;  // per row
  for (int k = 0; k < p.parts; ++k) {
    row += p.row_bytes[k];
    pieces += (p.row_bytes[k] + kPiece - 1) / kPiece;
  }
  if (p.rows == 0 || row == 0) return;
  const bool stream = 2 * p.rows * row > tuning::stream_bytes();
  const std::int64_t grain = std::max<std::int64_t>(1, tuning::kGrain * 4 * pieces / row);  // (kGrain floats' bytes)
  parallel_for(0, p.rows * pieces, grain, [&](std::int64_t b, std::int64_t e) {
    std::int64_t r = b / pieces, j = b % pieces;
    for (std::int64_t t = b; t < e; ++r, j = 0) {
      char* d = p.out + r * row;
      for (int k = 0; k < p.parts && t < e; ++k) {  // (the row's pieces from j on)
        const std::int64_t n = p.row_bytes[k], count = (n + kPiece - 1) / kPiece;
        if (j >= count) {
          j -= count;
          d += n;
          continue;
        }
        for (; j < count && t < e; ++j, ++t) {
          const std::int64_t at = j * kPiece, len = std::min(kPiece, n - at);
          const char* s = p.src[k] + r * n + at;
          if (stream) stream_bytes(d + at, s, len);
          else std::memcpy(d + at, s, static_cast<std::size_t>(len));
        }
        j = 0;
        d += n;
      }
    }
    if (stream) stream_fence();
  });
}

void elementwise(const ElementwisePlan& p) {
  if (p.size == 0) return;
  if (p.kind == ElementwiseKind::copy) {
    visit_cast_source(p.dtype[kIn], "copy", [&](auto s) {
      using S = decltype(s);
      if constexpr (std::is_integral_v<S>) {  // integer layout copies keep their type
        if (p.dtype[kOut] == p.dtype[kIn]) return copy_typed<S, S>(p);
      }
      visit_float(p.dtype[kOut], "copy", [&](auto d) { copy_typed<S, decltype(d)>(p); });
    });
    return;
  }
  if (is_comparison(p.kind)) {
    if (p.nops != 3 || p.dtype[kIn] != p.dtype[kIn + 1] || p.dtype[kOut] != DType::b8)
      throw std::invalid_argument("elementwise: a comparison takes two operands of one dtype into bools");
    visit_float(p.dtype[kIn], "elementwise", [&](auto t) {
      using T = decltype(t);
      switch (p.kind) {
        case ElementwiseKind::equal: return run_lines(p, Compare<T, Equal>{}, false);
        case ElementwiseKind::not_equal: return run_lines(p, Compare<T, NotEqual>{}, false);
        case ElementwiseKind::greater: return run_lines(p, Compare<T, Greater>{}, false);
        case ElementwiseKind::greater_equal: return run_lines(p, Compare<T, GreaterEqual>{}, false);
        case ElementwiseKind::less: return run_lines(p, Compare<T, Less>{}, false);
        default: return run_lines(p, Compare<T, LessEqual>{}, false);
      }
    });
    return;
  }
  for (int op = 1; op < p.nops; ++op)
    if (p.dtype[op] != p.dtype[kOut]) throw std::invalid_argument("elementwise: operands must share one dtype");
  visit_float(p.dtype[kOut], "elementwise", [&](auto t) {
    using T = decltype(t);
    switch (p.kind) {
      case ElementwiseKind::add: return run_lines(p, Binary<T, Add>{}, stream_result<T>(p));
      case ElementwiseKind::subtract: return run_lines(p, Binary<T, Subtract>{}, stream_result<T>(p));
      case ElementwiseKind::multiply: return run_lines(p, Binary<T, Multiply>{}, stream_result<T>(p));
      case ElementwiseKind::divide: return run_lines(p, Binary<T, Divide>{}, stream_result<T>(p));
      case ElementwiseKind::maximum: return run_lines(p, Binary<T, Maximum>{}, stream_result<T>(p));
      case ElementwiseKind::minimum: return run_lines(p, Binary<T, Minimum>{}, stream_result<T>(p));
      case ElementwiseKind::relu_grad: {  // (the parameters in x's dtype, as TensorFlow converts them)
        using A = widen_t<T>;
        const auto in_t = [](double v) { return convert_one<A>(convert_one<T>(v)); };
        const double alpha = std::isnan(p.param[0]) ? 0 : p.param[0], threshold = std::isnan(p.param[2]) ? 0 : p.param[2];
        const bool has_max = !std::isnan(p.param[1]);
        const ReluGrad<A> f{in_t(alpha), in_t(p.param[1]), in_t(threshold), has_max,
                            alpha != 0 && !has_max && threshold == 0, has_max && threshold == 0 && p.param[1] == 6,
                            threshold != 0};
        return run_lines(p, Binary<T, ReluGrad<A>>{f}, stream_result<T>(p));
      }
      case ElementwiseKind::multiply_add: return run_lines(p, Ternary<T, MultiplyAdd>{}, stream_result<T>(p));
      case ElementwiseKind::clip: return clip_typed<T>(p);
      case ElementwiseKind::select: return run_lines(p, Ternary<T, Select>{}, stream_result<T>(p));
      case ElementwiseKind::copy: break;
      default: return unary_typed<T>(p);
    }
  });
}

namespace {

// A chain's blocks: every slot's block of kChainBlock values stays in L1 between its steps.
constexpr std::int64_t kChainBlock = 256;

template <class F, class A>
void chain_binary(A* d, const A* a, const A* b, std::int64_t n) {
  for (std::int64_t j = 0; j < n; j += kLanes<A>) store(d + j, F::apply(load(a + j), load(b + j)));
}
template <auto F, class A>
void chain_unary(A* d, const A* a, std::int64_t n) {
  for (std::int64_t j = 0; j < n; j += kLanes<A>) store(d + j, F(load(a + j)));
}

// Step st on n values (a whole number of vectors) of slots a, b into d: the op-by-op kernels'
// functors (Binary<T, Add>, unary_fn's VectorFn) on the same values.
template <class A>
void chain_step(ElementwiseKind kind, A* d, const A* a, const A* b, std::int64_t n) {
  switch (kind) {
    case ElementwiseKind::add: return chain_binary<Add>(d, a, b, n);
    case ElementwiseKind::subtract: return chain_binary<Subtract>(d, a, b, n);
    case ElementwiseKind::multiply: return chain_binary<Multiply>(d, a, b, n);
    case ElementwiseKind::divide: return chain_binary<Divide>(d, a, b, n);
    case ElementwiseKind::maximum: return chain_binary<Maximum>(d, a, b, n);
    case ElementwiseKind::minimum: return chain_binary<Minimum>(d, a, b, n);
    case ElementwiseKind::exp: return chain_unary<vmath::exp<A>>(d, a, n);
    case ElementwiseKind::log: return chain_unary<vmath::log<A>>(d, a, n);
    case ElementwiseKind::tanh: return chain_unary<vmath::tanh<A>>(d, a, n);
    case ElementwiseKind::sigmoid: return chain_unary<vmath::sigmoid<A>>(d, a, n);
    case ElementwiseKind::hard_sigmoid: return chain_unary<vmath::hard_sigmoid<A>>(d, a, n);
    case ElementwiseKind::softplus: return chain_unary<vmath::softplus<A>>(d, a, n);
    case ElementwiseKind::softsign: return chain_unary<vmath::softsign<A>>(d, a, n);
    case ElementwiseKind::square: return chain_unary<vmath::square<A>>(d, a, n);
    case ElementwiseKind::abs: return chain_unary<vmath::abs<A>>(d, a, n);
    case ElementwiseKind::sqrt: return chain_unary<vmath::sqrt<A>>(d, a, n);
    case ElementwiseKind::sign: return chain_unary<vmath::sign<A>>(d, a, n);
    case ElementwiseKind::round: return chain_unary<vmath::round<A>>(d, a, n);
    case ElementwiseKind::negative: return chain_unary<vmath::negative<A>>(d, a, n);
    default: throw std::invalid_argument("elementwise_chain: a step's kind must be arithmetic or a parameterless function");
  }
}

template <class T>
void chain_typed(const ChainPlan& p) {
  static_assert(std::is_same_v<T, widen_t<T>>, "chains compute float32/float64 in their own type");
  constexpr std::int64_t B = kChainBlock;
  const int nin = p.nin, ns = p.nsteps;
  const std::int64_t blocks = (p.size + B - 1) / B;
  const std::int64_t work = B * (nin + 2 * ns);  // (a step of a transcendental ~ two of arithmetic)
  parallel_for(0, blocks, std::max<std::int64_t>(1, tuning::kGrain / work), [&](std::int64_t b0, std::int64_t b1) {
    // Slots: the inputs' blocks (a single value filled once; the last, short block copied and
    // padded), then the steps'.
    AlignedBuffer<T> buf(static_cast<std::size_t>((nin + ns) * B));
    T* const slots = buf.get();
    for (int i = 0; i < nin; ++i)
      if (p.single[i]) std::fill(slots + i * B, slots + (i + 1) * B, *reinterpret_cast<const T*>(p.in[i]));
    const T* src[kChainMaxOperands + kChainMaxSteps];
    for (std::int64_t blk = b0; blk < b1; ++blk) {
      const std::int64_t at = blk * B, n = std::min(B, p.size - at);
      for (int i = 0; i < nin; ++i) {
        const T* const x = reinterpret_cast<const T*>(p.in[i]);
        if (p.single[i]) {
          src[i] = slots + i * B;
        } else if (n == B) {
          src[i] = x + at;
        } else {
          std::copy(x + at, x + at + n, slots + i * B);
          std::fill(slots + i * B + n, slots + (i + 1) * B, T(0));
          src[i] = slots + i * B;
        }
      }
      for (int s = 0; s < ns; ++s) {
        T* const d = slots + (nin + s) * B;
        chain_step<T>(p.step[s].kind, d, src[p.step[s].a], src[p.step[s].b], B);
        src[nin + s] = d;
      }
      std::copy(src[nin + ns - 1], src[nin + ns - 1] + n, reinterpret_cast<T*>(p.out) + at);
    }
  });
}

}  // namespace

void chain(const ChainPlan& p) {
  if (p.size == 0 || p.nsteps == 0) return;
  if (p.dtype == DType::f32) return chain_typed<float>(p);
  if (p.dtype == DType::f64) return chain_typed<double>(p);
  throw std::invalid_argument("elementwise_chain: float32 or float64 operands");
}

void softmax(const SoftmaxPlan& p) {
  if (p.rows == 0 || p.n == 0) return;
  visit_float(p.dtype, "softmax", [&](auto t) {
    using T = decltype(t);
    using A = widen_t<T>;
    const T* x = reinterpret_cast<const T*>(p.in);
    T* y = reinterpret_cast<T*>(p.out);
    const std::int64_t n = p.n, padded = (n + kLanes<A> - 1) / kLanes<A> * kLanes<A>;
    const std::int64_t row_work = tuning::kSoftmaxWork * (padded + tuning::kSoftmaxRowVecs * kLanes<A>);
    parallel_for(0, p.rows, std::max<std::int64_t>(1, tuning::kGrain / row_work), [&](std::int64_t b, std::int64_t e) {
      AlignedBuffer<A> buf(static_cast<std::size_t>(padded));
      for (std::int64_t r = b; r < e; ++r) softmax_row<T>(x + r * n, y + r * n, n, buf.get());
    });
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
