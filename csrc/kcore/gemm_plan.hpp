// Batched matrix multiply C[i] = A[i] @ B[i] over arbitrary strides. All three share one float
// dtype; C is C-contiguous (batch, M, N).
#pragma once
#include <cstdint>

#include "kcore/array_ref.hpp"

namespace kcore {

// A stack of matrices by byte strides: between items (0: one matrix for every item), rows and
// columns.
struct MatrixOperand {
  const char* data = nullptr;
  std::int64_t item = 0, row = 0, col = 0;
};

struct GemmPlan {
  DType dtype = DType::f32;
  std::int64_t batch = 1, M = 0, N = 0, K = 0;
  MatrixOperand a;     // M x K
  MatrixOperand b;     // K x N
  char* c = nullptr;   // C-contiguous
};

// x seen as a stack of (rows x k) matrices for a contraction over axis `k`: the item axis 0 when
// `batched`, the `nfree` free axes in order flattened into the rows (layout.hpp's coalesce), the
// contracted axis as the columns. Returns false when the free axes do not walk as one dim (the
// caller then packs them contiguously and asks again). `rows` gets the product of the free sizes.
bool contraction_operand(const ArrayRef& x, bool batched, const int* free, int nfree, int k, MatrixOperand& op,
                         std::int64_t& rows);

}  // namespace kcore
