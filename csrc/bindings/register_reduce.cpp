// reduce(kind, x, axes): one entry for every reduction. The Python layer validates and routes
// non-float dtypes; this checks again, allocates the result, and runs the kernel without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/array_view.hpp"
#include "bindings/fastcall.hpp"
#include "bindings/layout.hpp"
#include "kcore/dispatch.hpp"
#include "kcore/reduce_plan.hpp"

namespace py = pybind11;

namespace kcore_py {
namespace {

using kcore::ReduceKind;

const char* kind_name(ReduceKind k) {
  static const char* names[] = {"sum", "prod", "mean", "max", "min", "argmax", "argmin", "var", "std", "any", "all"};
  return names[static_cast<int>(k)];
}

// Allocates the result (with size-1 reduced dims when keepdims: the memory layout is the same)
// and runs the kernel without the GIL.
py::array run_reduce(ReduceKind kind, const py::array& x, const kcore::ArrayRef& in, const bool* reduce_axis,
                     bool keepdims) {
  // dtype objects are cached: building one from a string costs more than a small reduction.
  static const py::dtype int64_dtype = py::dtype::of<std::int64_t>();
  static const py::dtype bool_dtype = py::dtype::of<bool>();
  py::dtype out_dtype = x.dtype();
  kcore::DType out_kind = in.dtype;
  if (kind == ReduceKind::argmax || kind == ReduceKind::argmin) {
    out_dtype = int64_dtype;
    out_kind = kcore::DType::i64;
  } else if (kind == ReduceKind::any || kind == ReduceKind::all) {
    out_dtype = bool_dtype;
    out_kind = kcore::DType::b8;
  }
  std::vector<py::ssize_t> shape;
  shape.reserve(static_cast<std::size_t>(in.ndim));
  for (int i = 0; i < in.ndim; ++i) {
    if (!reduce_axis[i]) shape.push_back(in.shape[i]);
    else if (keepdims) shape.push_back(1);
  }
  py::array out = steal_result(new_result_array(out_dtype.ptr(), static_cast<int>(shape.size()), shape.data(), nullptr));
  const kcore::ReducePlan plan = kcore::make_reduce_plan(in, reduce_axis, static_cast<char*>(out.mutable_data()), out_kind, kind);
  {
    py::gil_scoped_release release;
    kcore::kernels().reduce(plan);
  }
  return out;
}

bool is_index_kind(ReduceKind k) { return k == ReduceKind::argmax || k == ReduceKind::argmin; }

py::array reduce(int kind_code, const py::array& x, const py::object& axes) {
  if (kind_code < 0 || kind_code > static_cast<int>(ReduceKind::all))
    throw py::value_error("reduce: unknown kind " + std::to_string(kind_code));
  const auto kind = static_cast<ReduceKind>(kind_code);
  const char* fn = kind_name(kind);
  kcore::ArrayRef in = to_ref(x, fn);

  bool reduce_axis[kcore::kMaxDims] = {};
  if (axes.is_none()) {
    for (int i = 0; i < in.ndim; ++i) reduce_axis[i] = true;
  } else {
    for (const py::handle h : axes) {
      const int a = h.cast<int>();
      if (a < 0 || a >= in.ndim || reduce_axis[a])
        throw py::value_error(std::string(fn) + ": invalid or repeated axis " + std::to_string(a) +
                              " for an array of rank " + std::to_string(in.ndim));
      reduce_axis[a] = true;
    }
  }
  if (is_index_kind(kind)) {
    int n = 0;
    for (int i = 0; i < in.ndim; ++i) n += reduce_axis[i];
    if (n != 1) throw py::value_error(std::string(fn) + ": exactly one axis is reduced");
  }
  return run_reduce(kind, x, in, reduce_axis, false);
}

// The whole common case in one call: an exact ndarray of native float16/32/64, axis None, an int
// or a tuple of ints. Returns None for anything else (the Python layer then validates, explains
// errors and routes other dtypes). 0-d results come back as NumPy scalars, as NumPy's.
py::object reduce_fast(int kind_code, py::handle x, py::handle axis, bool keepdims) {
  if (kind_code < 0 || kind_code > static_cast<int>(ReduceKind::all)) return py::none();
  const auto kind = static_cast<ReduceKind>(kind_code);
  if (!is_plain_float_array(x)) return py::none();
  const auto arr = py::reinterpret_borrow<py::array>(x);
  const int nd = static_cast<int>(arr.ndim());
  bool reduce_axis[kcore::kMaxDims] = {};
  auto mark = [&](py::handle h) {
    if (!PyLong_CheckExact(h.ptr())) return false;
    int overflow = 0;
    long a = PyLong_AsLongAndOverflow(h.ptr(), &overflow);
    if (overflow) return false;  // out of range: Python reports it
    if (a < 0) a += nd;
    if (a < 0 || a >= nd || reduce_axis[a]) return false;
    reduce_axis[a] = true;
    return true;
  };
  if (is_index_kind(kind)) {
    if (nd == 0) return py::none();
    if (axis.is_none()) reduce_axis[0] = true;  // tf.argmax: axis None means 0
    else if (!mark(axis)) return py::none();
    for (int i = 0; i < nd; ++i)
      if (reduce_axis[i] && arr.shape(i) == 0) return py::none();  // Python raises the error
  } else if (axis.is_none()) {
    for (int i = 0; i < nd; ++i) reduce_axis[i] = true;
  } else if (PyTuple_CheckExact(axis.ptr()) || PyList_Check(axis.ptr())) {
    for (const py::handle h : axis)
      if (!mark(h)) return py::none();
  } else if (!mark(axis)) {
    return py::none();
  }
  const kcore::ArrayRef in = to_ref(arr, kind_name(kind));
  py::array out = run_reduce(kind, arr, in, reduce_axis, keepdims && !is_index_kind(kind));
  if (out.ndim() == 0) return py::reinterpret_steal<py::object>(PyObject_GetItem(out.ptr(), py::tuple().ptr()));
  return std::move(out);
}

py::object reduce_fast_args(PyObject* const* args) {
  if (!PyLong_CheckExact(args[0])) return py::none();
  int overflow = 0;
  const long kind = PyLong_AsLongAndOverflow(args[0], &overflow);
  const int keepdims = PyObject_IsTrue(args[3]);
  if (overflow || keepdims < 0) {
    PyErr_Clear();
    return py::none();
  }
  return reduce_fast(static_cast<int>(kind), args[1], args[2], keepdims != 0);
}

}  // namespace

void register_reduce(py::module_& m) {
  static PyMethodDef reduce_fast_def = {
      "reduce_fast", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<reduce_fast_args, 4>)),
      METH_FASTCALL,
      "reduce_fast(kind, x, axis, keepdims): fast path of the reductions for plain float arrays; None when the "
      "Python layer must handle x."};
  add_fastcall(m, &reduce_fast_def);
  m.def("reduce", &reduce, py::arg("kind"), py::arg("x"), py::arg("axes"),
        "Reduce a float16/32/64 array over `axes` (a tuple of distinct non-negative ints, or "
        "None for all). kind: 0 sum, 1 prod, 2 mean, 3 max, 4 min, 5 argmax, 6 argmin, 7 var, "
        "8 std, 9 any, 10 all.");
}

}  // namespace kcore_py
