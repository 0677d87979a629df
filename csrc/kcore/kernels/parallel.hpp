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

// Calls f(b, e) over a partition of [begin, end). Runs serially when the range is smaller than
// two grains, inside another parallel region, in a forked child or with one thread. Each thread
// gets one contiguous range, so callers must not let results depend on the partition.
template <class F>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, const F& f) {
  const std::int64_t n = end - begin;
  if (n <= 0) return;
  const int nt = threads_for(n, std::max<std::int64_t>(grain, 1));
  if (nt <= 1) {
    f(begin, end);
    return;
  }
#ifdef _OPENMP
  std::exception_ptr error;
#pragma omp parallel num_threads(nt)
  {
    const std::int64_t t = omp_get_thread_num();
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

}  // namespace KCORE_ISA
}  // namespace kcore
