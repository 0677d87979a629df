#include "bindings/keras_args.hpp"

#include <pybind11/numpy.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace kcore_py {
namespace {

// Error texts quote Python reprs; they are only built on the error paths.
std::string py_repr(py::handle h) { return py::repr(h).cast<std::string>(); }
std::string type_name(py::handle h) { return py::str(py::type::handle_of(h).attr("__name__")).cast<std::string>(); }

// An int argument (not bool) as a long long; false for anything else. `overflow` is set for an
// int beyond long long (its repr is then in `text`).
bool index_value(py::handle h, long long& v, bool& overflow, std::string& text) {
  overflow = false;
  if (PyLong_CheckExact(h.ptr())) {
    int of = 0;
    v = PyLong_AsLongLongAndOverflow(h.ptr(), &of);
    if (of) overflow = true, text = py::str(h).cast<std::string>();
    return true;
  }
  if (PyBool_Check(h.ptr()) || !PyIndex_Check(h.ptr())) return false;
  const py::object i = py::reinterpret_steal<py::object>(PyNumber_Index(h.ptr()));
  if (!i) {  // e.g. an array of several elements: not an int, whatever it says
    PyErr_Clear();
    return false;
  }
  int of = 0;
  v = PyLong_AsLongLongAndOverflow(i.ptr(), &of);
  if (of) overflow = true, text = py::str(i).cast<std::string>();
  return true;
}

[[noreturn]] void axis_out_of_bounds(const std::string& value, int ndim, const char* fn) {
  if (ndim == 0)
    throw py::value_error(std::string(fn) + ": axis " + value + " is out of bounds for a rank-0 array (it has no axes)");
  throw py::value_error(std::string(fn) + ": axis " + value + " is out of bounds for an array of rank " +
                        std::to_string(ndim) + " (valid: " + std::to_string(-ndim) + " to " + std::to_string(ndim - 1) +
                        ")");
}

int axis_int(py::handle ax, int ndim, const char* fn) {
  long long v = 0;
  bool overflow = false;
  std::string text;
  if (PyBool_Check(ax.ptr()))
    throw py::type_error(std::string(fn) + ": axis must be an int, a list/tuple of ints or None, got " + py_repr(ax));
  if (!index_value(ax, v, overflow, text))
    throw py::type_error(std::string(fn) + ": axis must be an int, a list/tuple of ints or None, got " + type_name(ax));
  if (overflow) axis_out_of_bounds(text, ndim, fn);
  if (v < -ndim || v >= ndim) axis_out_of_bounds(std::to_string(v), ndim, fn);
  return static_cast<int>(v < 0 ? v + ndim : v);
}

bool is_list_or_tuple(py::handle h) { return PyList_Check(h.ptr()) || PyTuple_Check(h.ptr()); }

// A NumPy scalar type (np.float32, ...): a subclass of np.generic. Python's own float, int and
// bool are not accepted as dtypes: NumPy reads float as float64, TensorFlow as float32.
bool is_numpy_scalar_type(py::handle t) {
  static PyObject* generic = py::object(py::module_::import("numpy").attr("generic")).release().ptr();
  return PyObject_IsSubclass(t.ptr(), generic) == 1;
}

}  // namespace

std::string shape_repr(int ndim, const std::int64_t* shape) {
  std::string s = "(";
  for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (ndim == 1 ? ",)" : ")");
}

