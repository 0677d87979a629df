#include "kcore/scan_plan.hpp"

#include <cstdlib>
#include <stdexcept>

namespace kcore {

ScanPlan make_scan_plan(const ArrayRef& src, int axis, char* dst, const std::int64_t* dst_strides, ScanKind kind) {
  if (axis < 0 || axis >= src.ndim) throw std::invalid_argument("scan: axis out of range");
  ScanPlan p;
  p.kind = kind;
  p.dtype = src.dtype;
  p.src = src.data;
  p.dst = dst;
  p.size = 1;
  for (int i = 0; i < src.ndim; ++i) p.size *= src.shape[i];
  const std::int64_t item = itemsize(src.dtype);
  p.n = src.shape[axis];
  p.src_step = src.strides[axis];
  p.dst_step = dst_strides[axis];

  // The other dims, coalesced where both source and destination walk them as one.
  LoopDim others[kMaxDims];
  int m = 0;
  for (int i = 0; i < src.ndim; ++i) {
    if (i == axis || src.shape[i] == 1) continue;
    const LoopDim d{src.shape[i], src.strides[i], dst_strides[i]};
    if (m > 0 && others[m - 1].in_stride == d.in_stride * d.size &&
        others[m - 1].out_stride == d.out_stride * d.size) {
      others[m - 1] = LoopDim{others[m - 1].size * d.size, d.in_stride, d.out_stride};
      continue;
    }
    others[m++] = d;
  }

  // Column candidate: the other dim that reads the source most locally.
  int c = -1;
  for (int k = 0; k < m; ++k)
    if (c < 0 || std::llabs(others[k].in_stride) < std::llabs(others[c].in_stride)) c = k;
  const bool axis_contiguous_both = p.src_step == item && p.dst_step == item;
  if (c >= 0 && !axis_contiguous_both) {
    // Prefer the destination-contiguous dim as columns when the axis is not.
    if (p.dst_step != item) {
      for (int k = 0; k < m; ++k)
        if (others[k].out_stride == item) c = k;
    }
    if (p.dst_step != item || std::llabs(others[c].in_stride) < std::llabs(p.src_step)) p.tiles = true;
  }
  for (int k = 0; k < m; ++k) {
    if (p.tiles && k == c) p.col = others[k];
    else p.outer[p.n_outer++] = others[k];
  }
  return p;
}

}  // namespace kcore
