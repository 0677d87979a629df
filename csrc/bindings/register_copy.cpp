// copy(x, dtype, keep_layout): a new array holding x (any layout) converted to dtype. Serves
// transpose/permute_dimensions (x is a permuted view, result C-contiguous) and casts between
// float types (result in x's memory order, as NumPy's astype).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/array_view.hpp"
#include "bindings/fastcall.hpp"
#include "bindings/layout.hpp"
#include "kcore/copy_plan.hpp"
#include "kcore/dispatch.hpp"

namespace py = pybind11;

namespace kcore_py {
namespace {

py::array copy(const py::array& x, const py::dtype& dtype, bool keep_layout) {
  const kcore::ArrayRef in = to_ref(x, "copy");
  py::array out = keep_layout ? empty_like_k(x, dtype) : empty_c(x, dtype);
  const kcore::DType dst = native_float_dtype(out, "copy");
  const auto strides = byte_strides(out);
  const kcore::CopyPlan plan = kcore::make_copy_plan(in, static_cast<char*>(out.mutable_data()), strides.data(), dst);
  {
    py::gil_scoped_release release;
    kcore::kernels().copy(plan);
  }
  return out;
}

// cast fast path: plain float array to one of the float type names. None otherwise.
py::object cast_fast(py::handle x, py::handle dtype_name) {
  // Never destroyed: a static py::object would be released after the interpreter is gone.
  static const py::dtype& f16 = *new py::dtype("float16");
  static const py::dtype& f32 = *new py::dtype("float32");
  static const py::dtype& f64 = *new py::dtype("float64");
  if (!is_plain_float_array(x) || !PyUnicode_CheckExact(dtype_name.ptr())) return py::none();
  PyObject* name = dtype_name.ptr();
  const py::dtype* dt = PyUnicode_CompareWithASCIIString(name, "float32") == 0   ? &f32
                        : PyUnicode_CompareWithASCIIString(name, "float16") == 0 ? &f16
                        : PyUnicode_CompareWithASCIIString(name, "float64") == 0 ? &f64
                                                                                 : nullptr;
  if (dt == nullptr) return py::none();
  const auto arr = py::reinterpret_borrow<py::array>(x);
  // A C-contiguous input keeps C order: skip the layout sort.
  return copy(arr, *dt, !(arr.flags() & py::array::c_style));
}

py::object cast_fast_args(PyObject* const* args) { return cast_fast(args[0], args[1]); }

}  // namespace

void register_copy(py::module_& m) {
  static PyMethodDef cast_fast_def = {
      "cast_fast", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<cast_fast_args, 2>)),
      METH_FASTCALL, "cast_fast(x, dtype): fast path of cast for plain float arrays and float type names; None otherwise."};
  add_fastcall(m, &cast_fast_def);
  m.def("copy", &copy, py::arg("x"), py::arg("dtype"), py::arg("keep_layout"),
        "A new array with x's values (any layout) converted to dtype (float16/32/64 both ways, "
        "as NumPy's astype): C-contiguous, or in x's memory order with keep_layout.");
}

}  // namespace kcore_py