void parse_axes(py::handle axis, int ndim, const char* fn, bool* mark) {
  std::fill(mark, mark + ndim, false);
  if (axis.is_none()) {
    std::fill(mark, mark + ndim, true);
    return;
  }
  if (PyLong_CheckExact(axis.ptr())) {  // the common call, without the generic checks
    int of = 0;
    const long long v = PyLong_AsLongLongAndOverflow(axis.ptr(), &of);
    if (!of && v >= -ndim && v < ndim) {
      mark[v < 0 ? v + ndim : v] = true;
      return;
    }
  }
  if (!is_list_or_tuple(axis)) {
    if (py::isinstance<py::array>(axis)) {  // a 1-D integer array of axes, as tf.reduce_* takes
      const auto a = py::reinterpret_borrow<py::array>(axis);
      const char kind = a.dtype().kind();
      if (a.ndim() == 1 && (kind == 'i' || kind == 'u')) return parse_axes(axis.attr("tolist")(), ndim, fn, mark);
    }
    mark[axis_int(axis, ndim, fn)] = true;
    return;
  }
  // Every axis is checked before any repeat is (as the Python route did); a list is read from a
  // tuple copy, since an element's __index__ could change the list under us.
  const py::tuple items = PyTuple_Check(axis.ptr()) ? py::reinterpret_borrow<py::tuple>(axis)
                                                     : py::reinterpret_steal<py::tuple>(PyList_AsTuple(axis.ptr()));
  if (!items) throw py::error_already_set();
  const Py_ssize_t n = PyTuple_GET_SIZE(items.ptr());
  int a[kcore::kMaxDims];
  bool repeated = n > ndim;
  for (Py_ssize_t i = 0; i < n; ++i) {
    const int ax = axis_int(PyTuple_GET_ITEM(items.ptr(), i), ndim, fn);
    if (i < ndim) a[i] = ax;
  }
  for (Py_ssize_t i = 0; i < n && !repeated; ++i) repeated = mark[a[i]], mark[a[i]] = true;
  if (repeated) throw py::value_error(std::string(fn) + ": repeated axis in " + py_repr(axis));
}

int single_axis(py::handle axis, int ndim, const char* fn) {
  if (PyLong_CheckExact(axis.ptr())) {
    int of = 0;
    const long long v = PyLong_AsLongLongAndOverflow(axis.ptr(), &of);
    if (!of && v >= -ndim && v < ndim) return static_cast<int>(v < 0 ? v + ndim : v);
  }
  if (is_list_or_tuple(axis)) throw py::type_error(std::string(fn) + ": axis must be a single int, got " + py_repr(axis));
  return axis_int(axis, ndim, fn);
}

int arg_axis(py::handle axis, int ndim, const std::int64_t* shape, const char* fn) {
  if (ndim == 0) throw py::value_error(std::string(fn) + ": needs an array of rank >= 1, got a rank-0 array");
  const int ax = axis.is_none() ? 0 : single_axis(axis, ndim, fn);  // tf.argmax: None means axis 0
  if (shape[ax] == 0)
    throw py::value_error(std::string(fn) + ": cannot take the " + fn + " of an empty axis (axis " +
                          std::to_string(ax) + " of shape " + shape_repr(ndim, shape) + ")");
  return ax;
}

int scan_axis(py::handle axis, int ndim, const char* fn) {
  if (ndim == 0) throw py::value_error(std::string(fn) + ": needs an array of rank >= 1, got a rank-0 array");
  if (axis.is_none())
    throw py::value_error(std::string(fn) + ": axis must be an int (Keras scans along one axis; default 0), got None");
  return single_axis(axis, ndim, fn);
}

void permutation(py::handle pattern, int ndim, const std::int64_t* shape, int* perm) {
  const char* fn = "permute_dimensions";
  if (PyUnicode_Check(pattern.ptr()) || PyBytes_Check(pattern.ptr()) || !py::hasattr(pattern, "__iter__"))
    throw py::type_error(std::string(fn) + ": pattern must be a tuple or list of ints, got " + type_name(pattern));
  const py::tuple items(py::reinterpret_borrow<py::object>(pattern));
  bool ok = static_cast<int>(items.size()) == ndim;
  bool seen[kcore::kMaxDims] = {};
  for (std::size_t i = 0; i < items.size(); ++i) {
    long long v = 0;
    bool overflow = false;
    std::string text;
    if (!index_value(items[i], v, overflow, text))
      throw py::type_error(std::string(fn) + ": pattern must hold ints, got " + py_repr(pattern));
    if (overflow || v < 0 || v >= ndim || seen[v] || !ok) {
      ok = false;
      continue;
    }
    seen[v] = true;
    perm[i] = static_cast<int>(v);
  }
  if (!ok)
    throw py::value_error(std::string(fn) + ": pattern " + py_repr(items) + " is not a permutation of the " +
                          std::to_string(ndim) + " axes of an array of shape " + shape_repr(ndim, shape));
}

