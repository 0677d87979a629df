// A non-owning view of an N-d strided array: what the bindings hand to the core.
#pragma once
#include <cstdint>

#include "kcore/dtype.hpp"

namespace kcore {

constexpr int kMaxDims = 64;  // NumPy 2's NPY_MAXDIMS

// Strides are signed byte counts, as in NumPy; zero and negative strides are valid.
struct ArrayRef {
  char* data = nullptr;
  DType dtype = DType::f32;
  int ndim = 0;
  // Only the first ndim entries are meaningful (left uninitialised: this is on every call path).
  std::int64_t shape[kMaxDims];
  std::int64_t strides[kMaxDims];
};

}  // namespace kcore
