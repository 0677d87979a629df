// Convolutions, pooling and resizing over channels_last data, as kcore/_api/conv.py calls them: up to three
// spatial dims, seen as three (a missing one has size 1), explicit zero padding before each dim
// (the output sizes say how much comes after), every operand C-contiguous and of one float dtype.
#pragma once
#include <cstdint>
#include <limits>

#include "kcore/dtype.hpp"

namespace kcore {

struct ConvGeometry {
  std::int64_t batch = 0, channels = 0;
  std::int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  std::int64_t stride[3] = {1, 1, 1}, dil[3] = {1, 1, 1}, pad[3] = {0, 0, 0};  // pad: before
};

// y (batch, *out, filters) = x (batch, *in, C) correlated with w (*k, C, filters); depthwise:
// w (*k, C, filters = multiplier), output channel c * multiplier + j from input channel c.
struct ConvPlan {
  DType dtype = DType::f32;
  ConvGeometry g;
  std::int64_t filters = 0;
  bool depthwise = false;
  // The correlation's adjoint instead (a transposed convolution): x holds (batch, *out,
  // filters), y gets (batch, *in, C), each input position the sum of what its taps receive
  // (depthwise: x holds (batch, *out, C * multiplier), each input channel summing its outputs').
  bool adjoint = false;
  const char* x = nullptr;
  const char* w = nullptr;
  char* y = nullptr;
  // Depthwise only: with gy (batch, *out, C * multiplier), y gets instead the gradient of
  // sum(conv(x, w) * gy) with respect to w, of w's shape (*k, C, multiplier); w is not read.
  const char* gy = nullptr;
  // The epilogue applied to each output before it is stored (what Keras chains after a
  // convolution: bias_add, batch normalization in inference, a residual add, relu/relu6/clip):
  // (y + bias[c]) * scale[c] + shift[c] + residual (rounded after each, as separate ops), then
  // limited to [lo, hi] (NaN kept). bias/scale/shift: one per output channel, of the dtype, or
  // null; residual: an array of y's shape and dtype (C-contiguous), or null.
  const char* bias = nullptr;
  const char* scale = nullptr;
  const char* shift = nullptr;
  const char* residual = nullptr;
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
};

enum class PoolMode : std::uint8_t { max, avg };

// y (batch, *out, C): the max, or the average over the positions inside x, of each window of
// k positions (dil: 1). With gy (the gradient of a result of that shape, C-contiguous): y is
// instead the gradient with respect to x, of x's shape.
struct PoolPlan {
  DType dtype = DType::f32;
  ConvGeometry g;
  PoolMode mode = PoolMode::max;
  const char* x = nullptr;
  const char* gy = nullptr;
  char* y = nullptr;
};

// y: x (C-contiguous, `rank` dims, elements of `item` bytes) with before[d] zeros added before
// and after[d] after each dim d (Keras's temporal and spatial paddings).
struct PadPlan {
  static constexpr int kMaxRank = 8;
  int rank = 0;
  std::int64_t item = 0;
  std::int64_t shape[kMaxRank] = {}, before[kMaxRank] = {}, after[kMaxRank] = {};
  const char* x = nullptr;
  char* y = nullptr;
};

// The gradient of batch normalization in training (normalize_batch_in_training: x normalised by
// its own statistics), for x and gy C-contiguous of shape (outer, channels, inner), the statistics
// per channel over outer and inner (n = outer * inner values each). With c = x - mean,
// r = 1 / sqrt(var + epsilon) and s = gamma * r (r without gamma):
//   sum_g = sum(gy), sum_gc = sum(gy * c)     per channel, in float64
//   dx = gy * s + (c * k1 + k0),  k1 = -s r^2 sum_gc / n,  k0 = -s sum_g / n
// mean, var and gamma (or null): channels float64 values; dx: x's shape and dtype.
struct NormGradPlan {
  DType dtype = DType::f32;
  std::int64_t outer = 0, channels = 0, inner = 1;
  const char* x = nullptr;
  const char* gy = nullptr;
  const double* mean = nullptr;
  const double* var = nullptr;
  const double* gamma = nullptr;
  double epsilon = 1e-3;
  char* dx = nullptr;
  double* sum_g = nullptr;
  double* sum_gc = nullptr;
};

enum class ResizeMode : std::uint8_t { nearest, bilinear };

// y (batch, *in * factor, C): x (batch, *in, C) with each spatial dim scaled by its integer
// factor, as TensorFlow's legacy resize (nearest: each element repeated; bilinear: output o
// samples x at o / factor, the last index repeated past the end).
struct ResizePlan {
  DType dtype = DType::f32;
  std::int64_t batch = 0, channels = 0;
  std::int64_t in[3] = {1, 1, 1}, factor[3] = {1, 1, 1};
  int ndim = 3;  // the spatial dims there are (the last ndim of the three): bilinear blends along those
  ResizeMode mode = ResizeMode::nearest;
  const char* x = nullptr;
  char* y = nullptr;
};

}  // namespace kcore
