#include "kcore/reduce_plan.hpp"

#include <stdexcept>

namespace kcore {

ReducePlan make_reduce_plan(const ArrayRef& in, const bool* reduce_axis, char* out,
                            DType out_dtype, ReduceKind kind) {
  if (in.ndim < 0 || in.ndim > kMaxDims) throw std::invalid_argument("reduce: too many dimensions");
  const DType expected = is_index_kind(kind) ? DType::i64
                         : kind == ReduceKind::any || kind == ReduceKind::all ? DType::b8 : in.dtype;
  if (out_dtype != expected && !(kind == ReduceKind::sum && out_dtype == sum_accumulator(in.dtype)))
    throw std::invalid_argument("reduce: no such result dtype for this reduction");
  ReducePlan p;
  p.kind = kind;
  p.in_dtype = in.dtype;
  p.out_dtype = out_dtype;

  // Strides of the C-contiguous result over the kept axes, in original axis order.
  std::int64_t out_strides[kMaxDims];
  std::uint8_t role[kMaxDims];
  std::int64_t step = itemsize(out_dtype);
  p.count = 1;
  p.noutputs = 1;
  for (int i = in.ndim - 1; i >= 0; --i) {
    role[i] = reduce_axis[i] ? kReduced : kKept;
    out_strides[i] = reduce_axis[i] ? 0 : step;
    if (reduce_axis[i]) p.count *= in.shape[i];
    else step *= in.shape[i], p.noutputs *= in.shape[i];
  }
  p.in = in.data;
  p.out = out;
  if (p.count == 0 || p.noutputs == 0) return p;  // the engine writes `noutputs` identities

  const std::int64_t* strides[2] = {out_strides, in.strides};
  Dims d = gather_dims(in.ndim, in.shape, strides, 2, role);
  std::int64_t offset[2] = {0, 0};
  flip_negative(d, kIn, is_index_kind(kind) ? 1u << kReduced : 0u, offset);
  sort_by_stride(d, kIn);
  coalesce(d);
  p.out += offset[kOut];
  p.in += offset[kIn];

  bool any_reduced = false, any_kept = false;
  for (int k = 0; k < d.ndim; ++k) (d.dim[k].role == kReduced ? any_reduced : any_kept) = true;
  p.vertical = any_reduced && any_kept && d.dim[d.ndim - 1].role == kKept;
  if (p.vertical) p.col = d.dim[--d.ndim];
  for (int k = 0; k < d.ndim; ++k)
    if (d.dim[k].role == kKept) p.dim[p.n_outer++] = d.dim[k];
  for (int k = 0; k < d.ndim; ++k)
    if (d.dim[k].role == kReduced) p.dim[p.n_outer + p.n_red++] = d.dim[k];
  if (p.n_red == 0) p.dim[p.n_outer + p.n_red++] = LoopDim{1, {0, 0, 0, 0}, kReduced};  // size-1 axes only
  return p;
}

}  // namespace kcore
