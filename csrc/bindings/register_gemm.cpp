// dot(x, y) and batch_dot(x, y, axes) of plain float16/32/64 arrays of one dtype, Keras rules
// included (keras_args.hpp), on the batched GEMM. None for any other operands.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/array_view.hpp"
#include "bindings/elementwise.hpp"
#include "bindings/fastcall.hpp"
#include "bindings/keras_args.hpp"
#include "bindings/results.hpp"
#include "bindings/without_gil.hpp"
#include "kcore/dispatch.hpp"
#include "kcore/gemm_plan.hpp"

namespace py = pybind11;

namespace kcore_py {
namespace {

// Axis lists without heap allocation (NumPy arrays have at most 64 dims).
struct Axes {
  int n = 0;
  int v[kcore::kMaxDims];
  void push(int a) { v[n++] = a; }
};

// x as a stack of (rows x k) matrices (kcore::contraction_operand); when its free axes do not
// walk as one dim, they are packed contiguously first (`keep` then owns the copy; it stays a
// null handle otherwise: a default py::array would allocate an empty array on every call).
kcore::MatrixOperand operand(const py::array& x, const kcore::ArrayRef& ref, bool batched, const Axes& free, int k,
                             py::object& keep) {
  kcore::MatrixOperand op;
  std::int64_t rows = 0;
  if (kcore::contraction_operand(ref, batched, free.v, free.n, k, op, rows)) return op;
  // (batch?, free..., k), C order.
  Axes order;
  if (batched) order.push(0);
  for (int i = 0; i < free.n; ++i) order.push(free.v[i]);
  order.push(k);
  kcore::ArrayRef view = ref;
  view.ndim = order.n;
  for (int i = 0; i < order.n; ++i) {
    view.shape[i] = ref.shape[order.v[i]];
    view.strides[i] = ref.strides[order.v[i]];
  }
  const py::array packed_array = copy_of(x, view, x.dtype(), ResultOrder::c);
  keep = packed_array;
  kcore::ArrayRef packed = to_ref(packed_array, "contract");
  Axes packed_free;
  for (int i = 0; i < free.n; ++i) packed_free.push((batched ? 1 : 0) + i);
  if (!kcore::contraction_operand(packed, batched, packed_free.v, packed_free.n, order.n - 1, op, rows))
    throw std::logic_error("contract: a packed operand must walk its free axes as one dim");
  return op;
}

// The tensordot of x and y over x_k and y_k (per item over axis 0 when batched): shape
// (batch?,) + x's free dims + y's free dims.
py::array contract(const py::array& x, const kcore::ArrayRef& xr, const py::array& y, const kcore::ArrayRef& yr,
                   const Axes& x_free, int x_k, const Axes& y_free, int y_k, bool batched) {
  const int nd_out = (batched ? 1 : 0) + x_free.n + y_free.n;
  if (nd_out > kcore::kMaxDims)
    throw py::value_error(std::string(batched ? "batch_dot" : "dot") + ": the result would have " +
                          std::to_string(nd_out) + " dimensions; NumPy arrays have at most " +
                          std::to_string(kcore::kMaxDims));
  py::object keep_x, keep_y;
  kcore::GemmPlan g;
  g.dtype = xr.dtype;
  g.batch = batched ? xr.shape[0] : 1;
  g.K = xr.shape[x_k];
  g.a = operand(x, xr, batched, x_free, x_k, keep_x);
  g.b = operand(y, yr, batched, y_free, y_k, keep_y);
  std::swap(g.b.row, g.b.col);  // y's free axes are B's columns, its contracted axis B's rows
  std::int64_t shape[kcore::kMaxDims];
  int nd = 0;
  g.M = g.N = 1;
  if (batched) shape[nd++] = xr.shape[0];
  for (int i = 0; i < x_free.n; ++i) {
    shape[nd++] = xr.shape[x_free.v[i]];
    g.M *= xr.shape[x_free.v[i]];
  }
  for (int i = 0; i < y_free.n; ++i) {
    shape[nd++] = yr.shape[y_free.v[i]];
    g.N *= yr.shape[y_free.v[i]];
  }
  py::array out = empty_c_shape(x.dtype(), nd, shape);
  g.c = static_cast<char*>(out.mutable_data());
  without_gil([&] { kcore::kernels().gemm(g); });
  return out;
}

bool same_float_pair(py::handle x, py::handle y) {
  return is_plain_float_array(x) && is_plain_float_array(y) && same_dtype(x, y);
}

// K.dot: x's last axis against y's only or second-to-last one (Keras 2.3).
py::object dot(py::handle xh, py::handle yh) {
  if (!same_float_pair(xh, yh)) return py::none();
  const py::array x = aligned_array(xh), y = aligned_array(yh);
  const kcore::ArrayRef xr = to_ref(x, "dot"), yr = to_ref(y, "dot");
  const int xn = xr.ndim, yn = yr.ndim;
  const int y_k = dot_axis(xn, xr.shape, yn, yr.shape);
  Axes x_free, y_free;
  for (int i = 0; i < xn - 1; ++i) x_free.push(i);
  for (int i = 0; i < yn; ++i)
    if (i != y_k) y_free.push(i);
  return scalar_if_0d(contract(x, xr, y, yr, x_free, xn - 1, y_free, y_k, false));
}

// K.batch_dot (Keras 2.3): per-item tensordot over axes (a0, a1); rank-2 . rank-2 gives (batch, 1).
py::object batch_dot(py::handle xh, py::handle yh, py::handle axes) {
  if (!same_float_pair(xh, yh)) return py::none();
  const py::array x = aligned_array(xh), y = aligned_array(yh);
  const kcore::ArrayRef xr = to_ref(x, "batch_dot"), yr = to_ref(y, "batch_dot");
  const int xn = xr.ndim, yn = yr.ndim;
  int a0 = 0, a1 = 0;
  batch_dot_axes(axes, xn, xr.shape, yn, yr.shape, a0, a1);
  Axes x_free, y_free;
  for (int i = 1; i < xn; ++i)
    if (i != a0) x_free.push(i);
  for (int i = 1; i < yn; ++i)
    if (i != a1) y_free.push(i);
  py::array out = contract(x, xr, y, yr, x_free, a0, y_free, a1, true);
  if (out.ndim() == 1) out = out.reshape({out.shape(0), py::ssize_t{1}});
  return std::move(out);
}

py::object dot_args(PyObject* const* args, Py_ssize_t) { return dot(args[0], args[1]); }
py::object batch_dot_args(PyObject* const* args, Py_ssize_t) { return batch_dot(args[0], args[1], args[2]); }

}  // namespace

void register_gemm(py::module_& m) {
  static PyMethodDef defs[] = {
      {"dot", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<dot_args, 2>)), METH_FASTCALL,
       "dot(x, y): K.dot of two plain ndarrays of one float dtype; None for any other operands."},
      {"batch_dot", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<batch_dot_args, 3>)),
       METH_FASTCALL, "batch_dot(x, y, axes): K.batch_dot of two plain ndarrays of one float dtype; None otherwise."},
  };
  for (PyMethodDef& def : defs) add_fastcall(m, &def);
}

}  // namespace kcore_py