int dot_axis(int xn, const std::int64_t* xs, int yn, const std::int64_t* ys) {
  if (xn == 0 || yn == 0)
    throw py::value_error("dot: operands must have rank >= 1, got shapes " + shape_repr(xn, xs) + " and " +
                          shape_repr(yn, ys));
  const int y_k = yn == 1 ? 0 : yn - 2;
  if (xs[xn - 1] != ys[y_k])
    throw py::value_error("dot: cannot contract the last axis of shape " + shape_repr(xn, xs) + " with " +
                          (yn == 1 ? "the only" : "the second-to-last") + " axis of shape " + shape_repr(yn, ys) + " (" +
                          std::to_string(xs[xn - 1]) + " != " + std::to_string(ys[y_k]) + ")");
  return y_k;
}

void batch_dot_axes(py::handle axes, int xn, const std::int64_t* xs, int yn, const std::int64_t* ys, int& a0,
                    int& a1) {
  const auto shapes = [&] { return shape_repr(xn, xs) + " and " + shape_repr(yn, ys); };
  if (xn < 2 || yn < 2)
    throw py::value_error("batch_dot: cannot do batch_dot on inputs with rank < 2; received inputs with shapes " +
                          shapes());
  if (xs[0] != ys[0])
    throw py::value_error("batch_dot: cannot do batch_dot on inputs with different batch sizes; received inputs with "
                          "shapes " + shapes());
  long long v[2] = {0, 0};
  std::string text[2];
  bool overflow = false;
  if (axes.is_none()) {
    v[0] = xn - 1;
    v[1] = yn == 2 ? yn - 1 : yn - 2;
  } else if (index_value(axes, v[0], overflow, text[0])) {
    v[1] = v[0], text[1] = text[0];
  } else if (is_list_or_tuple(axes)) {
    // A list is read from a tuple copy: an element's __index__ could change the list under us.
    const py::tuple items = PyTuple_Check(axes.ptr()) ? py::reinterpret_borrow<py::tuple>(axes)
                                                       : py::reinterpret_steal<py::tuple>(PyList_AsTuple(axes.ptr()));
    if (!items) throw py::error_already_set();
    const Py_ssize_t n = PyTuple_GET_SIZE(items.ptr());
    for (Py_ssize_t i = 0; i < n; ++i)
      if (is_list_or_tuple(PyTuple_GET_ITEM(items.ptr(), i)))
        throw py::value_error("batch_dot: multiple target dimensions are not supported; expected axes to be an int or "
                              "a pair of ints, got " + py_repr(axes));
    if (n != 2) throw py::value_error("batch_dot: axes must be an int or a pair of ints, got " + py_repr(axes));
    bool of = false;
    for (int i = 0; i < 2; ++i) {
      if (!index_value(PyTuple_GET_ITEM(items.ptr(), i), v[i], of, text[i]))
        throw py::type_error("batch_dot: axes must hold ints, got " + py_repr(axes));
      overflow |= of;
    }
  } else {
    throw py::type_error("batch_dot: axes must be None, an int or a pair of ints, got " + type_name(axes));
  }
  const auto given = [&] {
    std::string s[2];
    for (int i = 0; i < 2; ++i) s[i] = text[i].empty() ? std::to_string(v[i]) : text[i];
    return "[" + s[0] + ", " + s[1] + "]";
  };
  if (overflow || v[0] < -xn || v[0] >= xn || v[1] < -yn || v[1] >= yn)
    throw py::value_error("batch_dot: axes " + given() + " out of range for shapes " + shapes());
  a0 = static_cast<int>(v[0] < 0 ? v[0] + xn : v[0]);
  a1 = static_cast<int>(v[1] < 0 ? v[1] + yn : v[1]);
  if (a0 == 0 || a1 == 0)
    throw py::value_error("batch_dot: cannot perform batch_dot over axis 0 (the batch axis); got axes " + given() +
                          " for shapes " + shapes());
  if (xs[a0] != ys[a1])
    throw py::value_error("batch_dot: cannot do batch_dot on inputs with shapes " + shapes() + " with axes=[" +
                          std::to_string(a0) + ", " + std::to_string(a1) + "]; x.shape[" + std::to_string(a0) +
                          "] != y.shape[" + std::to_string(a1) + "] (" + std::to_string(xs[a0]) + " != " +
                          std::to_string(ys[a1]) + ")");
}

