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

  // The other dims, merged where both sides walk them as one. They stay in axis order rather
  // than the destination's memory order: for transposed inputs the lines grouped together then
  // lie far apart, which measured faster (bench/NOTES.md).
  bool skip[kMaxDims] = {};
  skip[axis] = true;
  const std::int64_t* strides[2] = {dst_strides, src.strides};
  Dims d = gather_dims(src.ndim, src.shape, strides, 2, nullptr, skip);
  coalesce(d);

  // Column candidate: the other dim that reads the source most locally.
  int c = -1;
  for (int k = 0; k < d.ndim; ++k)
    if (c < 0 || std::llabs(d.dim[k].stride[kIn]) < std::llabs(d.dim[c].stride[kIn])) c = k;
  const bool axis_contiguous_both = p.src_step == item && p.dst_step == item;
  if (c >= 0 && !axis_contiguous_both) {
    // Prefer the destination-contiguous dim as columns when the axis is not.
    if (p.dst_step != item) {
      for (int k = 0; k < d.ndim; ++k)
        if (d.dim[k].stride[kOut] == item) c = k;
    }
    if (p.dst_step != item || std::llabs(d.dim[c].stride[kIn]) < std::llabs(p.src_step)) p.tiles = true;
  }
  for (int k = 0; k < d.ndim; ++k) {
    if (p.tiles && k == c) p.col = d.dim[k];
    else p.outer[p.n_outer++] = d.dim[k];
  }
  return p;
}

}  // namespace kcore
