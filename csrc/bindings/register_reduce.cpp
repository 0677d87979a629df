// reduce(kind, x, axis, keepdims): every reduction of a plain float16/32/64 array, Keras rules
// included (keras_args.hpp). None for any other x: the Python layer converts it or routes it.
#include <pybind11/numpy.h>
#include <pybind11/native_enum.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/array_view.hpp"
#include "bindings/fastcall.hpp"
#include "bindings/keras_args.hpp"
#include "bindings/results.hpp"
#include "bindings/without_gil.hpp"
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
                     bool keepdims, bool wide = false) {
  // dtype objects are cached: building one from a string costs more than a small reduction.
  static const py::dtype int64_dtype = py::dtype::of<std::int64_t>();
  static const py::dtype bool_dtype = py::dtype::of<bool>();
  static const py::dtype float32_dtype = py::dtype::of<float>();
  static const py::dtype float64_dtype = py::dtype::of<double>();
  py::dtype out_dtype = x.dtype();
  kcore::DType out_kind = in.dtype;
  if (wide) {
    out_kind = kcore::sum_accumulator(in.dtype);
    out_dtype = out_kind == kcore::DType::f32 ? float32_dtype : float64_dtype;
  } else if (kcore::is_index_kind(kind)) {
    out_dtype = int64_dtype;
    out_kind = kcore::DType::i64;
  } else if (kind == ReduceKind::any || kind == ReduceKind::all) {
    out_dtype = bool_dtype;
    out_kind = kcore::DType::b8;
  }
  py::ssize_t shape[kcore::kMaxDims];
  int nd = 0;
  for (int i = 0; i < in.ndim; ++i) {
    if (!reduce_axis[i]) shape[nd++] = in.shape[i];
    else if (keepdims) shape[nd++] = 1;
  }
  py::array out = steal_result(new_result_array(out_dtype.ptr(), nd, shape, nullptr));
  const kcore::ReducePlan plan = kcore::make_reduce_plan(in, reduce_axis, static_cast<char*>(out.mutable_data()), out_kind, kind);
  without_gil([&] { kcore::kernels().reduce(plan); });
  return out;
}

py::object reduce(ReduceKind kind, py::handle x, py::handle axis, bool keepdims, bool wide) {
  if (!is_plain_float_array(x)) return py::none();
  if (wide && kind != ReduceKind::sum)
    throw py::value_error(std::string("reduce: wide=True is for sum only, got ") + kind_name(kind));
  const py::array arr = aligned_array(x);
  const char* fn = kind_name(kind);
  const kcore::ArrayRef in = to_ref(arr, fn);
  bool reduce_axis[kcore::kMaxDims];
  if (kcore::is_index_kind(kind)) {
    std::fill(reduce_axis, reduce_axis + in.ndim, false);
    reduce_axis[arg_axis(axis, in.ndim, in.shape, fn)] = true;
    keepdims = false;
  } else {
    parse_axes(axis, in.ndim, fn, reduce_axis);
  }
  return scalar_if_0d(run_reduce(kind, arr, in, reduce_axis, keepdims, wide));
}

py::object reduce_args(PyObject* const* args, Py_ssize_t n) {
  const ReduceKind kind = enum_arg<ReduceKind>(args[0], ReduceKind::all, "reduce");
  const bool keepdims = n > 3 && flag(args[3], kind_name(kind), "keepdims");
  const bool wide = n > 4 && flag(args[4], kind_name(kind), "wide");
  return reduce(kind, args[1], args[2], keepdims, wide);
}

}  // namespace

void register_reduce(py::module_& m) {
  py::native_enum<ReduceKind>(m, "ReduceKind", "enum.IntEnum")
      .value("sum", ReduceKind::sum)
      .value("prod", ReduceKind::prod)
      .value("mean", ReduceKind::mean)
      .value("max", ReduceKind::max)
      .value("min", ReduceKind::min)
      .value("argmax", ReduceKind::argmax)
      .value("argmin", ReduceKind::argmin)
      .value("var", ReduceKind::var)
      .value("std", ReduceKind::std_)
      .value("any", ReduceKind::any)
      .value("all", ReduceKind::all)
      .finalize();
  static PyMethodDef reduce_def = {
      "reduce", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<reduce_args, 3, 5>)), METH_FASTCALL,
      "reduce(kind, x, axis[, keepdims[, wide]]): the reduction `kind` (a ReduceKind) of a plain float16/32/64 "
      "ndarray with Keras's rules (argmax/argmin: one axis, None meaning 0, no keepdims); None for any other x. "
      "wide (sum only): the sum in its accumulator's dtype (float16: float32, else float64), not rounded to x's."};
  add_fastcall(m, &reduce_def);
}

}  // namespace kcore_py
