// The elementwise family on plain float16/32/64 arrays, Keras rules included (keras_args.hpp):
// cast, transpose, permute_dimensions, concatenate (copies) and arithmetic with broadcasting. Each
// returns None for inputs it does not take; the Python layer then converts or routes them.
#include <pybind11/numpy.h>
#include <pybind11/native_enum.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "bindings/array_view.hpp"
#include "bindings/elementwise.hpp"
#include "bindings/fastcall.hpp"
#include "bindings/keras_args.hpp"
#include "bindings/results.hpp"
#include "bindings/without_gil.hpp"
#include "kcore/dispatch.hpp"
#include "kcore/elementwise_plan.hpp"

namespace py = pybind11;

namespace kcore_py {

py::array copy_of(const py::array& like, const kcore::ArrayRef& src, const py::dtype& dtype, ResultOrder order) {
  py::array out = order == ResultOrder::like_input ? empty_like_k(like, dtype) : empty_c_shape(dtype, src.ndim, src.shape);
  // A copy into src's own dtype (an integer permute) keeps src's kind; other results are floats.
  // (By type number: NumPy's dtype equality goes through its casting tables, ~0.1 us a call.)
  const bool same = py::detail::array_descriptor_proxy(dtype.ptr())->type_num == type_num(like);
  const kcore::ArrayRef dst = to_ref(out, "copy", same ? &src.dtype : nullptr);
  const kcore::ElementwisePlan plan = kcore::make_elementwise_plan(kcore::ElementwiseKind::copy, dst, &src, 1);
  without_gil([&] { kcore::kernels().elementwise(plan); });
  return out;
}

namespace {

const py::dtype* float_dtype_named(py::handle name) {
  // Never destroyed: a static py::object would be released after the interpreter is gone.
  static const py::dtype& f16 = *new py::dtype("float16");
  static const py::dtype& f32 = *new py::dtype("float32");
  static const py::dtype& f64 = *new py::dtype("float64");
  if (PyUnicode_CheckExact(name.ptr())) {  // the common call: a float name
    PyObject* s = name.ptr();
    if (PyUnicode_CompareWithASCIIString(s, "float32") == 0) return &f32;
    if (PyUnicode_CompareWithASCIIString(s, "float16") == 0) return &f16;
    if (PyUnicode_CompareWithASCIIString(s, "float64") == 0) return &f64;
  }
  const std::string n = dtype_name(name, "cast");
  return n == "float32" ? &f32 : n == "float16" ? &f16 : n == "float64" ? &f64 : nullptr;
}

py::object cast(py::handle x, py::handle dtype) {
  kcore::DType src;
  if (!cast_source_dtype(x, src)) return py::none();
  const py::dtype* dt = float_dtype_named(dtype);
  if (dt == nullptr) return py::none();  // integer and bool targets: NumPy's astype
  const py::array arr = aligned_array(x);
  // The result keeps x's memory order (as NumPy's astype); a C-contiguous x skips the layout sort.
  return copy_of(arr, to_ref(arr, "cast", &src), *dt, arr.flags() & py::array::c_style ? ResultOrder::c : ResultOrder::like_input);
}

py::object transpose(py::handle x) {
  kcore::DType dt;
  if (!cast_source_dtype(x, dt)) return py::none();
  const py::array arr = aligned_array(x);
  kcore::ArrayRef v = to_ref(arr, "transpose", &dt);
  std::reverse(v.shape, v.shape + v.ndim);
  std::reverse(v.strides, v.strides + v.ndim);
  return copy_of(arr, v, arr.dtype(), ResultOrder::c);
}

py::object permute_dimensions(py::handle x, py::handle pattern) {
  kcore::DType dt;
  if (!cast_source_dtype(x, dt)) return py::none();
  const py::array arr = aligned_array(x);
  const kcore::ArrayRef in = to_ref(arr, "permute_dimensions", &dt);
  int perm[kcore::kMaxDims];
  permutation(pattern, in.ndim, in.shape, perm);
  kcore::ArrayRef v = in;
  for (int i = 0; i < in.ndim; ++i) {
    v.shape[i] = in.shape[perm[i]];
    v.strides[i] = in.strides[perm[i]];
  }
  return copy_of(arr, v, arr.dtype(), ResultOrder::c);
}

// The arrays (a list or tuple of plain ndarrays of one dtype the copies read, one rank >= 1, the same
// shape off `axis`, an axis in [-rank, rank): the Python layer checks these and gives the errors)
// joined along axis into a new C-contiguous result. None for anything else.
py::object concatenate(py::handle arrays, py::handle axis_arg) {
  if (!PyList_CheckExact(arrays.ptr()) && !PyTuple_CheckExact(arrays.ptr())) return py::none();
  const py::sequence seq = py::reinterpret_borrow<py::sequence>(arrays);
  const Py_ssize_t n = py::len(seq);
  if (n == 0 || !PyLong_CheckExact(axis_arg.ptr())) return py::none();
  std::vector<py::array> parts;
  parts.reserve(static_cast<std::size_t>(n));
  kcore::DType dt{};
  for (Py_ssize_t i = 0; i < n; ++i) {
    const py::handle a = seq[i];
    kcore::DType d;
    if (!cast_source_dtype(a, d) || (i > 0 && (d != dt || type_num(a) != type_num(parts[0])))) return py::none();
    dt = d;
    parts.push_back(aligned_array(a));
  }
  const int nd = static_cast<int>(parts[0].ndim());
  int overflow = 0;
  long axis = PyLong_AsLongAndOverflow(axis_arg.ptr(), &overflow);
  if (axis < 0) axis += nd;
  if (overflow != 0 || nd < 1 || nd > kcore::kMaxDims || axis < 0 || axis >= nd) return py::none();
  std::int64_t shape[kcore::kMaxDims];
  for (int k = 0; k < nd; ++k) shape[k] = parts[0].shape(k);
  shape[axis] = 0;
  for (const py::array& a : parts) {
    if (a.ndim() != nd) return py::none();
    for (int k = 0; k < nd; ++k)
      if (k != axis && a.shape(k) != shape[k]) return py::none();
    shape[axis] += a.shape(axis);
  }
  py::array out = empty_c_shape(parts[0].dtype(), nd, shape);
  // C-contiguous parts with rows of 64 bytes and more (on average): the result's rows in order,
  // each part's in turn; others slab by slab through the copy engine.
  bool c_order = true;
  std::int64_t outer = 1;
  for (int k = 0; k < axis; ++k) outer *= shape[k];
  for (const py::array& a : parts) c_order = c_order && (a.flags() & py::array::c_style);
  if (c_order && outer > 0 && static_cast<std::int64_t>(out.nbytes()) / outer >= 64 * n) {
    std::vector<const char*> src;
    std::vector<std::int64_t> row_bytes;
    for (const py::array& a : parts) {
      src.push_back(static_cast<const char*>(a.data()));
      row_bytes.push_back(static_cast<std::int64_t>(a.nbytes()) / outer);
    }
    kcore::ConcatPlan plan;
    plan.out = static_cast<char*>(out.mutable_data());
    plan.rows = outer;
    plan.parts = static_cast<int>(parts.size());
    plan.src = src.data();
    plan.row_bytes = row_bytes.data();
    without_gil([&] { kcore::kernels().concat(plan); });
    return std::move(out);
  }
  const kcore::ArrayRef whole = to_ref(out, "concatenate", &dt);
  std::vector<kcore::ElementwisePlan> plans;
  std::int64_t at = 0;
  for (const py::array& a : parts) {
    const kcore::ArrayRef src = to_ref(a, "concatenate", &dt);
    kcore::ArrayRef slab = whole;
    slab.shape[axis] = src.shape[axis];
    slab.data += at * whole.strides[axis];
    at += src.shape[axis];
    // The engine writes along a contiguous innermost dim: a slab whose innermost dim of more than
    // one element is not the result's last one (after size-1 dims) has none; NumPy's join takes it.
    int k = nd - 1;
    while (k >= 0 && slab.shape[k] <= 1) --k;
    std::int64_t inside = 1;
    for (int j = k + 1; j < nd; ++j) inside *= shape[j];
    if (k >= 0 && inside != 1) return py::none();
    plans.push_back(kcore::make_elementwise_plan(kcore::ElementwiseKind::copy, slab, &src, 1));
  }
  without_gil([&] {
    for (const kcore::ElementwisePlan& plan : plans) kcore::kernels().elementwise(plan);
  });
  return std::move(out);
}

// x and y broadcast against each other (NumPy's rules) as views of the result's shape; false
// when they do not broadcast.
bool broadcast(const kcore::ArrayRef& x, const kcore::ArrayRef& y, kcore::ArrayRef& bx, kcore::ArrayRef& by) {
  const int nd = std::max(x.ndim, y.ndim);
  bx = x, by = y;
  bx.ndim = by.ndim = nd;
  for (int i = nd - 1; i >= 0; --i) {
    const int ix = i - (nd - x.ndim), iy = i - (nd - y.ndim);
    const std::int64_t nx = ix >= 0 ? x.shape[ix] : 1, ny = iy >= 0 ? y.shape[iy] : 1;
    if (nx != ny && nx != 1 && ny != 1) return false;
    const std::int64_t n = nx == 1 ? ny : nx;
    bx.shape[i] = by.shape[i] = n;
    bx.strides[i] = nx == n && ix >= 0 ? x.strides[ix] : 0;
    by.strides[i] = ny == n && iy >= 0 ? y.strides[iy] : 0;
  }
  return true;
}

py::object binary(kcore::ElementwiseKind kind, py::handle x, py::handle y, const double* params = nullptr) {
  if (!is_plain_float_array(x) || !is_plain_float_array(y) || !same_dtype(x, y)) return py::none();
  const py::array xa = aligned_array(x), ya = aligned_array(y);
  const kcore::ArrayRef xr = to_ref(xa, "elementwise"), yr = to_ref(ya, "elementwise");
  kcore::ArrayRef in[2];
  if (!broadcast(xr, yr, in[0], in[1])) return py::none();  // NumPy explains the shapes
  // The result follows the memory order of an operand of the result's shape, as NumPy's does.
  const bool x_full = xr.ndim == in[0].ndim && std::equal(xr.shape, xr.shape + xr.ndim, in[0].shape);
  const bool y_full = yr.ndim == in[1].ndim && std::equal(yr.shape, yr.shape + yr.ndim, in[1].shape);
  static const py::dtype& bool_dtype = *new py::dtype("bool");  // (never destroyed, as float_dtype_named's)
  const py::dtype& dt = kcore::is_comparison(kind) ? bool_dtype : xa.dtype();
  py::array out = x_full ? empty_like_k(xa, dt) : y_full ? empty_like_k(ya, dt) : empty_c_shape(dt, in[0].ndim, in[0].shape);
  kcore::ArrayRef dst;
  if (kcore::is_comparison(kind)) {  // (to_ref takes float arrays only)
    dst.dtype = kcore::DType::b8;
    dst.data = static_cast<char*>(out.mutable_data());
    dst.ndim = static_cast<int>(out.ndim());
    for (int i = 0; i < dst.ndim; ++i) dst.shape[i] = out.shape(i), dst.strides[i] = out.strides(i);
  } else {
    dst = to_ref(out, "elementwise");
  }
  kcore::ElementwisePlan plan = kcore::make_elementwise_plan(kind, dst, in, 2);
  if (params != nullptr) std::copy(params, params + kcore::kElementwiseParams, plan.param);
  without_gil([&] { kcore::kernels().elementwise(plan); });
  return scalar_if_0d(std::move(out));
}

// Keras's parameters from args[0, n) into params (NaN where absent; None allowed only at
// none_at, -1 for none): false for anything else (a tensor), which the caller declines.
bool parameters(PyObject* const* args, Py_ssize_t n, int none_at, double* params) {
  for (int i = 0; i < kcore::kElementwiseParams; ++i) {
    params[i] = std::numeric_limits<double>::quiet_NaN();
    if (i >= n) continue;
    if (args[i] == Py_None) {
      if (i == none_at) continue;
      return false;
    }
    if (!PyFloat_Check(args[i]) && !PyLong_Check(args[i])) return false;
    params[i] = PyFloat_AsDouble(args[i]);
    if (params[i] == -1.0 && PyErr_Occurred()) throw py::error_already_set();
  }
  return true;
}

// Three operands broadcast together (NumPy's rules), the result in C order.
py::object ternary(kcore::ElementwiseKind kind, py::handle x, py::handle y, py::handle z) {
  if (!is_plain_float_array(x) || !is_plain_float_array(y) || !is_plain_float_array(z) || !same_dtype(x, y) ||
      !same_dtype(x, z))
    return py::none();
  const py::array xa = aligned_array(x), ya = aligned_array(y), za = aligned_array(z);
  const kcore::ArrayRef xr = to_ref(xa, "elementwise3"), yr = to_ref(ya, "elementwise3"), zr = to_ref(za, "elementwise3");
  kcore::ArrayRef xy[2], in[3], unused;
  if (!broadcast(xr, yr, xy[0], xy[1]) || !broadcast(xy[0], zr, in[0], in[2])) return py::none();
  if (!broadcast(in[0], xy[1], unused, in[1])) return py::none();
  py::array out = empty_c_shape(xa.dtype(), in[0].ndim, in[0].shape);
  const kcore::ArrayRef dst = to_ref(out, "elementwise3");
  const kcore::ElementwisePlan plan = kcore::make_elementwise_plan(kind, dst, in, 3);
  without_gil([&] { kcore::kernels().elementwise(plan); });
  return scalar_if_0d(std::move(out));
}

// One float operand, the result in x's memory order; params are the kind's (elu, relu).
py::object unary(kcore::ElementwiseKind kind, py::handle x, const double* params) {
  if (!is_plain_float_array(x)) return py::none();
  const py::array xa = aligned_array(x);
  const kcore::ArrayRef in = to_ref(xa, "elementwise1");
  py::array out = empty_like_k(xa, xa.dtype());
  const kcore::ArrayRef dst = to_ref(out, "elementwise1");
  kcore::ElementwisePlan plan = kcore::make_elementwise_plan(kind, dst, &in, 1);
  std::copy(params, params + kcore::kElementwiseParams, plan.param);
  without_gil([&] { kcore::kernels().elementwise(plan); });
  return scalar_if_0d(std::move(out));
}

// softmax over the last axis of a C-contiguous float array of rank >= 1.
py::object softmax(py::handle x) {
  if (!is_plain_float_array(x)) return py::none();
  const py::array xa = aligned_array(x);
  if (!(xa.flags() & py::array::c_style) || xa.ndim() < 1) return py::none();
  kcore::SoftmaxPlan plan;
  plan.dtype = native_float_dtype(xa, "softmax");
  plan.n = xa.shape(xa.ndim() - 1);
  plan.rows = plan.n == 0 ? 0 : xa.size() / plan.n;
  py::array out = empty_c_shape(xa.dtype(), static_cast<int>(xa.ndim()), to_ref(xa, "softmax").shape);
  plan.in = static_cast<const char*>(xa.data());
  plan.out = static_cast<char*>(out.mutable_data());
  without_gil([&] { kcore::kernels().softmax(plan); });
  return std::move(out);
}

py::object cast_args(PyObject* const* args, Py_ssize_t) { return cast(args[0], args[1]); }
py::object transpose_args(PyObject* const* args, Py_ssize_t) { return transpose(args[0]); }
py::object permute_args(PyObject* const* args, Py_ssize_t) { return permute_dimensions(args[0], args[1]); }
py::object concatenate_args(PyObject* const* args, Py_ssize_t n) {
  static const py::handle last = py::int_(-1).release();  // Keras's default axis (never released)
  return concatenate(args[0], n > 1 ? py::handle(args[1]) : last);
}
// elementwise(kind, x, y[, p0[, p1[, p2]]]): relu_grad (g, x) takes relu's parameters as
// elementwise1 does; the other kinds none.
py::object binary_args(PyObject* const* args, Py_ssize_t n) {
  const auto kind = enum_arg<kcore::ElementwiseKind>(args[0], kcore::ElementwiseKind::less_equal, "elementwise");
  if (kind == kcore::ElementwiseKind::copy) throw py::value_error("elementwise: copy is not a binary op");
  if (kcore::is_unary(kind))
    throw py::value_error("elementwise: " + std::to_string(static_cast<int>(kind)) + " is a unary kind (elementwise1)");
  if (kind == kcore::ElementwiseKind::multiply_add || kind == kcore::ElementwiseKind::clip ||
      kind == kcore::ElementwiseKind::select)
    throw py::value_error("elementwise: multiply_add, clip and select take three operands (elementwise3)");
  if (kind != kcore::ElementwiseKind::relu_grad) {
    if (n > 3) throw py::value_error("elementwise: only relu_grad takes parameters");
    return binary(kind, args[1], args[2]);
  }
  double params[kcore::kElementwiseParams];
  if (!parameters(args + 3, n - 3, 1, params)) return py::none();  // tensors: the Python route
  return binary(kind, args[1], args[2], params);
}
// elementwise1(kind, x[, p0[, p1[, p2]]]): parameters in Keras's order (elu: alpha; relu: alpha,
// max_value, threshold); a missing one is NaN, as is relu's max_value None (no maximum). Any other
// None is declined, for the Python layer to reject.
py::object unary_args(PyObject* const* args, Py_ssize_t n) {
  const auto kind = enum_arg<kcore::ElementwiseKind>(args[0], kcore::ElementwiseKind::less_equal, "elementwise1");
  if (!kcore::is_unary(kind)) throw py::value_error("elementwise1: kind must be one of exp .. relu");
  double params[kcore::kElementwiseParams];
  if (!parameters(args + 2, n - 2, kind == kcore::ElementwiseKind::relu ? 1 : -1, params)) return py::none();
  return unary(kind, args[1], params);
}
py::object softmax_args(PyObject* const* args, Py_ssize_t) { return softmax(args[0]); }

// elementwise_chain(steps, operands): steps a tuple of ints, (kind, a, b) per step (kcore/
// elementwise_plan.hpp's ChainPlan); operands a tuple of C-contiguous aligned float32/float64
// ndarrays of one dtype and shape, single values of that dtype (0-d arrays, NumPy scalars) and
// Python numbers within its finite range (converted to it, as kcore's arithmetic converts them).
// None for anything else, for the caller to compute op by op.
py::object chain_args(PyObject* const* args, Py_ssize_t) {
  if (!PyTuple_Check(args[0]) || !PyTuple_Check(args[1])) return py::none();
  const Py_ssize_t ncode = PyTuple_GET_SIZE(args[0]), nin = PyTuple_GET_SIZE(args[1]);
  if (ncode == 0 || ncode % 3 != 0 || ncode / 3 > kcore::kChainMaxSteps || nin == 0 || nin > kcore::kChainMaxOperands)
    return py::none();
  kcore::ChainPlan plan;
  plan.nin = static_cast<int>(nin);
  plan.nsteps = static_cast<int>(ncode / 3);
  for (int s = 0; s < plan.nsteps; ++s) {
    long v[3];
    for (int k = 0; k < 3; ++k) {
      PyObject* o = PyTuple_GET_ITEM(args[0], 3 * s + k);
      if (!PyLong_Check(o)) return py::none();
      v[k] = PyLong_AsLong(o);
      if (v[k] == -1 && PyErr_Occurred()) throw py::error_already_set();
    }
    if (v[0] < 0 || v[0] > static_cast<long>(kcore::ElementwiseKind::less_equal)) return py::none();
    const auto kind = static_cast<kcore::ElementwiseKind>(v[0]);
    const long slots = plan.nin + s;  // a step reads the operands and the steps before it
    const bool unary = kcore::is_unary(kind);
    if (!kcore::chain_kind(kind) || v[1] < 0 || v[1] >= slots || (!unary && (v[2] < 0 || v[2] >= slots)))
      return py::none();
    plan.step[s] = {kind, static_cast<std::int16_t>(v[1]), static_cast<std::int16_t>(unary ? v[1] : v[2])};
  }
  // The dtype and shape: the first array of more than zero dims.
  py::array shaped;  // (a default py::array is an empty one, not null: `found` says)
  bool found = false;
  for (Py_ssize_t i = 0; i < nin && !found; ++i) {
    PyObject* o = PyTuple_GET_ITEM(args[1], i);
    if (py::isinstance<py::array>(o) && py::reinterpret_borrow<py::array>(o).ndim() > 0) {
      shaped = py::reinterpret_borrow<py::array>(o);
      found = true;
    }
  }
  if (!found || !is_plain_float_array(shaped)) return py::none();
  plan.dtype = native_float_dtype(shaped, "elementwise_chain");
  if (plan.dtype != kcore::DType::f32 && plan.dtype != kcore::DType::f64) return py::none();
  const bool f32 = plan.dtype == kcore::DType::f32;
  const double top = f32 ? double(std::numeric_limits<float>::max()) : std::numeric_limits<double>::max();
  double singles[kcore::kChainMaxOperands];
  float singles32[kcore::kChainMaxOperands];
  std::vector<py::array> held;  // (the arrays stay referenced while the kernel reads them)
  for (Py_ssize_t i = 0; i < nin; ++i) {
    PyObject* o = PyTuple_GET_ITEM(args[1], i);
    // Python numbers (not NumPy's float64, a float subclass: a single value of its own dtype).
    if (PyFloat_CheckExact(o) || PyLong_CheckExact(o)) {
      const double v = PyFloat_CheckExact(o) ? PyFloat_AS_DOUBLE(o) : PyLong_AsDouble(o);
      if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return py::none();
      }
      if (!(v >= -top && v <= top)) return py::none();  // (past the dtype, NaN: the ops' own checks)
      singles[i] = v;
      singles32[i] = static_cast<float>(v);
      plan.single[i] = true;
      plan.in[i] = f32 ? reinterpret_cast<const char*>(&singles32[i]) : reinterpret_cast<const char*>(&singles[i]);
      continue;
    }
    const bool array = py::isinstance<py::array>(o);
    if (!array && !PyFloat_Check(o) && !PyObject_HasAttrString(o, "dtype")) return py::none();  // (NumPy scalars only)
    py::array a = array ? py::reinterpret_borrow<py::array>(o) : py::array::ensure(o);
    if (!a) {  // (not convertible)
      PyErr_Clear();
      return py::none();
    }
    if (!is_plain_float_array(a) || !same_dtype(a, shaped) || (!array && a.ndim() != 0)) return py::none();
    if (a.ndim() == 0) {  // one value, copied (a 0-d array's data need not be aligned)
      if (f32) std::memcpy(&singles32[i], a.data(), sizeof(float));
      else std::memcpy(&singles[i], a.data(), sizeof(double));
      plan.single[i] = true;
      plan.in[i] = f32 ? reinterpret_cast<const char*>(&singles32[i]) : reinterpret_cast<const char*>(&singles[i]);
      continue;
    }
    if (a.ndim() != shaped.ndim() || !std::equal(a.shape(), a.shape() + a.ndim(), shaped.shape())) return py::none();
    if (!(a.flags() & py::array::c_style) || reinterpret_cast<std::uintptr_t>(a.data()) % a.itemsize() != 0)
      return py::none();
    plan.in[i] = static_cast<const char*>(a.data());
    held.push_back(std::move(a));
  }
  plan.size = shaped.size();
  py::array out = empty_c_shape(shaped.dtype(), static_cast<int>(shaped.ndim()), to_ref(shaped, "elementwise_chain").shape);
  plan.out = static_cast<char*>(out.mutable_data());
  without_gil([&] { kcore::kernels().chain(plan); });
  return std::move(out);
}
py::object ternary_args(PyObject* const* args, Py_ssize_t) {
  const auto kind = enum_arg<kcore::ElementwiseKind>(args[0], kcore::ElementwiseKind::select, "elementwise3");
  if (kind != kcore::ElementwiseKind::multiply_add && kind != kcore::ElementwiseKind::clip &&
      kind != kcore::ElementwiseKind::select)
    throw py::value_error("elementwise3: kind must be multiply_add, clip or select");
  return ternary(kind, args[1], args[2], args[3]);
}

}  // namespace

