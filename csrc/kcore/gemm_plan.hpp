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

// Work on finished blocks of C while they are still in cache (a convolution's bias, batch
// normalization, residual add and clip): apply(ctx, c, rows, cols, ldc, col0, row0) for rows x
// cols elements at c, row stride ldc elements, the block's first column col0 of N and first row
// row0 (of the product's one item, counted from `first_row`). Each element of C gets it once,
// after its last multiply-add; a float16 product's elements are then still its float32 sums
// (rounded after the epilogue). Products of one item only.
struct GemmEpilogue {
  void (*apply)(const void* ctx, char* c, std::int64_t rows, std::int64_t cols, std::int64_t ldc, std::int64_t col0,
                std::int64_t row0) = nullptr;
  const void* ctx = nullptr;
  std::int64_t first_row = 0;  // the row number of the product's row 0 (a product over a block of rows)
  void operator()(char* c, std::int64_t rows, std::int64_t cols, std::int64_t ldc, std::int64_t col0,
                  std::int64_t row0) const {
    if (apply != nullptr && rows > 0 && cols > 0) apply(ctx, c, rows, cols, ldc, col0, first_row + row0);
  }
};

// Columns [col, col + len) of a block of A, contiguous in memory `offset` elements after each
// row's start.
struct GemmRun {
  std::int64_t col, len, offset;
};

// A given by its rows rather than as a matrix (a convolution's windows: rows are output
// positions, each a few runs of the input at the same offsets from the window's start, never
// stored whole). starts(ctx, m0, rows, out) writes the address of each row's first element for
// rows [m0, m0 + rows) and returns true, or returns false when some of them are not so laid out
// (a window in the padding): fill(ctx, m0, rows, k0, cols, out) then writes rows x columns
// [k0, k0 + cols) row-major (row stride `cols`) at out. runs(ctx, k0, cols, count) gives columns
// [k0, k0 + cols) as runs in order, valid on the calling thread until its next call. With
// in_place the micro-kernel reads the runs where they lie (no packing: best where few column
// panels would reuse a packed one; float32/float64); else they are packed. One item only.
struct GemmRowsOfA {
  bool (*starts)(const void* ctx, std::int64_t m0, std::int64_t rows, const char** out) = nullptr;
  const GemmRun* (*runs)(const void* ctx, std::int64_t k0, std::int64_t cols, std::int64_t* count) = nullptr;
  void (*fill)(const void* ctx, std::int64_t m0, std::int64_t rows, std::int64_t k0, std::int64_t cols,
               char* out) = nullptr;
  const void* ctx = nullptr;
  bool in_place = false;
  bool active() const { return starts != nullptr; }
};

struct GemmPlan {
  DType dtype = DType::f32;
  std::int64_t batch = 1, M = 0, N = 0, K = 0;
  MatrixOperand a;     // M x K (unused with a_rows)
  MatrixOperand b;     // K x N
  char* c = nullptr;   // C-contiguous
  GemmEpilogue epilogue;
  GemmRowsOfA a_rows;
  // false: kcore's packed kernel even where the external BLAS would take the product (a
  // convolution's, so that its bits do not depend on whether an epilogue is fused).
  bool blas_allowed = true;
};

// x seen as a stack of (rows x k) matrices for a contraction over axis `k`: the item axis 0 when
// `batched`, the `nfree` free axes in order flattened into the rows (layout.hpp's coalesce), the
// contracted axis as the columns. Returns false when the free axes do not walk as one dim (the
// caller then packs them contiguously and asks again). `rows` gets the product of the free sizes.
bool contraction_operand(const ArrayRef& x, bool batched, const int* free, int nfree, int k, MatrixOperand& op,
                         std::int64_t& rows);

}  // namespace kcore
