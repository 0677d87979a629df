// The canonical form every reduction is brought into before a kernel runs.
//
// make_reduce_plan brings the input and the output into canonical form (layout.hpp: size-1 dims
// dropped, negative strides walked forwards where order does not matter, dims in the input's
// memory order, neighbours merged), then picks one of two loop shapes:
//  - horizontal: the smallest-stride dim is reduced; each output reduces "leaves" (runs along
//    the innermost reduced dim, at most kLeaf elements) that are combined in a fixed tree order.
//  - vertical: the smallest-stride dim is kept ("columns"); rows of the input are folded into a
//    block of per-column accumulators, vectorised across columns.
#pragma once
#include <cstdint>

#include "kcore/array_ref.hpp"
#include "kcore/layout.hpp"

namespace kcore {

// Bound to Python once (register_reduce.cpp); the order is the binding's too.
enum class ReduceKind : std::uint8_t { sum, prod, mean, max, min, argmax, argmin, var, std_, any, all };
constexpr bool is_index_kind(ReduceKind k) { return k == ReduceKind::argmax || k == ReduceKind::argmin; }

// Roles of a reduction's dims.
constexpr std::uint8_t kKept = 0, kReduced = 1;

// Operands: kOut (the C-contiguous result over the kept dims; stride 0 along reduced dims) and kIn.
struct ReducePlan {
  ReduceKind kind = ReduceKind::sum;
  DType in_dtype = DType::f32;
  DType out_dtype = DType::f32;
  const char* in = nullptr;
  char* out = nullptr;
  std::int64_t count = 1;  // reduced elements per output
  std::int64_t noutputs = 1;
  bool vertical = false;
  int n_outer = 0;         // kept dims other than the column dim, outermost first
  int n_red = 0;           // reduced dims, outermost first; the last is the leaf/row dim
  LoopDim dim[kMaxDims];   // the outer dims, then the reduced dims
  LoopDim col{1, {0, 0, 0, 0}, kKept};  // vertical only
  const LoopDim* outer() const { return dim; }
  const LoopDim* red() const { return dim + n_outer; }
};

// What a wide sum of `in` gives (its accumulator: kernels/accumulate.hpp's Acc<T>::sum).
constexpr DType sum_accumulator(DType in) { return in == DType::f16 ? DType::f32 : DType::f64; }

// `reduce_axis[i]` marks the axes to reduce. `out` is a C-contiguous array of the kept dims.
// argmax/argmin keep the reduced axis' direction: "first occurrence" depends on it.
// out_dtype: int64 for argmax/argmin, bool for any/all, else in's dtype or, for sum only,
// sum_accumulator(in's) (a wide sum).
ReducePlan make_reduce_plan(const ArrayRef& in, const bool* reduce_axis, char* out,
                            DType out_dtype, ReduceKind kind);

}  // namespace kcore