bool flag(py::handle v, const char* fn, const char* what) {
  if (v.ptr() == Py_True) return true;
  if (v.ptr() == Py_False || v.is_none()) return false;
  static PyObject* number = py::object(py::module_::import("numpy").attr("number")).release().ptr();
  static PyObject* complex = py::object(py::module_::import("numpy").attr("complexfloating")).release().ptr();
  static PyObject* numpy_bool = py::object(py::module_::import("numpy").attr("bool_")).release().ptr();
  bool ok = PyLong_Check(v.ptr()) || PyFloat_Check(v.ptr()) || PyObject_IsInstance(v.ptr(), numpy_bool) == 1 ||
            (PyObject_IsInstance(v.ptr(), number) == 1 && PyObject_IsInstance(v.ptr(), complex) != 1);
  if (!ok && py::isinstance<py::array>(v)) {
    const auto a = py::reinterpret_borrow<py::array>(v);
    const char kind = a.dtype().kind();
    ok = a.ndim() == 0 && (kind == 'b' || kind == 'i' || kind == 'u' || kind == 'f');
  }
  if (PyErr_Occurred()) throw py::error_already_set();
  if (!ok)
    throw py::type_error(std::string(fn) + ": " + what + " must be a bool (or a number, read as bool(v)), got " +
                         py_repr(v));
  const int truth = PyObject_IsTrue(v.ptr());
  if (truth < 0) throw py::error_already_set();
  return truth != 0;
}

