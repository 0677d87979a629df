// matmul(a, b): a (batch, M, K) and b (batch, K, N), any strides, same float dtype; returns a new
// C-contiguous (batch, M, N). A batch dim of size 1 with stride 0 broadcasts.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "bindings/array_view.hpp"
#include "bindings/fastcall.hpp"
#include "bindings/layout.hpp"
#include "kcore/dispatch.hpp"
#include "kcore/copy_plan.hpp"
#include "kcore/gemm_plan.hpp"

namespace py = pybind11;

namespace kcore_py {
namespace {

py::array matmul(const py::array& a, const py::array& b) {
  const kcore::DType dt = native_float_dtype(a, "matmul");
  if (native_float_dtype(b, "matmul") != dt)
    throw py::type_error("matmul: both operands must have the same dtype, got " + std::string(py::str(a.dtype())) +
                         " and " + std::string(py::str(b.dtype())));
  if (a.ndim() != 3 || b.ndim() != 3) throw py::value_error("matmul: expects rank-3 (batch, M, K) and (batch, K, N)");
  if (a.shape(0) != b.shape(0) || a.shape(2) != b.shape(1))
    throw py::value_error("matmul: shapes do not match for (batch, M, K) @ (batch, K, N)");
  kcore::GemmPlan g;
  g.dtype = dt;
  g.batch = a.shape(0);
  g.M = a.shape(1);
  g.K = a.shape(2);
  g.N = b.shape(2);
  g.a = static_cast<const char*>(a.data());
  g.a_b = a.strides(0);
  g.a_m = a.strides(1);
  g.a_k = a.strides(2);
  g.b = static_cast<const char*>(b.data());
  g.b_b = b.strides(0);
  g.b_k = b.strides(1);
  g.b_n = b.strides(2);
  py::array out(a.dtype(), std::vector<py::ssize_t>{g.batch, g.M, g.N}, std::vector<py::ssize_t>{});
  g.c = static_cast<char*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    kcore::kernels().gemm(g);
  }
  return out;
}

// One operand of a contraction seen as (batch, rows, k) by strides: its free axes flattened into
// one stride when they allow it, else packed (free axes then k, C order) by the copy engine.
struct Operand {
  const char* data;
  std::int64_t batch_stride, free_size, free_stride, k_stride;
  py::array keep;  // owns packed data
};

// Axis lists for the fast paths, without heap allocation (NumPy arrays have at most 64 dims).
struct Axes {
  int n = 0;
  int v[64];
  void push(int a) { v[n++] = a; }
  const int* begin() const { return v; }
  const int* end() const { return v + n; }
};

Operand view_operand(const py::array& x, bool batched, const Axes& free, int k, kcore::DType dt) {
  const std::int64_t item = kcore::itemsize(dt);
  Operand op{static_cast<const char*>(x.data()), batched ? static_cast<std::int64_t>(x.strides(0)) : 0, 1, item,
             static_cast<std::int64_t>(x.strides(k)), py::array()};
  // Coalesce the free axes (in order), ignoring size-1 ones.
  std::int64_t stride = 0;
  bool ok = true, first = true;
  for (int a : free) {
    const std::int64_t n = x.shape(a), s = x.strides(a);
    op.free_size *= n;
    if (n == 1) continue;
    if (!first && stride != s * n) ok = false;
    stride = s;
    first = false;
  }
  if (ok) {
    op.free_stride = first ? item : stride;
    return op;
  }
  // Pack: (batch?, free..., k) as a C-contiguous copy.
  kcore::ArrayRef src = to_ref(x, "contract");
  std::vector<int> order;
  if (batched) order.push_back(0);
  order.insert(order.end(), free.begin(), free.end());
  order.push_back(k);
  kcore::ArrayRef perm;
  perm.data = src.data;
  perm.dtype = src.dtype;
  perm.ndim = static_cast<int>(order.size());
  std::vector<py::ssize_t> shape;
  for (int i = 0; i < perm.ndim; ++i) {
    perm.shape[i] = src.shape[order[static_cast<std::size_t>(i)]];
    perm.strides[i] = src.strides[order[static_cast<std::size_t>(i)]];
    shape.push_back(perm.shape[i]);
  }
  py::array packed(x.dtype(), shape, std::vector<py::ssize_t>{});
  std::vector<std::int64_t> dst_strides(packed.strides(), packed.strides() + packed.ndim());
  const kcore::CopyPlan plan = kcore::make_copy_plan(perm, static_cast<char*>(packed.mutable_data()), dst_strides.data(), dt);
  {
    py::gil_scoped_release release;
    kcore::kernels().copy(plan);
  }
  op.data = static_cast<const char*>(packed.data());
  op.batch_stride = batched ? static_cast<std::int64_t>(packed.strides(0)) : 0;
  op.free_stride = static_cast<std::int64_t>(packed.strides(packed.ndim() - 1)) * x.shape(k);
  op.k_stride = item;
  op.keep = packed;
  return op;
}

// contract(x, y, x_free, x_k, y_free, y_k, batched): the tensordot of x and y over x_k and y_k
// (per sample over axis 0 when batched), result shape (batch?,) + x free dims + y free dims.
py::array contract_axes(const py::array& x, const py::array& y, const Axes& x_free, int x_k, const Axes& y_free, int y_k,
                        bool batched) {
  const kcore::DType dt = native_float_dtype(x, "contract");
  if (native_float_dtype(y, "contract") != dt)
    throw py::type_error("contract: both operands must have the same dtype");
  if (x.shape(x_k) != y.shape(y_k)) throw py::value_error("contract: contracted sizes differ");
  if (batched && x.shape(0) != y.shape(0)) throw py::value_error("contract: batch sizes differ");
  const Operand a = view_operand(x, batched, x_free, x_k, dt);
  const Operand b = view_operand(y, batched, y_free, y_k, dt);
  py::ssize_t shape[64];
  int nd = 0;
  if (batched) shape[nd++] = x.shape(0);
  for (int i : x_free) shape[nd++] = x.shape(i);
  for (int i : y_free) shape[nd++] = y.shape(i);
  py::array out = empty_c_shape(x, nd, shape);
  kcore::GemmPlan g;
  g.dtype = dt;
  g.batch = batched ? x.shape(0) : 1;
  g.M = a.free_size;
  g.K = x.shape(x_k);
  g.N = b.free_size;
  g.a = a.data;
  g.a_b = a.batch_stride;
  g.a_m = a.free_stride;
  g.a_k = a.k_stride;
  g.b = b.data;
  g.b_b = b.batch_stride;
  g.b_k = b.k_stride;
  g.b_n = b.free_stride;
  g.c = static_cast<char*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    kcore::kernels().gemm(g);
  }
  return out;
}