void register_elementwise(py::module_& m) {
  py::native_enum<kcore::ElementwiseKind>(m, "ElementwiseKind", "enum.IntEnum")
      .value("copy", kcore::ElementwiseKind::copy)
      .value("add", kcore::ElementwiseKind::add)
      .value("subtract", kcore::ElementwiseKind::subtract)
      .value("multiply", kcore::ElementwiseKind::multiply)
      .value("divide", kcore::ElementwiseKind::divide)
      .value("multiply_add", kcore::ElementwiseKind::multiply_add)
      .value("clip", kcore::ElementwiseKind::clip)
      .value("select", kcore::ElementwiseKind::select)
      .value("maximum", kcore::ElementwiseKind::maximum)
      .value("minimum", kcore::ElementwiseKind::minimum)
      .value("relu_grad", kcore::ElementwiseKind::relu_grad)
      .value("exp", kcore::ElementwiseKind::exp)
      .value("log", kcore::ElementwiseKind::log)
      .value("tanh", kcore::ElementwiseKind::tanh)
      .value("sigmoid", kcore::ElementwiseKind::sigmoid)
      .value("hard_sigmoid", kcore::ElementwiseKind::hard_sigmoid)
      .value("softplus", kcore::ElementwiseKind::softplus)
      .value("softsign", kcore::ElementwiseKind::softsign)
      .value("square", kcore::ElementwiseKind::square)
      .value("abs", kcore::ElementwiseKind::abs)
      .value("sqrt", kcore::ElementwiseKind::sqrt)
      .value("sign", kcore::ElementwiseKind::sign)
      .value("round", kcore::ElementwiseKind::round)
      .value("negative", kcore::ElementwiseKind::negative)
      .value("elu", kcore::ElementwiseKind::elu)
      .value("relu", kcore::ElementwiseKind::relu)
      .value("equal", kcore::ElementwiseKind::equal)
      .value("not_equal", kcore::ElementwiseKind::not_equal)
      .value("greater", kcore::ElementwiseKind::greater)
      .value("greater_equal", kcore::ElementwiseKind::greater_equal)
      .value("less", kcore::ElementwiseKind::less)
      .value("less_equal", kcore::ElementwiseKind::less_equal)
      .finalize();
  static PyMethodDef defs[] = {
      {"cast", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<cast_args, 2>)), METH_FASTCALL,
       "cast(x, dtype): a plain float16/32/64 ndarray converted to a float dtype exactly as NumPy's astype, in x's "
       "memory order; None for any other x or an integer/bool dtype (TypeError for an unknown dtype)."},
      {"transpose", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<transpose_args, 1>)),
       METH_FASTCALL, "transpose(x): x.T of a plain float ndarray as a new C-contiguous array; None otherwise."},
      {"permute_dimensions",
       reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<permute_args, 2>)), METH_FASTCALL,
       "permute_dimensions(x, pattern): the permuted plain float ndarray as a new C-contiguous array; None otherwise."},
      {"concatenate", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<concatenate_args, 1, 2>)),
       METH_FASTCALL,
       "concatenate(arrays, axis=-1): a list or tuple of plain ndarrays of one dtype (float16/32/64, uint8, int8, "
       "int32, int64) and one rank, the same shape off axis (an int in [-rank, rank)), joined along axis as a new "
       "C-contiguous array; None otherwise."},
      {"elementwise", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<binary_args, 3, 6>)),
       METH_FASTCALL,
       "elementwise(kind, x, y[, alpha, max_value, threshold]): add/subtract/multiply/divide/maximum/minimum, a "
       "comparison (equal .. less_equal: a bool result), or relu_grad (x: the gradient g, y: relu's input; relu's "
       "parameters, max_value None for none: g times relu's slope at y), an ElementwiseKind, of two plain ndarrays "
       "of one float dtype, broadcast as NumPy does; None otherwise (other dtypes, shapes that do not broadcast)."},
      {"elementwise3", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<ternary_args, 4>)),
       METH_FASTCALL,
       "elementwise3(kind, x, y, z): multiply_add (x * y + z, rounded after each), clip (x within [y, z], NaN kept) "
       "or select (y where x is nonzero or NaN, else z) "
       "of three plain ndarrays of one float dtype, broadcast together, in C order; None otherwise."},
      {"elementwise1", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<unary_args, 2, 5>)),
       METH_FASTCALL,
       "elementwise1(kind, x[, p0[, p1[, p2]]]): exp/log/tanh/sigmoid/hard_sigmoid/softplus/softsign/square/abs/"
       "sqrt (of x clipped at 0)/sign/round (half to even)/negative/elu (alpha)/"
       "relu (alpha, max_value or None, threshold) of a plain float ndarray, in x's memory order, the same bits on "
       "every ISA level; None for any other x or parameters that are not Python numbers (or relu's max_value None)."},
      {"elementwise_chain", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<chain_args, 2>)),
       METH_FASTCALL,
       "elementwise_chain(steps, operands): ops of the elementwise family (add .. divide, maximum, minimum, the "
       "parameterless functions exp .. negative) in one pass: steps a tuple of ints, (kind, a, b) per step, a and b "
       "slots (the operands, then the steps before); operands a tuple of C-contiguous float32/float64 ndarrays of one "
       "dtype and shape (0-d: one value) and Python floats. The last step's value, with the bits of the ops one at "
       "a time; None for anything else."},
      {"softmax", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<softmax_args, 1>)),
       METH_FASTCALL,
       "softmax(x): softmax over the last axis of a C-contiguous plain float ndarray (float16 in float32, float32 "
       "summed in float64); None for any other x."},
  };
  for (PyMethodDef& def : defs) add_fastcall(m, &def);
}

}  // namespace kcore_py
