#include "kcore/elementwise_plan.hpp"

#include <cstdlib>
#include <stdexcept>

namespace kcore {

namespace {

// Merges the last dim into the one outside it while rows are short (see ElementwisePlan::period):
// every operand must continue contiguously across rows, be broadcast across them with a
// contiguous row (periodic), or be one value throughout both dims.
void merge_short_rows(ElementwisePlan& p) {
  constexpr std::int64_t kShortRowBytes = 256;
  while (p.ndim >= 2) {
    LoopDim& last = p.dim[p.ndim - 1];
    const LoopDim& outer = p.dim[p.ndim - 2];
    const std::int64_t out_item = itemsize(p.dtype[kOut]);
    if (last.size * out_item >= kShortRowBytes) return;
    std::int64_t period[kMaxOperands] = {};
    for (int op = 0; op < p.nops; ++op) {
      const std::int64_t item = itemsize(p.dtype[op]), s_last = last.stride[op], s_outer = outer.stride[op];
      if (p.period[op] != 0) return;  // (already periodic: one merge per operand)
      if (s_last == item && s_outer == last.size * item) continue;         // contiguous across rows
      if (op != kOut && s_last == item && s_outer == 0) period[op] = last.size;  // the same row again
      else if (op != kOut && s_last == 0 && s_outer == 0) continue;           // one value
      else return;
    }
    LoopDim merged = outer;
    merged.size = outer.size * last.size;
    for (int op = 0; op < p.nops; ++op) {
      merged.stride[op] = last.stride[op];
      p.period[op] = period[op];
    }
    p.dim[p.ndim - 2] = merged;
    --p.ndim;
  }
}

// A same-type copy whose last dim is contiguous in both (a pixel's channels) but short, and whose
// next dim is not contiguous with it in the source (pixels reversed or strided): the two dims
// become one dim of items of the last dim's bytes (see ElementwisePlan::item_bytes), so lines run
// the image's width rather than a few channels. Source items must lie at least an item apart
// (the kernel's moves may read an item's neighbour bytes, never past the farthest item).
void merge_items(ElementwisePlan& p) {
  constexpr std::int64_t kMaxItemBytes = 64;
  if (p.ndim < 2) return;
  const LoopDim& last = p.dim[p.ndim - 1];
  const LoopDim& outer = p.dim[p.ndim - 2];
  const std::int64_t item = itemsize(p.dtype[kOut]), bytes = last.size * item;
  if (last.size < 2 || bytes > kMaxItemBytes || last.stride[kIn] != item) return;
  if (outer.stride[kOut] != bytes || std::llabs(outer.stride[kIn]) < bytes) return;
  --p.ndim;  // (the outer dim, now last, keeps its strides: they step whole items)
  p.item_bytes = bytes;
}

}  // namespace

ElementwisePlan make_elementwise_plan(ElementwiseKind kind, const ArrayRef& out, const ArrayRef* in, int nin) {
  if (nin < 1 || nin >= kMaxOperands) throw std::invalid_argument("elementwise: too many operands");
  ElementwisePlan p;
  p.kind = kind;
  p.nops = nin + 1;
  const std::int64_t* strides[kMaxOperands];
  p.dtype[kOut] = out.dtype;
  p.data[kOut] = out.data;
  strides[kOut] = out.strides;
  for (int i = 0; i < nin; ++i) {
    if (in[i].ndim != out.ndim) throw std::invalid_argument("elementwise: operands differ in rank");
    for (int k = 0; k < out.ndim; ++k)
      if (in[i].shape[k] != out.shape[k]) throw std::invalid_argument("elementwise: operands differ in shape");
    p.dtype[kIn + i] = in[i].dtype;
    p.data[kIn + i] = in[i].data;
    strides[kIn + i] = in[i].strides;
  }
  p.size = 1;
  for (int k = 0; k < out.ndim; ++k) p.size *= out.shape[k];
  if (p.size == 0) return p;

  Dims d = gather_dims(out.ndim, out.shape, strides, p.nops);
  sort_by_stride(d, kOut);
  coalesce(d);
  if (d.ndim == 0) {  // a single element
    LoopDim& one = d.dim[d.ndim++];
    one.size = 1;
    for (int op = 0; op < p.nops; ++op) one.stride[op] = itemsize(p.dtype[op]);
    one.role = 0;
  }
  p.ndim = d.ndim;
  for (int k = 0; k < d.ndim; ++k) p.dim[k] = d.dim[k];
  const int last = p.ndim - 1;
  if (p.dim[last].stride[kOut] != itemsize(out.dtype))
    throw std::invalid_argument("elementwise: the output must be contiguous in its innermost dim");
  if (nin > 1) merge_short_rows(p);
  if (kind == ElementwiseKind::copy && nin == 1 && p.dtype[kIn] == p.dtype[kOut]) merge_items(p);
  if (nin == 1 && p.item_bytes == 0) {
    const std::int64_t unit = itemsize(p.dtype[kIn]);
    if (p.dim[last].stride[kIn] != unit)
      for (int k = 0; k < last; ++k)
        if (std::llabs(p.dim[k].stride[kIn]) == unit) p.src_inner = k;
  }
  return p;
}

}  // namespace kcore