Axes checked_axes(const std::vector<int>& axes, const py::array& x, const char* what) {
  if (axes.size() > 64) throw py::value_error(std::string("contract: too many ") + what + " axes");
  Axes r;
  for (int a : axes) {
    if (a < 0 || a >= x.ndim()) throw py::value_error(std::string("contract: ") + what + " axis out of range");
    r.push(a);
  }
  return r;
}

py::array contract(const py::array& x, const py::array& y, const std::vector<int>& x_free, int x_k,
                   const std::vector<int>& y_free, int y_k, bool batched) {
  if (x_k < 0 || x_k >= x.ndim() || y_k < 0 || y_k >= y.ndim()) throw py::value_error("contract: axis out of range");
  return contract_axes(x, y, checked_axes(x_free, x, "x"), x_k, checked_axes(y_free, y, "y"), y_k, batched);
}

py::object scalar_if_0d(py::array out) {
  if (out.ndim() == 0) return py::reinterpret_steal<py::object>(PyObject_GetItem(out.ptr(), py::tuple().ptr()));
  return std::move(out);
}

bool same_plain_floats(py::handle x, py::handle y) {
  if (!is_plain_float_array(x) || !is_plain_float_array(y)) return false;
  const auto& api = py::detail::npy_api::get();
  (void)api;
  return py::detail::array_descriptor_proxy(py::detail::array_proxy(x.ptr())->descr)->type_num ==
         py::detail::array_descriptor_proxy(py::detail::array_proxy(y.ptr())->descr)->type_num;
}

