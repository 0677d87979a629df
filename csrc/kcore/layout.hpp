// The one home of layout logic (after ATen's TensorIterator and bottleneck's iterators): every
// plan describes its operands over one shape as loop dims, each with one byte stride per operand,
// and brings them into canonical form here: size-1 dims dropped, negative strides walked forwards
// where the plan allows it, dims ordered outermost first by one operand's memory order, and
// neighbours that every operand walks as one dim merged. The plans (reduce, scan, elementwise,
// GEMM operands) then only decide their loop shape; kernels walk dims with kernels/walk.hpp.
#pragma once
#include <cstdint>

#include "kcore/array_ref.hpp"

namespace kcore {

// An output and up to three inputs (elementwise ops with a condition or two bounds).
constexpr int kMaxOperands = 4;
// Operand slots of the two-operand plans (reduce, scan, copy): the output first, as in ATen.
constexpr int kOut = 0, kIn = 1;

struct LoopDim {
  std::int64_t size;
  std::int64_t stride[kMaxOperands];  // bytes; only the plan's operands are meaningful
  std::uint8_t role;                  // the plan's meaning for the dim (kept, reduced, ...)
};

// One loop nest over `nops` operands: dims[0, ndim), outermost first.
struct Dims {
  int nops = 0;
  int ndim = 0;
  LoopDim dim[kMaxDims];  // first ndim meaningful (left uninitialised: this is on every call path)
};

// The axes of `shape` (ndim of them) with each operand's strides (strides[op][axis]), in axis
// order, size-1 axes dropped; role[axis] tags each (nullptr: all 0). Axes marked in `skip`
// (nullptr: none) are left out too. Throws std::invalid_argument past kMaxDims or kMaxOperands.
Dims gather_dims(int ndim, const std::int64_t* shape, const std::int64_t* const* strides, int nops,
                 const std::uint8_t* role = nullptr, const bool* skip = nullptr);

// Walks every dim on which operand `key` has a negative stride backwards instead, so that the
// key operand's walk moves forwards in memory; dims whose role bit is set in `keep_role_mask`
// keep their direction. Adds to offset[op] the byte offset of each operand's new first element.
void flip_negative(Dims& d, int key, unsigned keep_role_mask, std::int64_t* offset);

// Orders dims outermost first by |stride| of operand `key` (stable: ties keep their order).
void sort_by_stride(Dims& d, int key);

// Merges neighbours of the same role that every operand walks as one dim.
void coalesce(Dims& d);

}  // namespace kcore
