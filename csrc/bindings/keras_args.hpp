// Keras's rules for the arguments of the native families, in one place: axes (reductions,
// scans, argmax's `axis=None`), permutation patterns, dtype names and the dot/batch_dot shape and
// axes rules. The native entries use them directly; the Python layer reaches the same functions
// through the `_core` bindings registered here, for inputs the native kernels do not take
// (integer and bool arrays). Errors are TypeError/ValueError naming the function.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "kcore/array_ref.hpp"

namespace kcore_py {

namespace py = pybind11;

// Marks in `mark` (ndim entries, cleared here) the axes `axis` names: None (all), an int or a
// list/tuple of distinct ints, negative ones counted from the end.
void parse_axes(py::handle axis, int ndim, const char* fn, bool* mark);

// One axis (an int, negative counted from the end).
int single_axis(py::handle axis, int ndim, const char* fn);

// argmax/argmin: one axis, None meaning 0 (as tf.argmax); rank >= 1; the axis must not be empty.
int arg_axis(py::handle axis, int ndim, const std::int64_t* shape, const char* fn);

// cumsum/cumprod: one axis, never None; rank >= 1.
int scan_axis(py::handle axis, int ndim, const char* fn);

// permute_dimensions: `pattern` as a permutation of the ndim axes, into perm.
void permutation(py::handle pattern, int ndim, const std::int64_t* shape, int* perm);

// dot: rank >= 1 each, x's last axis against y's only or second-to-last one. Returns y's axis.
int dot_axis(int xn, const std::int64_t* xs, int yn, const std::int64_t* ys);

// batch_dot (Keras 2.3): rank >= 2 each, equal batch sizes, axes None / an int / a pair of ints
// (negative from the end, never 0), equal contracted sizes. Returns the axes in a0, a1.
void batch_dot_axes(py::handle axes, int xn, const std::int64_t* xs, int yn, const std::int64_t* ys, int& a0,
                    int& a1);

// A dtype argument (a name, a NumPy dtype or scalar type, or an object with a `name`) as one of
// the names kcore accepts (float16/32/64, int8-64, uint8-64, bool); TypeError otherwise, also
// for Python's float, int and bool (NumPy reads float as float64, TensorFlow as float32).
std::string dtype_name(py::handle dtype, const char* fn);

// A flag argument (keepdims, from_logits, ...) as TensorFlow reads it, bool(v), for bools, None and
// numbers (Python's, NumPy scalars, 0-d numeric arrays); TypeError for anything else (text, lists,
// arrays of several elements, objects), naming the function and the argument.
bool flag(py::handle v, const char* fn, const char* what);

// Python's repr of a shape, "(2, 3)" or "(3,)".
std::string shape_repr(int ndim, const std::int64_t* shape);

void register_keras_args(py::module_& m);

}  // namespace kcore_py
