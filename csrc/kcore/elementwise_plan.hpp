// The canonical form of an elementwise op: one output and up to kMaxOperands - 1 inputs of the
// output's shape (broadcast inputs have zero strides). Copies (transpose, permute_dimensions,
// cast, make-contiguous) are the one-input case.
#pragma once
#include <cstdint>

#include "kcore/array_ref.hpp"
#include "kcore/layout.hpp"

namespace kcore {

// What an elementwise kernel computes; bound to Python once (register_elementwise.cpp).
// Binary: add .. divide, maximum and minimum (NaN wins). Ternary: multiply_add (x * y + z: two
// roundings, as separate * and +, so every ISA level gives the same bits), clip (x limited to
// [y, z]; NaN stays NaN) and select (y where x is nonzero or NaN, else z). Unary: exp .. relu, the activations (kernels/vmath.hpp: the same bits
// on every ISA level), with parameters in Keras's order, NaN where absent: elu (alpha, default 1)
// and relu (alpha, max_value (NaN: none), threshold). Among them square .. negative are exact: one
// IEEE rounding at most (sqrt of x < 0 is 0, as Keras's TensorFlow backend; round: half to even).
// Comparisons: equal .. less_equal of two float operands, a bool result (NaN compares unequal).
// relu_grad (g, x) with relu's parameters: g times d relu / dx at x (elementwise_ops.hpp's ReluGrad).
enum class ElementwiseKind : std::uint8_t {
  copy, add, subtract, multiply, divide, multiply_add, clip, select, maximum, minimum, relu_grad,
  exp, log, tanh, sigmoid, hard_sigmoid, softplus, softsign, square, abs, sqrt, sign, round, negative, elu, relu,
  equal, not_equal, greater, greater_equal, less, less_equal
};
constexpr bool is_unary(ElementwiseKind k) { return k >= ElementwiseKind::exp && k <= ElementwiseKind::relu; }
constexpr bool is_comparison(ElementwiseKind k) { return k >= ElementwiseKind::equal; }
constexpr int kElementwiseParams = 3;

struct ElementwisePlan {
  ElementwiseKind kind = ElementwiseKind::copy;
  int nops = 0;                       // the output (kOut) and the inputs (kIn, ...)
  DType dtype[kMaxOperands] = {};
  char* data[kMaxOperands] = {};      // inputs are only read
  std::int64_t size = 0;              // elements
  // Canonical dims in the output's memory order (size-1 dropped, merged), at least one unless
  // size is 0; the output is contiguous along the last.
  int ndim = 0;
  LoopDim dim[kMaxDims];
  // Copies that transpose: the dim whose source stride is one element (-1 if none, or if the
  // source is contiguous along the last dim too).
  int src_inner = -1;
  // Same-type copies whose innermost dim is short and contiguous on both sides but whose next dim
  // runs another way in the source (an image's pixels reversed or strided along its width): that
  // row is moved as one item of item_bytes: the innermost dim is dropped, and the next, now last,
  // counts items and keeps its byte strides (0: elements, no items).
  std::int64_t item_bytes = 0;
  double param[kElementwiseParams] = {};  // the unary kinds' parameters
  // Short rows (a few channels, channels_last) are merged with the dim outside them, so runs stay
  // long; an input broadcast across that dim then repeats its row: period[op] is the row's
  // length in elements (0: not periodic), its stride along the merged last dim one element.
  std::int64_t period[kMaxOperands] = {};
};

// C-contiguous parts joined along an axis into a C-contiguous result: row o of the result is row o of
// each part in turn (rows: what lies at and inside the axis), so the result is written in order.
struct ConcatPlan {
  char* out = nullptr;
  std::int64_t rows = 0;                // the product of the dims outside the axis
  int parts = 0;
  const char* const* src = nullptr;     // parts' data
  const std::int64_t* row_bytes = nullptr;  // bytes of one row of each part (they sum to the result's)
};

// softmax over the last axis of C-contiguous rows: out = exp(x - max) / sum(exp(x - max)) per row.
struct SoftmaxPlan {
  DType dtype = DType::f32;
  const char* in = nullptr;
  char* out = nullptr;
  std::int64_t rows = 0, n = 0;
};

// A chain of elementwise ops computed in one pass (kcore/_fusion.py fuses them in K.function's
// recorded schedules): operands are C-contiguous float32/float64 arrays of `size` elements or
// single values (broadcast), all of one dtype; step s computes slot nin + s = kind(slot a, slot b)
// (b unused by the unary kinds) with the functors of the op-by-op kernels, so each value has their
// bits; the last step's value is the result, C-contiguous at `out`.
constexpr int kChainMaxOperands = 16, kChainMaxSteps = 32;
struct ChainStep {
  ElementwiseKind kind = ElementwiseKind::copy;
  std::int16_t a = 0, b = 0;
};
struct ChainPlan {
  DType dtype = DType::f32;
  std::int64_t size = 0;
  int nin = 0, nsteps = 0;
  const char* in[kChainMaxOperands] = {};
  bool single[kChainMaxOperands] = {};
  ChainStep step[kChainMaxSteps] = {};
  char* out = nullptr;
};
// The kinds a chain's steps may take: binary arithmetic and the parameterless unary functions.
constexpr bool chain_kind(ElementwiseKind k) {
  return (k >= ElementwiseKind::add && k <= ElementwiseKind::divide) || k == ElementwiseKind::maximum ||
         k == ElementwiseKind::minimum || (k >= ElementwiseKind::exp && k <= ElementwiseKind::negative);
}

// `out` (any layout whose innermost dim is contiguous) and `nin` inputs of out's shape.
ElementwisePlan make_elementwise_plan(ElementwiseKind kind, const ArrayRef& out, const ArrayRef* in, int nin);

}  // namespace kcore
