#include "kcore/reduce_plan.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace kcore {
namespace {

struct Dim {
  std::int64_t size, in_stride, out_stride;
  bool reduced;
  int axis;
};

bool is_index_kind(ReduceKind k) { return k == ReduceKind::argmax || k == ReduceKind::argmin; }

}  // namespace

ReducePlan make_reduce_plan(const ArrayRef& in, const bool* reduce_axis, char* out,
                            DType out_dtype, ReduceKind kind) {
  if (in.ndim < 0 || in.ndim > kMaxDims) throw std::invalid_argument("reduce: too many dimensions");
  ReducePlan p;
  p.kind = kind;
  p.in_dtype = in.dtype;
  p.out_dtype = out_dtype;

  // Output strides of the C-contiguous result over the kept axes, in original axis order.
  std::int64_t out_strides[kMaxDims];
  std::int64_t step = itemsize(out_dtype);
  for (int i = in.ndim - 1; i >= 0; --i) {
    out_strides[i] = 0;
    if (reduce_axis[i]) continue;
    out_strides[i] = step;
    step *= in.shape[i];
  }

  const char* base = in.data;
  Dim dims[kMaxDims];
  int n = 0;
  p.count = 1;
  p.noutputs = 1;
  for (int i = 0; i < in.ndim; ++i) {
    if (reduce_axis[i]) p.count *= in.shape[i]; else p.noutputs *= in.shape[i];
    if (in.shape[i] == 1) continue;
    dims[n++] = Dim{in.shape[i], in.strides[i], reduce_axis[i] ? 0 : out_strides[i],
                    reduce_axis[i], i};
  }
  if (p.count == 0 || p.noutputs == 0) {
    // Nothing to read: the engine writes `noutputs` identities to a contiguous output.
    p.in = base;
    p.out = out;
    p.n_red = 0;
    p.n_outer = 0;
    return p;
  }

  // Flip negative strides so loops walk memory forwards. Index-returning reductions keep the
  // direction of the reduced axis, because "first occurrence" depends on it.
  for (int k = 0; k < n; ++k) {
    Dim& d = dims[k];
    if (d.in_stride >= 0 || (d.reduced && is_index_kind(kind))) continue;
    base += (d.size - 1) * d.in_stride;
    d.in_stride = -d.in_stride;
    if (!d.reduced) {
      out += (d.size - 1) * d.out_stride;
      d.out_stride = -d.out_stride;
    }
  }

  // Memory order: largest |stride| first. Stable, so equal strides keep axis order.
  std::stable_sort(dims, dims + n, [](const Dim& a, const Dim& b) {
    return std::llabs(a.in_stride) > std::llabs(b.in_stride);
  });

  // Coalesce neighbours that walk memory (and the output) as one dim.
  int m = 0;
  for (int k = 0; k < n; ++k) {
    if (m > 0) {
      Dim& prev = dims[m - 1];
      const Dim& cur = dims[k];
      if (prev.reduced == cur.reduced && prev.in_stride == cur.in_stride * cur.size &&
          prev.out_stride == cur.out_stride * cur.size) {
        prev.size *= cur.size;
        prev.in_stride = cur.in_stride;
        prev.out_stride = cur.out_stride;
        continue;
      }
    }
    dims[m++] = dims[k];
  }
  n = m;

  p.in = base;
  p.out = out;
  bool any_reduced = false, any_kept = false;
  for (int k = 0; k < n; ++k) (dims[k].reduced ? any_reduced : any_kept) = true;
  p.vertical = any_reduced && any_kept && n > 0 && !dims[n - 1].reduced;

  for (int k = 0; k < n; ++k) {
    const LoopDim ld{dims[k].size, dims[k].in_stride, dims[k].out_stride};
    if (dims[k].reduced) {
      p.red[p.n_red++] = ld;
    } else if (p.vertical && k == n - 1) {
      p.col = ld;
    } else {
      p.outer[p.n_outer++] = ld;
    }
  }
  if (p.n_red == 0) p.red[p.n_red++] = LoopDim{1, 0, 0};  // reducing over size-1 axes only
  return p;
}

}  // namespace kcore
