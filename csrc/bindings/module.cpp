// kcore._core: registration only; each family binds itself in register_<family>.cpp.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace kcore_py {
void register_runtime(py::module_& m);
void register_reduce(py::module_& m);
void register_keras_args(py::module_& m);
void register_elementwise(py::module_& m);
void register_scan(py::module_& m);
void register_gemm(py::module_& m);
void register_conv(py::module_& m);
}  // namespace kcore_py

PYBIND11_MODULE(_core, m) {
  m.doc() = "kcore native kernels (internal; use kcore.backend)";
  kcore_py::register_runtime(m);
  kcore_py::register_reduce(m);
  kcore_py::register_keras_args(m);
  kcore_py::register_elementwise(m);
  kcore_py::register_scan(m);
  kcore_py::register_gemm(m);
  kcore_py::register_conv(m);
}
