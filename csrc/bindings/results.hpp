// Allocating results: every result array is created here, in C order or in an input's memory order.
#pragma once
#include <pybind11/numpy.h>

#include <cstdint>
#include <cstdlib>

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
  const int nd = static_cast<int>(x.ndim());  // at most 64 (NumPy's limit)
  const py::ssize_t* shape = x.shape();
  const py::ssize_t* xs = x.strides();
  Py_ssize_t strides[64];
  int order[64];
  for (int k = 0; k < nd; ++k) {  // axes by |stride|, largest first; an insertion sort keeps ties in order
    int j = k;
    for (; j > 0 && std::llabs(xs[order[j - 1]]) < std::llabs(xs[k]); --j) order[j] = order[j - 1];
    order[j] = k;
  }
  py::ssize_t step = dtype.itemsize();
  for (int k = nd - 1; k >= 0; --k) {
    strides[order[k]] = step;
    step *= shape[order[k]];
  }
  return steal_result(new_result_array(dtype.ptr(), nd, shape, strides));
}

// A new C-contiguous array: straight through NumPy's C API (no shape vectors), for small calls.
inline py::array empty_c_shape(const py::dtype& dtype, int ndim, const std::int64_t* shape) {
  Py_ssize_t s[64];
  for (int i = 0; i < ndim; ++i) s[i] = static_cast<Py_ssize_t>(shape[i]);
  return steal_result(new_result_array(dtype.ptr(), ndim, s, nullptr));
}

// Where a copy's result goes: C order, or x's memory order (NumPy's order='K').
enum class ResultOrder { c, like_input };

}  // namespace kcore_py
