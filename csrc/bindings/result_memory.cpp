// Large results get their memory from kcore's block cache (kcore/block_cache.hpp) through NumPy's
// own memory-handler API (NumPy >= 1.22): the array owns its data like any other, and NumPy hands
// the memory back to the cache when the array dies; mid-sized ones get cache-line-aligned memory
// from the C allocator. The handler is installed only around our allocations; every other array
// in the process keeps NumPy's allocator.
#include <Python.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "bindings/results.hpp"
#include "kcore/block_cache.hpp"

namespace kcore_py {

namespace {

// NumPy's PyDataMem_Handler, version 1 (numpy/ndarraytypes.h; a stable part of the C ABI).
struct DataMemAllocator {
  void* ctx;
  void* (*malloc)(void* ctx, std::size_t size);
  void* (*calloc)(void* ctx, std::size_t nelem, std::size_t elsize);
  void* (*realloc)(void* ctx, void* ptr, std::size_t new_size);
  void (*free)(void* ctx, void* ptr, std::size_t size);
};
struct DataMemHandler {
  char name[127];
  std::uint8_t version;
  DataMemAllocator allocator;
};

// Positions in NumPy's C-API table (numpy/__multiarray_api.h; fixed across NumPy 1.x and 2.x).
constexpr int kApiGetFeatureVersion = 211;
constexpr int kApiSetHandler = 304;
constexpr unsigned kFeatureVersion1_22 = 0xf;

// Smaller results are the C allocator's, at a cache line's alignment: malloc's 16 bytes make every
// vector load of a kernel that reads the result in place (the next layer) split cache lines.
// Results under kAlignedMinBytes keep NumPy's allocator: installing the handler (a context
// variable set and reset, ~0.5 us) would cost their short kernels more than split loads do.
constexpr std::size_t kSmallAlign = 64;
constexpr std::size_t kAlignedMinBytes = std::size_t(1) << 20;

void* small_block(std::size_t n) {
  return std::aligned_alloc(kSmallAlign, (std::max<std::size_t>(n, 1) + kSmallAlign - 1) / kSmallAlign * kSmallAlign);
}

void* cache_malloc(void*, std::size_t n) {
  return n >= kcore::BlockCache::kMinBytes ? kcore::result_blocks().acquire(n, false) : small_block(n);
}

void* cache_calloc(void*, std::size_t count, std::size_t size) {
  std::size_t n;
  if (__builtin_mul_overflow(count, size, &n)) return nullptr;
  if (n >= kcore::BlockCache::kMinBytes) return kcore::result_blocks().acquire(n, true);
  void* p = small_block(n);
  if (p != nullptr) std::memset(p, 0, n);
  return p;
}

void* cache_realloc(void*, void* p, std::size_t n) {
  const std::size_t capacity = kcore::result_blocks().capacity(p);
  if (capacity == 0) return std::realloc(p, n);  // not ours (or null)
  if (n <= capacity && n >= kcore::BlockCache::kMinBytes) return p;
  void* q = cache_malloc(nullptr, n);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, std::min(capacity, n));
  kcore::result_blocks().release(p);
  return q;
}

void cache_free(void*, void* p, std::size_t) {
  if (!kcore::result_blocks().release(p)) std::free(p);
}

DataMemHandler kHandler = {"kcore_result_cache", 1, {nullptr, cache_malloc, cache_calloc, cache_realloc, cache_free}};

struct HandlerApi {
  PyObject* (*set_handler)(PyObject*) = nullptr;  // null: NumPy too old or not reachable
  PyObject* capsule = nullptr;
};

const HandlerApi& handler_api() {
  static const HandlerApi api = [] {
    HandlerApi a;
    PyObject *type, *value, *trace;
    PyErr_Fetch(&type, &value, &trace);
    PyObject* mod = PyImport_ImportModule("numpy._core._multiarray_umath");
    if (mod == nullptr) {
      PyErr_Clear();
      mod = PyImport_ImportModule("numpy.core._multiarray_umath");
    }
    PyObject* table = mod != nullptr ? PyObject_GetAttrString(mod, "_ARRAY_API") : nullptr;
    void** fns = table != nullptr ? static_cast<void**>(PyCapsule_GetPointer(table, nullptr)) : nullptr;
    if (fns != nullptr && reinterpret_cast<unsigned (*)()>(fns[kApiGetFeatureVersion])() >= kFeatureVersion1_22) {
      a.capsule = PyCapsule_New(&kHandler, "mem_handler", nullptr);
      if (a.capsule != nullptr) a.set_handler = reinterpret_cast<PyObject* (*)(PyObject*)>(fns[kApiSetHandler]);
    }
    Py_XDECREF(table);
    Py_XDECREF(mod);
    PyErr_Clear();
    PyErr_Restore(type, value, trace);
    return a;
  }();
  return api;
}

}  // namespace

PyObject* new_result_array(PyObject* descr, int ndim, const Py_ssize_t* shape, const Py_ssize_t* strides) {
  const auto& np = py::detail::npy_api::get();
  std::size_t nbytes = static_cast<std::size_t>(py::reinterpret_borrow<py::dtype>(descr).itemsize());
  for (int k = 0; k < ndim; ++k) nbytes *= static_cast<std::size_t>(shape[k]);
  Py_INCREF(descr);  // stolen by NewFromDescr
  const auto create = [&] {
    return np.PyArray_NewFromDescr_(np.PyArray_Type_, descr, ndim, shape, strides, nullptr, 0, nullptr);
  };
  const HandlerApi& api = nbytes >= kAlignedMinBytes ? handler_api() : HandlerApi{};
  if (api.set_handler == nullptr) return create();
  PyObject* previous = api.set_handler(api.capsule);
  if (previous == nullptr) {
    PyErr_Clear();
    return create();
  }
  PyObject* out = create();
  PyObject *type, *value, *trace;
  PyErr_Fetch(&type, &value, &trace);  // keep a MemoryError from create() across the reset
  Py_XDECREF(api.set_handler(previous));
  Py_DECREF(previous);
  PyErr_Clear();
  PyErr_Restore(type, value, trace);
  return out;
}

}  // namespace kcore_py
