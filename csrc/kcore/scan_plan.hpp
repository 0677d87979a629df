// The canonical form of a scan (cumsum/cumprod) along one axis.
#pragma once
#include <cstdint>

#include "kcore/array_ref.hpp"
#include "kcore/layout.hpp"

namespace kcore {

// Bound to Python once (register_scan.cpp).
enum class ScanKind : std::uint8_t { sum, prod };

// Operands: kOut (dst, any layout) and kIn (src).
struct ScanPlan {
  ScanKind kind = ScanKind::sum;
  DType dtype = DType::f32;
  const char* src = nullptr;
  char* dst = nullptr;
  std::int64_t size = 0;
  std::int64_t n = 1;         // length of the scanned axis
  std::int64_t src_step = 0;  // strides along the scanned axis (bytes)
  std::int64_t dst_step = 0;
  // lines: each line along the axis is scanned on its own (the axis is contiguous in dst, and
  //        no other dim reads the source more locally).
  // tiles: a block of neighbouring lines along `col` is scanned together, row by row, so every
  //        cache line fetched or written is used by consecutive steps.
  bool tiles = false;
  LoopDim col{1, {0, 0, 0, 0}, 0};  // tiles only
  int n_outer = 0;                  // the remaining dims, merged, in axis order
  LoopDim outer[kMaxDims];
};

// `dst` has src's shape and dtype and byte strides `dst_strides` (any layout).
ScanPlan make_scan_plan(const ArrayRef& src, int axis, char* dst, const std::int64_t* dst_strides, ScanKind kind);

}  // namespace kcore
