// Batched matrix multiply C[b] = A[b] @ B[b] over arbitrary strides (bytes; zero batch strides
// broadcast). C is C-contiguous (batch, M, N). All three share one float dtype.
#pragma once
#include <cstdint>

#include "kcore/dtype.hpp"

namespace kcore {

struct GemmPlan {
  DType dtype = DType::f32;
  std::int64_t batch = 1, M = 0, N = 0, K = 0;
  const char* a = nullptr;
  std::int64_t a_b = 0, a_m = 0, a_k = 0;
  const char* b = nullptr;
  std::int64_t b_b = 0, b_k = 0, b_n = 0;
  char* c = nullptr;  // C-contiguous
};

}  // namespace kcore
