// scan(kind, x, axis): cumsum (kind 0) or cumprod (kind 1) of a float array along one axis.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/array_view.hpp"
#include "bindings/layout.hpp"
#include "kcore/dispatch.hpp"
#include "kcore/scan_plan.hpp"

namespace py = pybind11;

namespace kcore_py {
namespace {

py::array scan(int kind, const py::array& x, int axis) {
  if (kind != 0 && kind != 1) throw py::value_error("scan: kind must be 0 (cumsum) or 1 (cumprod)");
  const char* fn = kind == 0 ? "cumsum" : "cumprod";
  const kcore::ArrayRef in = to_ref(x, fn);
  if (axis < 0 || axis >= in.ndim)
    throw py::value_error(std::string(fn) + ": axis " + std::to_string(axis) + " is out of range");
  // The result follows x's memory order (as NumPy's cumsum): every layout scans like C order.
  py::array out = empty_like_k(x, x.dtype());
  const auto strides = byte_strides(out);
  const kcore::ScanPlan plan = kcore::make_scan_plan(in, axis, static_cast<char*>(out.mutable_data()), strides.data(),
                                                     kind == 0 ? kcore::ScanKind::sum : kcore::ScanKind::prod);
  {
    py::gil_scoped_release release;
    kcore::kernels().scan(plan);
  }
  return out;
}

}  // namespace

void register_scan(py::module_& m) {
  m.def("scan", &scan, py::arg("kind"), py::arg("x"), py::arg("axis"),
        "Cumulative sum (kind 0) or product (kind 1) along a non-negative axis, into a new "
        "array of x's dtype in x's memory order.");
}

}  // namespace kcore_py