// K.dot's common case in one call; None when the Python layer must validate or route.
py::object dot_fast(py::handle xh, py::handle yh) {
  if (!same_plain_floats(xh, yh)) return py::none();
  const auto x = py::reinterpret_borrow<py::array>(xh), y = py::reinterpret_borrow<py::array>(yh);
  const int xn = static_cast<int>(x.ndim()), yn = static_cast<int>(y.ndim());
  if (xn == 0 || yn == 0) return py::none();
  const int y_k = yn == 1 ? 0 : yn - 2;
  if (x.shape(xn - 1) != y.shape(y_k)) return py::none();
  Axes x_free, y_free;
  for (int i = 0; i < xn - 1; ++i) x_free.push(i);
  for (int i = 0; i < yn; ++i)
    if (i != y_k) y_free.push(i);
  return scalar_if_0d(contract_axes(x, y, x_free, xn - 1, y_free, y_k, false));
}

// K.batch_dot's common case (Keras 2.3 axes rules); None when Python must validate or explain.
py::object batch_dot_fast(py::handle xh, py::handle yh, py::handle axes) {
  if (!same_plain_floats(xh, yh)) return py::none();
  const auto x = py::reinterpret_borrow<py::array>(xh), y = py::reinterpret_borrow<py::array>(yh);
  const int xn = static_cast<int>(x.ndim()), yn = static_cast<int>(y.ndim());
  if (xn < 2 || yn < 2 || x.shape(0) != y.shape(0)) return py::none();
  long a0, a1;
  if (axes.is_none()) {
    a0 = xn - 1;
    a1 = yn == 2 ? yn - 1 : yn - 2;
  } else if (PyLong_CheckExact(axes.ptr())) {
    int overflow = 0;
    a0 = a1 = PyLong_AsLongAndOverflow(axes.ptr(), &overflow);
    if (overflow) return py::none();
  } else if ((PyList_CheckExact(axes.ptr()) || PyTuple_CheckExact(axes.ptr())) && py::len(axes) == 2) {
    const py::sequence seq = py::reinterpret_borrow<py::sequence>(axes);
    if (!PyLong_CheckExact(seq[0].ptr()) || !PyLong_CheckExact(seq[1].ptr())) return py::none();
    int o0 = 0, o1 = 0;
    a0 = PyLong_AsLongAndOverflow(seq[0].ptr(), &o0);
    a1 = PyLong_AsLongAndOverflow(seq[1].ptr(), &o1);
    if (o0 || o1) return py::none();
  } else {
    return py::none();
  }
  if (a0 < 0) a0 += xn;
  if (a1 < 0) a1 += yn;
  if (a0 <= 0 || a0 >= xn || a1 <= 0 || a1 >= yn || x.shape(a0) != y.shape(a1)) return py::none();
  Axes x_free, y_free;
  for (int i = 1; i < xn; ++i)
    if (i != a0) x_free.push(i);
  for (int i = 1; i < yn; ++i)
    if (i != a1) y_free.push(i);
  py::array out = contract_axes(x, y, x_free, static_cast<int>(a0), y_free, static_cast<int>(a1), true);
  if (out.ndim() == 1) out = out.reshape({out.shape(0), py::ssize_t{1}});  // rank-2 . rank-2: (batch, 1)
  return std::move(out);
}

py::object dot_fast_args(PyObject* const* args) { return dot_fast(args[0], args[1]); }
py::object batch_dot_fast_args(PyObject* const* args) { return batch_dot_fast(args[0], args[1], args[2]); }

}  // namespace

void register_gemm(py::module_& m) {
  static PyMethodDef dot_fast_def = {
      "dot_fast", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<dot_fast_args, 2>)),
      METH_FASTCALL, "dot_fast(x, y): K.dot for plain float arrays; None otherwise."};
  static PyMethodDef batch_dot_fast_def = {
      "batch_dot_fast", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<batch_dot_fast_args, 3>)),
      METH_FASTCALL, "batch_dot_fast(x, y, axes): K.batch_dot for plain float arrays; None otherwise."};
  add_fastcall(m, &dot_fast_def);
  add_fastcall(m, &batch_dot_fast_def);
  m.def("contract", &contract, py::arg("x"), py::arg("y"), py::arg("x_free"), py::arg("x_k"), py::arg("y_free"),
        py::arg("y_k"), py::arg("batched"),
        "Tensordot of x and y over one axis each (per sample when batched), by strides.");
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"),
        "Batched product of a (batch, M, K) and b (batch, K, N) float arrays of one dtype, any strides.");
}

}  // namespace kcore_py
