// scan(kind, x, axis): cumsum or cumprod of a plain float16/32/64 array along one axis, Keras
// rules included (keras_args.hpp). None for any other x.
#include <pybind11/numpy.h>
#include <pybind11/native_enum.h>
#include <pybind11/pybind11.h>

#include "bindings/array_view.hpp"
#include "bindings/fastcall.hpp"
#include "bindings/keras_args.hpp"
#include "bindings/results.hpp"
#include "bindings/without_gil.hpp"
#include "kcore/dispatch.hpp"
#include "kcore/scan_plan.hpp"

namespace py = pybind11;

namespace kcore_py {
namespace {

using kcore::ScanKind;

py::object scan(ScanKind kind, py::handle x, py::handle axis) {
  if (!is_plain_float_array(x)) return py::none();
  const py::array arr = aligned_array(x);
  const char* fn = kind == ScanKind::sum ? "cumsum" : "cumprod";
  const kcore::ArrayRef in = to_ref(arr, fn);
  const int ax = scan_axis(axis, in.ndim, fn);
  // The result follows x's memory order (as NumPy's cumsum): every layout scans like C order.
  py::array out = empty_like_k(arr, arr.dtype());
  const kcore::ArrayRef dst = to_ref(out, fn);
  const kcore::ScanPlan plan = kcore::make_scan_plan(in, ax, dst.data, dst.strides, kind);
  without_gil([&] { kcore::kernels().scan(plan); });
  return std::move(out);
}

py::object scan_args(PyObject* const* args, Py_ssize_t) {
  return scan(enum_arg<ScanKind>(args[0], ScanKind::prod, "scan"), args[1], args[2]);
}

}  // namespace

void register_scan(py::module_& m) {
  py::native_enum<ScanKind>(m, "ScanKind", "enum.IntEnum")
      .value("sum", ScanKind::sum)
      .value("prod", ScanKind::prod)
      .finalize();
  static PyMethodDef scan_def = {
      "scan", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<scan_args, 3>)), METH_FASTCALL,
      "scan(kind, x, axis): cumsum or cumprod (a ScanKind) of a plain float16/32/64 ndarray along `axis`, into a new "
      "array of x's dtype in x's memory order; None for any other x."};
  add_fastcall(m, &scan_def);
}

}  // namespace kcore_py
