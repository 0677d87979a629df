// reduce(kind, x, axes): one entry for every reduction. The Python layer validates and routes
// non-float dtypes; this checks again, allocates the result, and runs the kernel without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/array_view.hpp"
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
  if (kind == ReduceKind::argmax || kind == ReduceKind::argmin) {
    int n = 0;
    for (int i = 0; i < in.ndim; ++i) n += reduce_axis[i];
    if (n != 1) throw py::value_error(std::string(fn) + ": exactly one axis is reduced");
  }

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
  for (int i = 0; i < in.ndim; ++i)
    if (!reduce_axis[i]) shape.push_back(in.shape[i]);
  py::array out(out_dtype, std::move(shape), std::vector<py::ssize_t>{});

  const kcore::ReducePlan plan = kcore::make_reduce_plan(in, reduce_axis, static_cast<char*>(out.mutable_data()), out_kind, kind);
  {
    py::gil_scoped_release release;
    kcore::kernels().reduce(plan);
  }
  return out;
}

}  // namespace

void register_reduce(py::module_& m) {
  m.def("reduce", &reduce, py::arg("kind"), py::arg("x"), py::arg("axes"),
        "Reduce a float16/32/64 array over `axes` (a tuple of distinct non-negative ints, or "
        "None for all). kind: 0 sum, 1 prod, 2 mean, 3 max, 4 min, 5 argmax, 6 argmin, 7 var, "
        "8 std, 9 any, 10 all.");
}

}  // namespace kcore_py
