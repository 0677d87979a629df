#include "kcore/layout.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace kcore {

Dims gather_dims(int ndim, const std::int64_t* shape, const std::int64_t* const* strides, int nops,
                 const std::uint8_t* role, const bool* skip) {
  if (ndim < 0 || ndim > kMaxDims) throw std::invalid_argument("layout: too many dimensions");
  if (nops < 1 || nops > kMaxOperands) throw std::invalid_argument("layout: too many operands");
  Dims d;
  d.nops = nops;
  for (int i = 0; i < ndim; ++i) {
    if (shape[i] == 1 || (skip != nullptr && skip[i])) continue;
    LoopDim& ld = d.dim[d.ndim++];
    ld.size = shape[i];
    for (int op = 0; op < nops; ++op) ld.stride[op] = strides[op][i];
    ld.role = role != nullptr ? role[i] : 0;
  }
  return d;
}

void flip_negative(Dims& d, int key, unsigned keep_role_mask, std::int64_t* offset) {
  for (int k = 0; k < d.ndim; ++k) {
    LoopDim& ld = d.dim[k];
    if (ld.stride[key] >= 0 || (keep_role_mask >> ld.role) & 1u) continue;
    for (int op = 0; op < d.nops; ++op) {
      offset[op] += (ld.size - 1) * ld.stride[op];
      ld.stride[op] = -ld.stride[op];
    }
  }
}

void sort_by_stride(Dims& d, int key) {
  // An insertion sort: stable, and without the buffer std::stable_sort allocates on every call
  // (there are at most kMaxDims dims, usually a handful).
  for (int k = 1; k < d.ndim; ++k) {
    const LoopDim cur = d.dim[k];
    const std::int64_t s = std::llabs(cur.stride[key]);
    int j = k;
    for (; j > 0 && std::llabs(d.dim[j - 1].stride[key]) < s; --j) d.dim[j] = d.dim[j - 1];
    d.dim[j] = cur;
  }
}

void coalesce(Dims& d) {
  int m = 0;
  for (int k = 0; k < d.ndim; ++k) {
    if (m > 0) {
      LoopDim& prev = d.dim[m - 1];
      const LoopDim& cur = d.dim[k];
      bool nested = prev.role == cur.role;
      for (int op = 0; nested && op < d.nops; ++op) nested = prev.stride[op] == cur.stride[op] * cur.size;
      if (nested) {
        prev.size *= cur.size;
        for (int op = 0; op < d.nops; ++op) prev.stride[op] = cur.stride[op];
        continue;
      }
    }
    d.dim[m++] = d.dim[k];
  }
  d.ndim = m;
}

}  // namespace kcore
