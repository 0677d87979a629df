// py::array -> kcore::ArrayRef, with the checks the core relies on. No implicit conversion: a
// dtype the kernels do not handle is the Python layer's job to route, and an error here.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "kcore/array_ref.hpp"

namespace kcore_py {

namespace py = pybind11;

inline kcore::DType native_float_dtype(const py::array& a, const char* fn) {
  const py::dtype dt = a.dtype();
  const char bo = dt.byteorder();
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  const bool native = bo == '=' || bo == '|' || bo == '>';
#else
  const bool native = bo == '=' || bo == '|' || bo == '<';
#endif
  if (dt.kind() == 'f' && native) {
    switch (dt.itemsize()) {
      case 2: return kcore::DType::f16;
      case 4: return kcore::DType::f32;
      case 8: return kcore::DType::f64;
      default: break;
    }
  }
  throw py::type_error(std::string(fn) + ": the native kernel takes float16, float32 or float64 "
                       "arrays in native byte order, got dtype " + std::string(py::str(dt)));
}

// An exact ndarray (no subclass) of native-order float16/32/64: what the fast paths accept.
inline bool is_plain_float_array(py::handle x) {
  const auto& api = py::detail::npy_api::get();
  if (Py_TYPE(x.ptr()) != api.PyArray_Type_) return false;
  const auto* descr = py::detail::array_descriptor_proxy(py::detail::array_proxy(x.ptr())->descr);
  const char bo = descr->byteorder;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  const bool native = bo == '=' || bo == '|' || bo == '>';
#else
  const bool native = bo == '=' || bo == '|' || bo == '<';
#endif
  return descr->kind == 'f' && native && (descr->type_num == 23 || descr->type_num == 11 || descr->type_num == 12);
}

inline kcore::ArrayRef to_ref(const py::array& a, const char* fn) {
  kcore::ArrayRef r;
  r.dtype = native_float_dtype(a, fn);
  r.ndim = static_cast<int>(a.ndim());
  if (r.ndim > kcore::kMaxDims) throw py::value_error(std::string(fn) + ": too many dimensions");
  r.data = const_cast<char*>(static_cast<const char*>(a.data()));
  for (int i = 0; i < r.ndim; ++i) {
    r.shape[i] = a.shape(i);
    r.strides[i] = a.strides(i);
  }
  return r;
}

}  // namespace kcore_py
