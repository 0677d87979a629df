// Raw METH_FASTCALL entry points for the native families' per-call entries (reduce, scan, cast,
// dot, ...). pybind11's dispatcher builds heap-allocated argument vectors on every call, about a
// tenth of a small K.dot.
#pragma once
#include <pybind11/pybind11.h>

#include <new>
#include <stdexcept>
#include <string>

namespace kcore_py {

namespace py = pybind11;

// The body gets the positional arguments and their count (min_args <= n <= max_args).
using FastBody = py::object (*)(PyObject* const* args, Py_ssize_t n);

// Calls body(args, n) when min_args to max_args positional arguments came, translating C++
// exceptions the way pybind11 does. `self` is the function's name (see add_fastcall).
template <FastBody body, Py_ssize_t min_args, Py_ssize_t max_args = min_args>
PyObject* fastcall(PyObject* self, PyObject* const* args, Py_ssize_t n) {
  try {
    if (n < min_args || n > max_args)
      throw py::type_error(py::str(self).cast<std::string>() + "() takes " +
                           (min_args == max_args ? std::to_string(min_args)
                                                 : std::to_string(min_args) + " to " + std::to_string(max_args)) +
                           " positional arguments, got " + std::to_string(n));
    return body(args, n).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::out_of_range& e) {
    PyErr_SetString(PyExc_IndexError, e.what());
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

// Adds `def` (static storage: CPython keeps the pointer) to module m.
inline void add_fastcall(py::module_& m, PyMethodDef* def) {
  const py::str name(def->ml_name);
  PyObject* f = PyCFunction_NewEx(def, name.ptr(), m.attr("__name__").ptr());
  if (f == nullptr) throw py::error_already_set();
  m.add_object(def->ml_name, py::reinterpret_steal<py::object>(f));
}

}  // namespace kcore_py
