#include "kcore/gemm_plan.hpp"

#include "kcore/layout.hpp"

namespace kcore {

bool contraction_operand(const ArrayRef& x, bool batched, const int* free, int nfree, int k, MatrixOperand& op,
                         std::int64_t& rows) {
  std::int64_t shape[kMaxDims], stride[kMaxDims];
  rows = 1;
  for (int i = 0; i < nfree; ++i) {
    shape[i] = x.shape[free[i]];
    stride[i] = x.strides[free[i]];
    rows *= shape[i];
  }
  const std::int64_t* strides[1] = {stride};
  Dims d = gather_dims(nfree, shape, strides, 1);
  coalesce(d);
  if (d.ndim > 1) return false;
  op.data = x.data;
  op.item = batched ? x.strides[0] : 0;
  op.row = d.ndim == 1 ? d.dim[0].stride[0] : itemsize(x.dtype);
  op.col = x.strides[k];
  return true;
}

}  // namespace kcore
