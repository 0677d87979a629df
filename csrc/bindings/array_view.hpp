// py::array -> kcore::ArrayRef, with the checks the core relies on. No implicit conversion: a
// dtype the kernels do not handle is the Python layer's job to route, and an error here.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "kcore/array_ref.hpp"

namespace kcore_py {

namespace py = pybind11;

// NumPy type numbers (stable across NumPy 1 and 2): NPY_FLOAT, NPY_DOUBLE, NPY_HALF.
constexpr int kNpyFloat = 11, kNpyDouble = 12, kNpyHalf = 23;

inline bool native_byte_order(char bo) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return bo == '=' || bo == '|' || bo == '>';
#else
  return bo == '=' || bo == '|' || bo == '<';
#endif
}

// Reads the descriptor's fields directly: the dtype object's Python attributes cost a dict
// lookup each, which matters on sub-microsecond calls.
inline kcore::DType native_float_dtype(const py::array& a, const char* fn) {
  const auto* descr = py::detail::array_descriptor_proxy(py::detail::array_proxy(a.ptr())->descr);
  if (native_byte_order(descr->byteorder)) {
    switch (descr->type_num) {
      case kNpyHalf: return kcore::DType::f16;
      case kNpyFloat: return kcore::DType::f32;
      case kNpyDouble: return kcore::DType::f64;
      default: break;
    }
  }
  throw py::type_error(std::string(fn) + ": the native kernel takes float16, float32 or float64 "
                       "arrays in native byte order, got dtype " + std::string(py::str(a.dtype())));
}

// The dtype of an exact ndarray the native copies (cast, transpose, permute_dimensions) read:
// float16/32/64, uint8, int8, int32, int64 in native byte order; false for anything else (NumPy's
// routes then take it).
inline bool cast_source_dtype(py::handle x, kcore::DType& dt) {
  constexpr int kNpyByte = 1, kNpyUbyte = 2, kNpyInt = 5, kNpyLong = 7, kNpyLongLong = 9;
  const auto& api = py::detail::npy_api::get();
  if (Py_TYPE(x.ptr()) != api.PyArray_Type_) return false;
  const auto* descr = py::detail::array_descriptor_proxy(py::detail::array_proxy(x.ptr())->descr);
  if (!native_byte_order(descr->byteorder)) return false;
  switch (descr->type_num) {
    case kNpyHalf: dt = kcore::DType::f16; return true;
    case kNpyFloat: dt = kcore::DType::f32; return true;
    case kNpyDouble: dt = kcore::DType::f64; return true;
    case kNpyUbyte: dt = kcore::DType::u8; return true;
    case kNpyByte: dt = kcore::DType::i8; return true;
    case kNpyInt: dt = kcore::DType::i32; return sizeof(int) == 4;
    case kNpyLong: dt = kcore::DType::i64; return sizeof(long) == 8;
    case kNpyLongLong: dt = kcore::DType::i64; return sizeof(long long) == 8;
    default: return false;
  }
}

// An exact ndarray (no subclass) of native-order float16/32/64: what the fast paths accept.
inline bool is_plain_float_array(py::handle x) {
  const auto& api = py::detail::npy_api::get();
  if (Py_TYPE(x.ptr()) != api.PyArray_Type_) return false;
  const auto* descr = py::detail::array_descriptor_proxy(py::detail::array_proxy(x.ptr())->descr);
  return native_byte_order(descr->byteorder) &&
         (descr->type_num == kNpyHalf || descr->type_num == kNpyFloat || descr->type_num == kNpyDouble);
}

// A plain float array as the kernels may read it through typed pointers: x itself, or, when its
// data or strides are not multiples of the item's alignment (a view into packed bytes), a copy of
// it in its memory order.
inline py::array aligned_array(py::handle x) {
  const auto& api = py::detail::npy_api::get();
  if (py::detail::array_proxy(x.ptr())->flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_)
    return py::reinterpret_borrow<py::array>(x);
  constexpr int kNpyKeepOrder = 2;
  PyObject* copy = api.PyArray_NewCopy_(x.ptr(), kNpyKeepOrder);
  if (copy == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(copy);
}

inline int type_num(py::handle x) {
  return py::detail::array_descriptor_proxy(py::detail::array_proxy(x.ptr())->descr)->type_num;
}

// Two plain float arrays of one dtype.
inline bool same_dtype(py::handle x, py::handle y) { return type_num(x) == type_num(y); }

// A kind code of one of the enums bound with py::native_enum (an IntEnum, so its int value is
// read directly: this is on every call's path); `last` is the enum's last value.
template <class Enum>
Enum enum_arg(PyObject* h, Enum last, const char* fn) {
  const long v = PyLong_AsLong(h);
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  if (v < 0 || v > static_cast<long>(last)) throw py::value_error(std::string(fn) + ": unknown kind " + std::to_string(v));
  return static_cast<Enum>(v);
}

// A 0-d result as a NumPy scalar, as NumPy's own reductions return it.
inline py::object scalar_if_0d(py::array out) {
  if (out.ndim() != 0) return std::move(out);
  PyObject* scalar = PyObject_GetItem(out.ptr(), py::tuple().ptr());
  if (scalar == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(scalar);
}

// a as an ArrayRef of dtype (native_float_dtype's by default: the checked float types).
inline kcore::ArrayRef to_ref(const py::array& a, const char* fn, const kcore::DType* dtype = nullptr) {
  kcore::ArrayRef r;
  r.dtype = dtype != nullptr ? *dtype : native_float_dtype(a, fn);
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
