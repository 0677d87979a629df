// The canonical form every reduction is brought into before a kernel runs.
//
// make_reduce_plan drops size-1 dims, flips negative strides where order does not matter, sorts
// dims by stride (memory order) and coalesces neighbours, then picks one of two loop shapes:
//  - horizontal: the smallest-stride dim is reduced; each output reduces "leaves" (runs along
//    the innermost reduced dim, at most kLeaf elements) that are combined in a fixed tree order.
//  - vertical: the smallest-stride dim is kept ("columns"); rows of the input are folded into a
//    block of per-column accumulators, vectorised across columns.
#pragma once
#include <cstdint>

#include "kcore/array_ref.hpp"

namespace kcore {

enum class ReduceKind : std::uint8_t { sum, prod, mean, max, min, argmax, argmin, var, std_, any, all };

struct LoopDim {
  std::int64_t size;
  std::int64_t in_stride;   // bytes
  std::int64_t out_stride;  // bytes (0 for reduced dims)
};

struct ReducePlan {
  ReduceKind kind = ReduceKind::sum;
  DType in_dtype = DType::f32;
  DType out_dtype = DType::f32;
  const char* in = nullptr;
  char* out = nullptr;
  std::int64_t count = 1;     // reduced elements per output
  std::int64_t noutputs = 1;
  bool vertical = false;
  int n_outer = 0;            // kept dims other than the column dim, outermost first
  LoopDim outer[kMaxDims];  // first n_outer meaningful
  int n_red = 0;              // reduced dims, outermost first; the last is the leaf/row dim
  LoopDim red[kMaxDims];    // first n_red meaningful
  LoopDim col = {1, 0, 0};    // vertical only
};

// `reduce_axis[i]` marks the axes to reduce. `out` is a C-contiguous array of the kept dims.
// argmax/argmin keep the reduced axis' direction: "first occurrence" depends on it.
ReducePlan make_reduce_plan(const ArrayRef& in, const bool* reduce_axis, char* out,
                            DType out_dtype, ReduceKind kind);

}  // namespace kcore
