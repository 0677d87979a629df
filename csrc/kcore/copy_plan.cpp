#include "kcore/copy_plan.hpp"

#include <cstdlib>
#include <stdexcept>

namespace kcore {

CopyPlan make_copy_plan(const ArrayRef& src, char* dst, DType dst_dtype) {
  if (src.ndim < 0 || src.ndim > kMaxDims) throw std::invalid_argument("copy: too many dimensions");
  CopyPlan p;
  p.src_dtype = src.dtype;
  p.dst_dtype = dst_dtype;
  p.src = src.data;
  p.dst = dst;
  p.size = 1;
  for (int i = 0; i < src.ndim; ++i) p.size *= src.shape[i];
  if (p.size == 0) return p;

  // dst strides of the C-contiguous result.
  std::int64_t dst_strides[kMaxDims];
  std::int64_t step = itemsize(dst_dtype);
  for (int i = src.ndim - 1; i >= 0; --i) {
    dst_strides[i] = step;
    step *= src.shape[i];
  }
  int n = 0;
  for (int i = 0; i < src.ndim; ++i) {
    if (src.shape[i] == 1) continue;
    // Coalesce with the previous kept dim when the source walks both as one.
    if (n > 0 && p.src_strides[n - 1] == src.strides[i] * src.shape[i]) {
      p.shape[n - 1] *= src.shape[i];
      p.src_strides[n - 1] = src.strides[i];
      p.dst_strides[n - 1] = dst_strides[i];
      continue;
    }
    p.shape[n] = src.shape[i];
    p.src_strides[n] = src.strides[i];
    p.dst_strides[n] = dst_strides[i];
    ++n;
  }
  if (n == 0) {  // a single element
    p.shape[0] = 1;
    p.src_strides[0] = itemsize(src.dtype);
    p.dst_strides[0] = itemsize(dst_dtype);
    n = 1;
  }
  p.ndim = n;
  const std::int64_t unit = itemsize(src.dtype);
  if (p.src_strides[n - 1] != unit) {
    for (int k = 0; k < n - 1; ++k)
      if (std::llabs(p.src_strides[k]) == unit) p.src_inner = k;
  }
  return p;
}

}  // namespace kcore
