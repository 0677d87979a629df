#include "kcore/copy_plan.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace kcore {

CopyPlan make_copy_plan(const ArrayRef& src, char* dst, const std::int64_t* dst_strides, DType dst_dtype) {
  if (src.ndim < 0 || src.ndim > kMaxDims) throw std::invalid_argument("copy: too many dimensions");
  CopyPlan p;
  p.src_dtype = src.dtype;
  p.dst_dtype = dst_dtype;
  p.src = src.data;
  p.dst = dst;
  p.size = 1;
  for (int i = 0; i < src.ndim; ++i) p.size *= src.shape[i];
  if (p.size == 0) return p;

  // Dims in destination memory order (largest stride first), size-1 dims dropped.
  int order[kMaxDims];
  int n = 0;
  for (int i = 0; i < src.ndim; ++i)
    if (src.shape[i] != 1) order[n++] = i;
  std::stable_sort(order, order + n, [&](int a, int b) {
    return std::llabs(dst_strides[a]) > std::llabs(dst_strides[b]);
  });
  int m = 0;
  for (int k = 0; k < n; ++k) {
    const int i = order[k];
    // Coalesce with the previous dim when both sides walk them as one.
    if (m > 0 && p.src_strides[m - 1] == src.strides[i] * src.shape[i] &&
        p.dst_strides[m - 1] == dst_strides[i] * src.shape[i]) {
      p.shape[m - 1] *= src.shape[i];
      p.src_strides[m - 1] = src.strides[i];
      p.dst_strides[m - 1] = dst_strides[i];
      continue;
    }
    p.shape[m] = src.shape[i];
    p.src_strides[m] = src.strides[i];
    p.dst_strides[m] = dst_strides[i];
    ++m;
  }
  if (m == 0) {  // a single element
    p.shape[0] = 1;
    p.src_strides[0] = itemsize(src.dtype);
    p.dst_strides[0] = itemsize(dst_dtype);
    m = 1;
  }
  p.ndim = m;
  if (p.dst_strides[m - 1] != itemsize(dst_dtype))
    throw std::invalid_argument("copy: the destination must be contiguous in its innermost dim");
  const std::int64_t unit = itemsize(src.dtype);
  if (p.src_strides[m - 1] != unit) {
    for (int k = 0; k < m - 1; ++k)
      if (std::llabs(p.src_strides[k]) == unit) p.src_inner = k;
  }
  return p;
}

}  // namespace kcore
