// parallel_for: the one way kernels use threads (after ATen's Parallel-inl.h).
#pragma once
#include <algorithm>
#include <cstdint>
#include <exception>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kcore/kernels/isa.hpp"
#include "kcore/threading.hpp"

namespace kcore {
namespace KCORE_ISA {

// Records the end of a kernel call for threads_for's warm-pool check (calls too small to ever
// use a second thread are not recorded).
struct CallEndNote {
  bool record;
  explicit CallEndNote(bool r) : record(r) {}
  CallEndNote(const CallEndNote&) = delete;
  CallEndNote& operator=(const CallEndNote&) = delete;
  ~CallEndNote() {
    if (record) note_call_end();
  }
};

// Calls f(b, e) over a partition of [begin, end). Runs serially when the range is smaller than
// two grains, inside another parallel region, in a forked child or with one thread. Each thread
// gets one contiguous range, so callers must not let results depend on the partition.
template <class F>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, const F& f) {
  const std::int64_t n = end - begin;
  if (n <= 0) return;
  const CallEndNote note(could_use_warm_grain(n, std::max<std::int64_t>(grain, 1)));
  const int nt = threads_for(n, std::max<std::int64_t>(grain, 1));
  if (nt <= 1) {
    f(begin, end);
    return;
  }
#ifdef _OPENMP
  std::exception_ptr error;
  WorkerPins* const pins = before_region(nt);
#pragma omp parallel num_threads(nt)
  {
    const std::int64_t t = omp_get_thread_num();
    worker_started(pins, static_cast<int>(t));
    const std::int64_t nthreads = omp_get_num_threads();
    const std::int64_t chunk = (n + nthreads - 1) / nthreads;
    const std::int64_t b = begin + t * chunk;
    const std::int64_t e = std::min(end, b + chunk);
    if (b < e) {
      try {
        f(b, e);
      } catch (...) {
#pragma omp critical(kcore_parallel_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
#else
  f(begin, end);
#endif
}

// Calls f(i) for every i in [0, n), handing tasks out one at a time: a worker that wakes late
// (a busy or descheduled core) takes fewer tasks instead of holding up the whole call. Each
// task's result must not depend on which thread runs it. `task_work` is the work in one task,
// in the same units as tuning::kGrain.
template <class F>
void parallel_tasks(std::int64_t n, std::int64_t task_work, const F& f) {
  if (n <= 0) return;
  const CallEndNote note(could_use_warm_grain(n * std::max<std::int64_t>(task_work, 1), tuning::kGrain));
  const int nt = threads_for(n * std::max<std::int64_t>(task_work, 1), tuning::kGrain);
  if (nt <= 1 || n == 1) {
    for (std::int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#ifdef _OPENMP
  std::exception_ptr error;
  const int team = static_cast<int>(std::min<std::int64_t>(nt, n));
  WorkerPins* const pins = before_region(team);
#pragma omp parallel num_threads(team)
  {
    worker_started(pins, omp_get_thread_num());
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t i = 0; i < n; ++i) {
      try {
        f(i);
      } catch (...) {
#pragma omp critical(kcore_parallel_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
#else
  for (std::int64_t i = 0; i < n; ++i) f(i);
#endif
}

}  // namespace KCORE_ISA
}  // namespace kcore
