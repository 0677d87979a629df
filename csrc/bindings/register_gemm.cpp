// matmul(a, b): a (batch, M, K) and b (batch, K, N), any strides, same float dtype; returns a new
// C-contiguous (batch, M, N). A batch dim of size 1 with stride 0 broadcasts.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/array_view.hpp"
#include "kcore/dispatch.hpp"
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

}  // namespace

void register_gemm(py::module_& m) {
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"),
        "Batched product of a (batch, M, K) and b (batch, K, N) float arrays of one dtype, any strides.");
}

}  // namespace kcore_py
