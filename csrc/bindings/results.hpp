// Allocating results: every result array is created here, in C order or in an input's memory order.
#pragma once
#include <pybind11/numpy.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <vector>

namespace kcore_py {

namespace py = pybind11;

// Every result array is created here: a new array of `descr` (borrowed) with the given shape and
// byte strides (nullptr: C order). Large ones take their memory from the result block cache
// (result_memory.cpp). Returns a new reference, or nullptr with a Python error set.
PyObject* new_result_array(PyObject* descr, int ndim, const Py_ssize_t* shape, const Py_ssize_t* strides);

inline py::array steal_result(PyObject* out) {
  if (out == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(out);
}

// An uninitialised array with x's shape whose memory order follows x's (NumPy's order='K'):
// elementwise results of a transposed input are then written contiguously, as NumPy does.
// Strides are positive; ties keep C order.
inline py::array empty_like_k(const py::array& x, const py::dtype& dtype) {
  const auto nd = static_cast<std::size_t>(x.ndim());
  std::vector<py::ssize_t> shape(x.shape(), x.shape() + nd), strides(nd);
  std::vector<std::size_t> order(nd);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::llabs(x.strides(static_cast<py::ssize_t>(a))) > std::llabs(x.strides(static_cast<py::ssize_t>(b)));
  });
  py::ssize_t step = dtype.itemsize();
  for (std::size_t k = nd; k-- > 0;) {
    strides[order[k]] = step;
    step *= shape[order[k]];
  }
  return steal_result(new_result_array(dtype.ptr(), static_cast<int>(nd), shape.data(), strides.data()));
}

// A new C-contiguous array: straight through NumPy's C API (no shape vectors), for small calls.
inline py::array empty_c_shape(const py::dtype& dtype, int ndim, const std::int64_t* shape) {
  Py_ssize_t s[64];
  for (int i = 0; i < ndim; ++i) s[i] = static_cast<Py_ssize_t>(shape[i]);
  return steal_result(new_result_array(dtype.ptr(), ndim, s, nullptr));
}

inline std::vector<std::int64_t> byte_strides(const py::array& a) {
  return std::vector<std::int64_t>(a.strides(), a.strides() + a.ndim());
}

// Where a copy's result goes: C order, or x's memory order (NumPy's order='K').
enum class ResultOrder { c, like_input };

}  // namespace kcore_py
