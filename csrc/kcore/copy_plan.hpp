// The canonical form of a strided copy with element conversion: the one engine behind
// transpose, permute_dimensions, cast and "make contiguous".
#pragma once
#include <cstdint>

#include "kcore/array_ref.hpp"

namespace kcore {

struct CopyPlan {
  DType src_dtype = DType::f32;
  DType dst_dtype = DType::f32;
  const char* src = nullptr;
  char* dst = nullptr;
  std::int64_t size = 0;  // elements
  int ndim = 0;           // after dropping size-1 dims and coalescing, in destination memory order
  std::int64_t shape[kMaxDims];
  std::int64_t src_strides[kMaxDims];
  std::int64_t dst_strides[kMaxDims];
  // For a real transpose: the dim whose source stride is one element (-1 if none), and
  // the dst-innermost dim is ndim - 1.
  int src_inner = -1;
};

// `dst` has src's shape, dtype `dst_dtype` and byte strides `dst_strides` (any layout whose
// innermost dim is contiguous).
CopyPlan make_copy_plan(const ArrayRef& src, char* dst, const std::int64_t* dst_strides, DType dst_dtype);

}  // namespace kcore
