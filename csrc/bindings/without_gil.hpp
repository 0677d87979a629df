// Runs kernel code with the GIL released, and takes it back outside any destructor.
//
// A thread that takes the GIL back after interpreter finalization has begun (a daemon thread
// inside a kernel when the main thread ends) is ended by CPython before 3.14 with pthread_exit, a
// forced unwind. Through pybind11's gil_scoped_release that unwind starts in a destructor, which
// is noexcept, so the process aborts. Here the GIL is retaken by plain code: a thread that sees
// finalization under way parks for good (as CPython 3.14 does with such threads) and never
// touches the interpreter; one that races into PyEval_RestoreThread's exit unwinds through
// ordinary frames, which pybind11's dispatcher lets pass. At exit, kcore's atexit handler closes
// the gate below first, so that no kernel runs while the libraries' exit destructors do.
#pragma once
#include <Python.h>

#include <atomic>
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

[[noreturn]] inline void park_forever() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(24));
}

// Kernels running now, and whether new ones may start (close_kernels, at interpreter exit: the
// libraries kernels use, OpenBLAS among them, free their memory in their exit destructors).
struct KernelGate {
  std::atomic<long> running{0};
  std::atomic<bool> closed{false};
  std::atomic<unsigned long> closer{0};  // the thread that closed the gate keeps running kernels
};
inline KernelGate& kernel_gate() {
  static KernelGate gate;
  return gate;
}

inline void retake_gil(PyThreadState* state) {
  if (interpreter_finalizing()) park_forever();
  PyEval_RestoreThread(state);
}

// f() with the GIL released; f must not touch Python objects. The GIL is retaken after the try
// block, so an exit unwind from PyEval_RestoreThread never meets this function's handler. Once
// the gate is closed, other threads park before starting a kernel.
template <class F>
auto without_gil(F&& f) {
  if constexpr (std::is_void_v<decltype(f())>) {
    without_gil([&] {
      std::forward<F>(f)();
      return true;
    });
  } else {
    KernelGate& gate = kernel_gate();
    const unsigned long self = PyThread_get_thread_ident();
    PyThreadState* const state = PyEval_SaveThread();
    gate.running.fetch_add(1);
    if (gate.closed.load() && gate.closer.load() != self) {
      gate.running.fetch_sub(1);
      park_forever();
    }
    std::optional<decltype(f())> result;
    try {
      result.emplace(std::forward<F>(f)());
    } catch (...) {
      gate.running.fetch_sub(1);
      retake_gil(state);
      throw;
    }
    gate.running.fetch_sub(1);
    retake_gil(state);
    return std::move(*result);
  }
}

// Closes the gate and waits, the GIL released, until no other thread runs a kernel (at most
// `timeout_s`). Returns whether none does.
inline bool close_kernels(double timeout_s) {
  KernelGate& gate = kernel_gate();
  gate.closer.store(PyThread_get_thread_ident());
  gate.closed.store(true);
  PyThreadState* const state = PyEval_SaveThread();
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (gate.running.load() > 0 && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const bool idle = gate.running.load() == 0;
  PyEval_RestoreThread(state);
  return idle;
}

}  // namespace kcore_py
