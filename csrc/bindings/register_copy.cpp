// copy(x, dtype): a new C-contiguous array holding x (any layout) converted to dtype. Serves
// transpose/permute_dimensions (x is a permuted view) and casts between float types.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/array_view.hpp"
#include "kcore/copy_plan.hpp"
#include "kcore/dispatch.hpp"

namespace py = pybind11;

namespace kcore_py {
namespace {

py::array copy(const py::array& x, const py::dtype& dtype) {
  const kcore::ArrayRef in = to_ref(x, "copy");
  py::array out(dtype, std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()), std::vector<py::ssize_t>{});
  const kcore::DType dst = native_float_dtype(out, "copy");
  const kcore::CopyPlan plan = kcore::make_copy_plan(in, static_cast<char*>(out.mutable_data()), dst);
  {
    py::gil_scoped_release release;
    kcore::kernels().copy(plan);
  }
  return out;
}

}  // namespace

void register_copy(py::module_& m) {
  m.def("copy", &copy, py::arg("x"), py::arg("dtype"),
        "A new C-contiguous array with x's values (any layout) converted to dtype "
        "(float16/32/64 both ways, as NumPy's astype).");
}

}  // namespace kcore_py
