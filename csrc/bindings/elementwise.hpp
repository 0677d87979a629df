// Copies through the elementwise engine, for the other bindings too (GEMM operands are packed
// with them).
#pragma once
#include <pybind11/numpy.h>

#include "bindings/results.hpp"
#include "kcore/array_ref.hpp"

namespace kcore_py {

namespace py = pybind11;

// A new array of `dtype` holding the values of src (a view of like's data, any strides), in C
// order or in like's memory order.
py::array copy_of(const py::array& like, const kcore::ArrayRef& src, const py::dtype& dtype, ResultOrder order);

}  // namespace kcore_py
