// conv_nd, conv_transpose_nd, pool_nd, resize_nd and pad_nd: the convolution family's native
// entries (kcore/conv_plan.hpp), called by kcore/_kernels.py with channels_last arrays and
// explicit (before, after) zero padding per spatial dim. They take C-contiguous, aligned float16/32/64 arrays of one dtype and return None
// for anything else (the caller makes such copies and asks again).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "bindings/array_view.hpp"
#include "bindings/results.hpp"
#include "bindings/without_gil.hpp"
#include "kcore/conv_plan.hpp"
#include "kcore/dispatch.hpp"

namespace py = pybind11;

namespace kcore_py {
namespace {

bool takes(py::handle x) {
  if (!is_plain_float_array(x)) return false;
  const int flags = py::detail::array_proxy(x.ptr())->flags;
  return (flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) && (flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_);
}

// The geometry of x (batch, *spatial, C) for windows of `k` (spatial sizes) with these strides,
// dilations and (before, after) pads; spatial dims right-aligned into three.
kcore::ConvGeometry geometry(const py::array& x, const std::vector<std::int64_t>& k, const std::vector<std::int64_t>& strides,
                             const std::vector<std::int64_t>& dilation, const std::vector<std::int64_t>& pads,
                             const char* fn) {
  const int nd = static_cast<int>(x.ndim()) - 2;
  if (nd < 1 || nd > 3 || static_cast<int>(k.size()) != nd || static_cast<int>(strides.size()) != nd ||
      static_cast<int>(dilation.size()) != nd || static_cast<int>(pads.size()) != 2 * nd)
    throw py::value_error(std::string(fn) + ": expected x of rank 3 to 5 and one size, stride, dilation and pad pair "
                          "per spatial dim");
  kcore::ConvGeometry g;
  g.batch = x.shape(0);
  g.channels = x.shape(nd + 1);
  for (int i = 0; i < nd; ++i) {
    const int d = 3 - nd + i;
    const std::int64_t before = pads[2 * i], after = pads[2 * i + 1];
    if (k[i] < 1 || strides[i] < 1 || dilation[i] < 1 || before < 0 || after < 0)
      throw py::value_error(std::string(fn) + ": sizes, strides and dilations must be >= 1 and pads >= 0");
    g.in[d] = x.shape(1 + i);
    g.k[d] = k[i];
    g.stride[d] = strides[i];
    g.dil[d] = dilation[i];
    g.pad[d] = before;
    const std::int64_t span = (k[i] - 1) * dilation[i] + 1, padded = g.in[d] + before + after;
    g.out[d] = padded >= span ? (padded - span) / strides[i] + 1 : 0;
  }
  return g;
}

py::array result(const py::array& x, const kcore::ConvGeometry& g, int nd, std::int64_t channels) {
  std::int64_t shape[5];
  shape[0] = g.batch;
  for (int i = 0; i < nd; ++i) shape[1 + i] = g.out[3 - nd + i];
  shape[nd + 1] = channels;
  return empty_c_shape(x.dtype(), nd + 2, shape);
}

// A per-output-channel epilogue operand: None, or a C-contiguous 1-D array of x's dtype and length.
const char* channel_operand(const py::object& v, const py::array& x, std::int64_t channels, const char* what) {
  if (v.is_none()) return nullptr;
  if (!takes(v) || !same_dtype(v, x))
    throw py::type_error(std::string("conv: ") + what + " must be a C-contiguous array of x's dtype");
  const auto a = py::reinterpret_borrow<py::array>(v);
  if (a.ndim() != 1 || a.shape(0) != channels)
    throw py::value_error(std::string("conv: ") + what + " must have shape (" + std::to_string(channels) + ",)");
  return static_cast<const char*>(a.data());
}

py::object conv_nd(py::handle xh, py::handle wh, const std::vector<std::int64_t>& strides,
                   const std::vector<std::int64_t>& dilation, const std::vector<std::int64_t>& pads, bool depthwise,
                   const py::object& scale, const py::object& shift, double lo, double hi, const py::object& bias,
                   const py::object& residual) {
  if (!takes(xh) || !takes(wh) || !same_dtype(xh, wh)) return py::none();
  const auto x = py::reinterpret_borrow<py::array>(xh), w = py::reinterpret_borrow<py::array>(wh);
  const int nd = static_cast<int>(x.ndim()) - 2;
  if (w.ndim() != x.ndim()) throw py::value_error("conv: the kernel must have rank " + std::to_string(x.ndim()));
  std::vector<std::int64_t> k(static_cast<std::size_t>(std::max(nd, 0)));
  for (int i = 0; i < nd; ++i) k[i] = w.shape(i);
  kcore::ConvPlan p;
  p.g = geometry(x, k, strides, dilation, pads, "conv");
  if (w.shape(nd) != p.g.channels)
    throw py::value_error("conv: the kernel has " + std::to_string(w.shape(nd)) + " input channels, x has " +
                          std::to_string(p.g.channels));
  p.dtype = native_float_dtype(x, "conv");
  p.filters = w.shape(nd + 1);
  p.depthwise = depthwise;
  const std::int64_t out_channels = depthwise ? p.g.channels * p.filters : p.filters;
  py::array out = result(x, p.g, nd, out_channels);
  p.bias = channel_operand(bias, x, out_channels, "bias");
  p.scale = channel_operand(scale, x, out_channels, "scale");
  p.shift = channel_operand(shift, x, out_channels, "shift");
  if (!residual.is_none()) {
    if (!takes(residual) || !same_dtype(residual, x))
      throw py::type_error("conv: residual must be a C-contiguous array of x's dtype");
    const auto r = py::reinterpret_borrow<py::array>(residual);
    bool same = r.ndim() == out.ndim();
    for (py::ssize_t d = 0; same && d < r.ndim(); ++d) same = r.shape(d) == out.shape(d);
    if (!same) throw py::value_error("conv: residual must have the result's shape");
    p.residual = static_cast<const char*>(r.data());
  }
  if (std::isnan(lo) || std::isnan(hi)) throw py::value_error("conv: the clip bounds must not be NaN");
  p.lo = lo;
  p.hi = hi;
  p.x = static_cast<const char*>(x.data());
  p.w = static_cast<const char*>(w.data());
  p.y = static_cast<char*>(out.mutable_data());
  without_gil([&] { kcore::kernels().conv(p); });
  return std::move(out);
}

// The transpose of conv_nd: y (batch, *out_sp, C) from x (batch, *in, F) and w (*k, C, F)
// (depthwise: F = C * multiplier, w (*k, C, multiplier)), where the convolution of a (batch,
// *out_sp, C) array zero-padded by pads gives x's spatial shape.
py::object conv_transpose_nd(py::handle xh, py::handle wh, const std::vector<std::int64_t>& out_sp,
                             const std::vector<std::int64_t>& strides, const std::vector<std::int64_t>& dilation,
                             const std::vector<std::int64_t>& pads, bool depthwise) {
  if (!takes(xh) || !takes(wh) || !same_dtype(xh, wh)) return py::none();
  const auto x = py::reinterpret_borrow<py::array>(xh), w = py::reinterpret_borrow<py::array>(wh);
  const int nd = static_cast<int>(x.ndim()) - 2;
  if (nd < 1 || nd > 3 || w.ndim() != x.ndim() || static_cast<int>(out_sp.size()) != nd)
    throw py::value_error("conv_transpose: expected x of rank 3 to 5, a kernel of x's rank and one out_sp size per "
                          "spatial dim");
  std::vector<std::int64_t> k(static_cast<std::size_t>(std::max(nd, 0))), shape(static_cast<std::size_t>(nd + 2));
  shape[0] = x.shape(0);
  for (int i = 0; i < nd; ++i) {
    if (out_sp[i] < 0) throw py::value_error("conv_transpose: out_sp must be sizes >= 0");
    k[i] = w.shape(i);
    shape[1 + i] = out_sp[i];
  }
  shape[nd + 1] = w.shape(nd);
  const std::int64_t takes_channels = depthwise ? w.shape(nd) * w.shape(nd + 1) : w.shape(nd + 1);
  if (takes_channels != x.shape(nd + 1))
    throw py::value_error("conv_transpose: the kernel takes " + std::to_string(takes_channels) + " input channels, x has " +
                          std::to_string(x.shape(nd + 1)));
  // The forward convolution's geometry: from the result's shape to x's.
  py::array out = empty_c_shape(x.dtype(), nd + 2, shape.data());
  kcore::ConvPlan p;
  p.g = geometry(out, k, strides, dilation, pads, "conv_transpose");
  for (int i = 0; i < nd; ++i)
    if (p.g.out[3 - nd + i] != x.shape(1 + i))
      throw py::value_error("conv_transpose: the convolution of the output shape gives spatial size " +
                            std::to_string(p.g.out[3 - nd + i]) + " in dim " + std::to_string(i) + ", x has " +
                            std::to_string(x.shape(1 + i)));
  p.dtype = native_float_dtype(x, "conv_transpose");
  p.filters = depthwise ? w.shape(nd + 1) : x.shape(nd + 1);
  p.depthwise = depthwise;
  p.adjoint = true;
  p.x = static_cast<const char*>(x.data());
  p.w = static_cast<const char*>(w.data());
  p.y = static_cast<char*>(out.mutable_data());
  without_gil([&] { kcore::kernels().conv(p); });
  return std::move(out);
}

// The gradient of conv_nd(x, w, strides, dilation, pads, depthwise=True) with respect to w, of
// shape (*k, C, multiplier), given gy (the gradient of its result, (batch, *out, C * multiplier)).
py::object depthwise_kernel_grad_nd(py::handle xh, py::handle gyh, const std::vector<std::int64_t>& k,
                                    const std::vector<std::int64_t>& strides, const std::vector<std::int64_t>& dilation,
                                    const std::vector<std::int64_t>& pads) {
  if (!takes(xh) || !takes(gyh) || !same_dtype(xh, gyh)) return py::none();
  const auto x = py::reinterpret_borrow<py::array>(xh), gy = py::reinterpret_borrow<py::array>(gyh);
  const int nd = static_cast<int>(x.ndim()) - 2;
  kcore::ConvPlan p;
  p.g = geometry(x, k, strides, dilation, pads, "depthwise_kernel_grad");
  const std::int64_t C = p.g.channels;
  bool fits = gy.ndim() == x.ndim() && gy.shape(0) == p.g.batch && (C == 0 || gy.shape(nd + 1) % C == 0);
  for (int i = 0; fits && i < nd; ++i) fits = gy.shape(1 + i) == p.g.out[3 - nd + i];
  if (!fits || (C == 0 && gy.shape(nd + 1) != 0))
    throw py::value_error("depthwise_kernel_grad: the gradient's shape is not the convolution's result's");
  p.dtype = native_float_dtype(x, "depthwise_kernel_grad");
  p.filters = C == 0 ? 0 : gy.shape(nd + 1) / C;
  p.depthwise = true;
  std::int64_t shape[5];
  for (int i = 0; i < nd; ++i) shape[i] = k[i];
  shape[nd] = C;
  shape[nd + 1] = p.filters;
  py::array out = empty_c_shape(x.dtype(), nd + 2, shape);
  p.x = static_cast<const char*>(x.data());
  p.gy = static_cast<const char*>(gy.data());
  p.y = static_cast<char*>(out.mutable_data());
  without_gil([&] { kcore::kernels().conv(p); });
  return std::move(out);
}

// C float64 values from a 1-D float64 array (what the Python layer passes), or a ValueError.
const double* channel_values(py::handle v, std::int64_t channels, const char* what) {
  const auto a = py::reinterpret_borrow<py::array>(v);
  if (!py::isinstance<py::array_t<double>>(v) || a.ndim() != 1 || a.shape(0) != channels ||
      !(a.flags() & py::array::c_style))
    throw py::value_error(std::string("batch_norm_grad: ") + what + " must be " + std::to_string(channels) +
                          " contiguous float64 values");
  return static_cast<const double*>(a.data());
}

// The gradient of normalize_batch_in_training for x (C-contiguous) whose statistics keep dims
// [axis, axis_end) (kcore/conv_plan.hpp's NormGradPlan): (dx, sum(gy), sum(gy * (x - mean))) per
// kept element, the sums float64. mean, var and gamma (or None): float64, one per kept element.
py::object batch_norm_grad_nd(py::handle xh, py::handle gyh, py::handle mean, py::handle var, py::handle gamma,
                              double epsilon, int axis, int axis_end) {
  if (!takes(xh) || !takes(gyh) || !same_dtype(xh, gyh)) return py::none();
  const auto x = py::reinterpret_borrow<py::array>(xh), gy = py::reinterpret_borrow<py::array>(gyh);
  const int nd = static_cast<int>(x.ndim());
  bool same = gy.ndim() == nd;
  for (int d = 0; same && d < nd; ++d) same = gy.shape(d) == x.shape(d);
  if (!same) throw py::value_error("batch_norm_grad: gy must have x's shape");
  if (axis < 0 || axis > axis_end || axis_end > nd)
    throw py::value_error("batch_norm_grad: the kept dims must be a range [axis, axis_end) of x's dims");
  kcore::NormGradPlan p;
  p.dtype = native_float_dtype(x, "batch_norm_grad");
  p.outer = p.channels = p.inner = 1;
  for (int d = 0; d < nd; ++d) (d < axis ? p.outer : d < axis_end ? p.channels : p.inner) *= x.shape(d);
  p.mean = channel_values(mean, p.channels, "mean");
  p.var = channel_values(var, p.channels, "var");
  p.gamma = gamma.is_none() ? nullptr : channel_values(gamma, p.channels, "gamma");
  p.epsilon = epsilon;
  py::array dx = empty_c_shape(x.dtype(), nd, x.shape());
  py::array_t<double> sum_g(p.channels), sum_gc(p.channels);
  p.x = static_cast<const char*>(x.data());
  p.gy = static_cast<const char*>(gy.data());
  p.dx = static_cast<char*>(dx.mutable_data());
  p.sum_g = sum_g.mutable_data();
  p.sum_gc = sum_gc.mutable_data();
  without_gil([&] { kcore::kernels().norm_grad(p); });
  return py::make_tuple(std::move(dx), std::move(sum_g), std::move(sum_gc));
}

// The plan of pool_nd / pool_grad_nd on x (fn names the entry in messages); its x, gy and y unset.
kcore::PoolPlan pool_plan(const py::array& x, const std::vector<std::int64_t>& size,
                          const std::vector<std::int64_t>& strides, const std::vector<std::int64_t>& pads,
                          const std::string& mode, const char* fn) {
  if (mode != "max" && mode != "avg")
    throw py::value_error(std::string(fn) + ": mode must be 'max' or 'avg', got '" + mode + "'");
  const int nd = static_cast<int>(x.ndim()) - 2;
  kcore::PoolPlan p;
  p.g = geometry(x, size, strides, std::vector<std::int64_t>(static_cast<std::size_t>(std::max(nd, 0)), 1), pads, fn);
  p.dtype = native_float_dtype(x, fn);
  p.mode = mode == "max" ? kcore::PoolMode::max : kcore::PoolMode::avg;
  return p;
}

// The gradient of pool_nd(x, ...) with respect to x, given gy (the gradient of its result).
py::object pool_grad_nd(py::handle xh, py::handle gyh, const std::vector<std::int64_t>& size,
                        const std::vector<std::int64_t>& strides, const std::vector<std::int64_t>& pads,
                        const std::string& mode) {
  if (!takes(xh) || !takes(gyh) || !same_dtype(xh, gyh)) return py::none();
  const auto x = py::reinterpret_borrow<py::array>(xh), gy = py::reinterpret_borrow<py::array>(gyh);
  const int nd = static_cast<int>(x.ndim()) - 2;
  kcore::PoolPlan p = pool_plan(x, size, strides, pads, mode, "pool_grad");
  bool fits = gy.ndim() == x.ndim() && gy.shape(0) == p.g.batch && gy.shape(nd + 1) == p.g.channels;
  for (int i = 0; fits && i < nd; ++i) fits = gy.shape(1 + i) == p.g.out[3 - nd + i];
  if (!fits) throw py::value_error("pool_grad: the gradient's shape is not the pooled result's");
  py::array out = empty_c_shape(x.dtype(), static_cast<int>(x.ndim()), x.shape());
  p.x = static_cast<const char*>(x.data());
  p.gy = static_cast<const char*>(gy.data());
  p.y = static_cast<char*>(out.mutable_data());
  without_gil([&] { kcore::kernels().pool(p); });
  return std::move(out);
}

py::object pool_nd(py::handle xh, const std::vector<std::int64_t>& size, const std::vector<std::int64_t>& strides,
                   const std::vector<std::int64_t>& pads, const std::string& mode) {
  if (!takes(xh)) return py::none();
  const auto x = py::reinterpret_borrow<py::array>(xh);
  const int nd = static_cast<int>(x.ndim()) - 2;
  kcore::PoolPlan p = pool_plan(x, size, strides, pads, mode, "pool");
  py::array out = result(x, p.g, nd, p.g.channels);
  p.x = static_cast<const char*>(x.data());
  p.y = static_cast<char*>(out.mutable_data());
  without_gil([&] { kcore::kernels().pool(p); });
  return std::move(out);
}

py::object resize_nd(py::handle xh, const std::vector<std::int64_t>& factors, const std::string& mode) {
  if (!takes(xh)) return py::none();
  if (mode != "nearest" && mode != "bilinear")
    throw py::value_error("resize: mode must be 'nearest' or 'bilinear', got '" + mode + "'");
  const auto x = py::reinterpret_borrow<py::array>(xh);
  const int nd = static_cast<int>(x.ndim()) - 2;
  if (nd < 1 || nd > 3 || static_cast<int>(factors.size()) != nd)
    throw py::value_error("resize: expected x of rank 3 to 5 and one factor per spatial dim");
  kcore::ResizePlan p;
  p.dtype = native_float_dtype(x, "resize");
  p.batch = x.shape(0);
  p.channels = x.shape(nd + 1);
  p.ndim = nd;
  p.mode = mode == "nearest" ? kcore::ResizeMode::nearest : kcore::ResizeMode::bilinear;
  std::int64_t shape[5];
  shape[0] = p.batch;
  shape[nd + 1] = p.channels;
  for (int i = 0; i < nd; ++i) {
    const int d = 3 - nd + i;
    if (factors[i] < 1) throw py::value_error("resize: factors must be >= 1");
    p.in[d] = x.shape(1 + i);
    p.factor[d] = factors[i];
    if (p.in[d] > 0 && factors[i] > std::numeric_limits<std::int64_t>::max() / p.in[d])
      throw py::value_error("resize: the output would be too large");
    shape[1 + i] = p.in[d] * factors[i];
  }
  py::array out = empty_c_shape(x.dtype(), nd + 2, shape);
  p.x = static_cast<const char*>(x.data());
  p.y = static_cast<char*>(out.mutable_data());
  without_gil([&] { kcore::kernels().resize(p); });
  return std::move(out);
}

// x with zeros around each dim: pads (before, after) per dim, flattened.
py::object pad_nd(py::handle xh, const std::vector<std::int64_t>& pads) {
  if (!takes(xh)) return py::none();
  const auto x = py::reinterpret_borrow<py::array>(xh);
  const int rank = static_cast<int>(x.ndim());
  if (rank == 0 || rank > kcore::PadPlan::kMaxRank) return py::none();
  if (static_cast<int>(pads.size()) != 2 * rank)
    throw py::value_error("pad: expected a (before, after) pair per dim of x, " + std::to_string(rank) + " dims");
  kcore::PadPlan p;
  p.rank = rank;
  p.item = x.itemsize();
  std::int64_t shape[kcore::PadPlan::kMaxRank];
  std::int64_t bytes = p.item;
  for (int d = 0; d < rank; ++d) {
    p.shape[d] = x.shape(d);
    p.before[d] = pads[2 * d];
    p.after[d] = pads[2 * d + 1];
    if (p.before[d] < 0 || p.after[d] < 0) throw py::value_error("pad: pads must be >= 0");
    if (__builtin_add_overflow(p.shape[d], p.before[d], &shape[d]) ||
        __builtin_add_overflow(shape[d], p.after[d], &shape[d]) || __builtin_mul_overflow(bytes, shape[d], &bytes))
      throw py::value_error("pad: the result would be too large");
  }
  py::array out = empty_c_shape(x.dtype(), rank, shape);
  p.x = static_cast<const char*>(x.data());
  p.y = static_cast<char*>(out.mutable_data());
  without_gil([&] { kcore::kernels().pad(p); });
  return std::move(out);
}

}  // namespace

void register_conv(py::module_& m) {
  m.def("conv_nd", &conv_nd, py::arg("x"), py::arg("w"), py::arg("strides"), py::arg("dilation"), py::arg("pads"),
        py::arg("depthwise"), py::arg("scale") = py::none(), py::arg("shift") = py::none(),
        py::arg("lo") = -std::numeric_limits<double>::infinity(), py::arg("hi") = std::numeric_limits<double>::infinity(),
        py::arg("bias") = py::none(), py::arg("residual") = py::none(),
        "conv_nd(x, w, strides, dilation, pads, depthwise, scale=None, shift=None, lo=-inf, hi=inf, bias=None, "
        "residual=None): x (batch, *spatial, C) correlated with w (*k, C, filters) (depthwise: w (*k, C, multiplier)), "
        "zero-padded by pads (before, after per dim, flattened), then each output plus bias[c], times scale[c], plus "
        "shift[c] (per output channel), plus the residual's element (an array of the result's shape), each rounded, "
        "and limited to [lo, hi] (NaN kept) before it is stored; None unless x and w are C-contiguous aligned "
        "float16/32/64 arrays of one dtype.");
  m.def("conv_transpose_nd", &conv_transpose_nd, py::arg("x"), py::arg("w"), py::arg("out_sp"), py::arg("strides"),
        py::arg("dilation"), py::arg("pads"), py::arg("depthwise") = false,
        "conv_transpose_nd(x, w, out_sp, strides, dilation, pads, depthwise=False): the transpose of conv_nd: y "
        "(batch, *out_sp, C) from x (batch, *spatial, F) and w (*k, C, F) (depthwise: F = C * multiplier, w (*k, C, "
        "multiplier)), where conv_nd of y's shape padded by pads (before, after per dim, flattened) has x's spatial "
        "shape; None unless x and w are C-contiguous aligned float16/32/64 arrays of one dtype.");
  m.def("depthwise_kernel_grad_nd", &depthwise_kernel_grad_nd, py::arg("x"), py::arg("gy"), py::arg("k"),
        py::arg("strides"), py::arg("dilation"), py::arg("pads"),
        "depthwise_kernel_grad_nd(x, gy, k, strides, dilation, pads): the gradient of conv_nd(x, w, strides, "
        "dilation, pads, depthwise=True) with respect to w (*k, C, multiplier), given gy (its result's gradient, "
        "(batch, *out, C * multiplier)); float16 sums in float32 along an output line, the lines' sums in float64; "
        "None unless x and gy are C-contiguous aligned float16/32/64 arrays of one dtype.");
  m.def("batch_norm_grad_nd", &batch_norm_grad_nd, py::arg("x"), py::arg("gy"), py::arg("mean"), py::arg("var"),
        py::arg("gamma"), py::arg("epsilon"), py::arg("axis"), py::arg("axis_end"),
        "batch_norm_grad_nd(x, gy, mean, var, gamma, epsilon, axis, axis_end): the gradient of x normalised by "
        "its own statistics, kept along dims [axis, axis_end) of x (C-contiguous, float16/32/64; gy of x's shape and "
        "dtype): (dx, sum(gy), sum(gy * (x - mean))), the sums float64 per kept element; mean, var and gamma (or "
        "None) float64, one per kept element. None unless x and gy are C-contiguous aligned arrays of one float dtype.");
  m.def("pool_grad_nd", &pool_grad_nd, py::arg("x"), py::arg("gy"), py::arg("size"), py::arg("strides"), py::arg("pads"),
        py::arg("mode"), "pool_grad_nd(x, gy, size, strides, pads, mode): the gradient of pool_nd(x, ...) with respect "
        "to x, given gy (its result's gradient, x's dtype, C-contiguous); None when it declines the operands.");
  m.def("pool_nd", &pool_nd, py::arg("x"), py::arg("size"), py::arg("strides"), py::arg("pads"), py::arg("mode"),
        "pool_nd(x, size, strides, pads, mode): max or average ('max', 'avg') pooling of x (batch, *spatial, C); padded "
        "positions never count. None unless x is a C-contiguous aligned float16/32/64 array.");
  m.def("resize_nd", &resize_nd, py::arg("x"), py::arg("factors"), py::arg("mode"),
        "resize_nd(x, factors, mode): x (batch, *spatial, C) with each spatial dim scaled by its integer factor, as "
        "TensorFlow's legacy resize ('nearest' repeats, 'bilinear' samples at out / factor, no corner alignment); None "
        "unless x is a C-contiguous aligned float16/32/64 array.");
  m.def("pad_nd", &pad_nd, py::arg("x"), py::arg("pads"),
        "pad_nd(x, pads): x with pads[2d] zeros before and pads[2d + 1] after each dim d (a kcore result); None "
        "unless x is a C-contiguous aligned float16/32/64 array of rank 1 to 8.");
}

}  // namespace kcore_py
