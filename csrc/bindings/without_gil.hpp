// Runs kernel code with the GIL released, and takes it back outside any destructor.
//
// A thread that takes the GIL back after interpreter finalization has begun (a daemon thread
// inside a kernel when the main thread ends) is ended by CPython before 3.14 with pthread_exit, a
// forced unwind. Through pybind11's gil_scoped_release that unwind starts in a destructor, which
// is noexcept, so the process aborts. Here the GIL is retaken by plain code: a thread that sees
// finalization under way parks for good (as CPython 3.14 does with such threads) and never
// touches the interpreter; one that races into PyEval_RestoreThread's exit unwinds through
// ordinary frames, which pybind11's dispatcher lets pass.
#pragma once
#include <Python.h>

#include <chrono>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

namespace kcore_py {

inline bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

inline void retake_gil(PyThreadState* state) {
  if (interpreter_finalizing()) {
    for (;;) std::this_thread::sleep_for(std::chrono::hours(24));
  }
  PyEval_RestoreThread(state);
}

// f() with the GIL released; f must not touch Python objects. The GIL is retaken after the try
// block, so an exit unwind from PyEval_RestoreThread never meets this function's handler.
template <class F>
auto without_gil(F&& f) {
  PyThreadState* const state = PyEval_SaveThread();
  if constexpr (std::is_void_v<decltype(f())>) {
    try {
      std::forward<F>(f)();
    } catch (...) {
      retake_gil(state);
      throw;
    }
    retake_gil(state);
  } else {
    std::optional<decltype(f())> result;
    try {
      result.emplace(std::forward<F>(f)());
    } catch (...) {
      retake_gil(state);
      throw;
    }
    retake_gil(state);
    return std::move(*result);
  }
}

}  // namespace kcore_py