namespace {
constexpr const char* kDtypeNames[] = {"float16", "float32", "float64", "int8",   "int16",  "int32",
                                       "int64",   "uint8",   "uint16",  "uint32", "uint64", "bool"};

std::string accepted_dtypes() {
  std::string s;
  for (const char* n : kDtypeNames) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

const char* name_by_kind(char kind, py::ssize_t size) {
  switch (kind) {
    case 'f': return size == 2 ? "float16" : size == 4 ? "float32" : size == 8 ? "float64" : nullptr;
    case 'i': return size == 1 ? "int8" : size == 2 ? "int16" : size == 4 ? "int32" : size == 8 ? "int64" : nullptr;
    case 'u': return size == 1 ? "uint8" : size == 2 ? "uint16" : size == 4 ? "uint32" : size == 8 ? "uint64" : nullptr;
    case 'b': return size == 1 ? "bool" : nullptr;
    default: return nullptr;
  }
}
}  // namespace

std::string dtype_name(py::handle dtype, const char* fn) {
  std::string name;
  if (PyUnicode_Check(dtype.ptr())) {
    name = dtype.cast<std::string>();
  } else if (py::isinstance<py::dtype>(dtype) ||
             (PyType_Check(dtype.ptr()) && py::detail::npy_api::get().PyArray_DescrFromScalar_ != nullptr &&
              is_numpy_scalar_type(dtype))) {
    try {
      // By kind and size: NumPy computes dtype.name in Python (about 2 us a call).
      const py::dtype d = py::dtype::from_args(py::reinterpret_borrow<py::object>(dtype));
      if (const char* n = name_by_kind(d.kind(), d.itemsize())) name = n;
    } catch (const py::error_already_set&) {
      name.clear();
    }
  } else if (py::hasattr(dtype, "name") && PyUnicode_Check(dtype.attr("name").ptr())) {
    name = dtype.attr("name").cast<std::string>();
  }
  for (const char* n : kDtypeNames)
    if (name == n) return name;
  throw py::type_error(std::string(fn) + ": unsupported dtype " + py_repr(dtype) + "; accepted: " + accepted_dtypes());
}

namespace {
std::vector<std::int64_t> shape_of(const py::handle shape, const char* what) {
  std::vector<std::int64_t> s;
  for (const py::handle h : py::reinterpret_borrow<py::sequence>(shape)) s.push_back(h.cast<std::int64_t>());
  if (s.size() > static_cast<std::size_t>(kcore::kMaxDims)) throw py::value_error(std::string(what) + ": too many dimensions");
  return s;
}

py::object axes_tuple(const bool* mark, int ndim) {
  py::list out;
  for (int i = 0; i < ndim; ++i)
    if (mark[i]) out.append(i);
  return py::tuple(out);
}
}  // namespace

void register_keras_args(py::module_& m) {
  m.def("normalize_axes", [](py::handle axis, int ndim, const std::string& fn) -> py::object {
    if (ndim < 0 || ndim > kcore::kMaxDims) throw py::value_error(fn + ": too many dimensions");
    if (axis.is_none()) return py::none();
    bool mark[kcore::kMaxDims];
    parse_axes(axis, ndim, fn.c_str(), mark);
    return axes_tuple(mark, ndim);
  }, py::arg("axis"), py::arg("ndim"), py::arg("fn"),
        "Keras axes as a sorted tuple of distinct non-negative ints (None stays None); raises for bad axes.");
  m.def("single_axis", [](py::handle axis, int ndim, const std::string& fn) { return single_axis(axis, ndim, fn.c_str()); },
        py::arg("axis"), py::arg("ndim"), py::arg("fn"), "One Keras axis, made non-negative; raises for a bad axis.");
  m.def("arg_axis", [](py::handle axis, py::handle shape, const std::string& fn) {
    const auto s = shape_of(shape, fn.c_str());
    return arg_axis(axis, static_cast<int>(s.size()), s.data(), fn.c_str());
  }, py::arg("axis"), py::arg("shape"), py::arg("fn"), "argmax/argmin's axis for an array of `shape` (None means 0).");
  m.def("scan_axis", [](py::handle axis, int ndim, const std::string& fn) { return scan_axis(axis, ndim, fn.c_str()); },
        py::arg("axis"), py::arg("ndim"), py::arg("fn"), "cumsum/cumprod's axis (never None).");
  m.def("permutation", [](py::handle pattern, py::handle shape) {
    const auto s = shape_of(shape, "permute_dimensions");
    int perm[kcore::kMaxDims];
    permutation(pattern, static_cast<int>(s.size()), s.data(), perm);
    py::tuple out(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) out[i] = perm[i];
    return out;
  }, py::arg("pattern"), py::arg("shape"), "permute_dimensions's pattern as a tuple of ints.");
  m.def("dot_axis", [](py::handle x_shape, py::handle y_shape) {
    const auto xs = shape_of(x_shape, "dot"), ys = shape_of(y_shape, "dot");
    return dot_axis(static_cast<int>(xs.size()), xs.data(), static_cast<int>(ys.size()), ys.data());
  }, py::arg("x_shape"), py::arg("y_shape"), "dot's contracted axis of y; raises for shapes dot rejects.");
  m.def("batch_dot_axes", [](py::handle axes, py::handle x_shape, py::handle y_shape) {
    const auto xs = shape_of(x_shape, "batch_dot"), ys = shape_of(y_shape, "batch_dot");
    int a0 = 0, a1 = 0;
    batch_dot_axes(axes, static_cast<int>(xs.size()), xs.data(), static_cast<int>(ys.size()), ys.data(), a0, a1);
    return py::make_tuple(a0, a1);
  }, py::arg("axes"), py::arg("x_shape"), py::arg("y_shape"),
        "batch_dot's (a0, a1) as Keras 2.3 computes them; raises Keras's errors.");
  m.def("flag", [](py::handle v, const std::string& fn, const std::string& what) {
    return flag(v, fn.c_str(), what.c_str());
  }, py::arg("v"), py::arg("fn"), py::arg("what"), "A flag argument as bool(v); TypeError for what is not a bool or a number.");
  m.def("dtype_name", [](py::handle dtype, const std::string& fn) { return dtype_name(dtype, fn.c_str()); },
        py::arg("dtype"), py::arg("fn"), "The accepted dtype name for a dtype argument; TypeError otherwise.");
  py::tuple names(std::size(kDtypeNames));
  for (std::size_t i = 0; i < std::size(kDtypeNames); ++i) names[i] = kDtypeNames[i];
  m.attr("DTYPE_NAMES") = names;
}

}  // namespace kcore_py
