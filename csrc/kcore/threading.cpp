#include "kcore/threading.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace kcore {
namespace {

std::atomic<int> g_num_threads{1};
std::atomic<bool> g_forked_child{false};
#ifdef _OPENMP
int g_initial_icv = 1;  // omp_get_max_threads() of a fresh thread, read once at load
#endif

void on_fork_child() { g_forked_child.store(true, std::memory_order_relaxed); }

struct Init {
  Init() {
#ifdef _OPENMP
    g_initial_icv = omp_get_max_threads();
    g_num_threads.store(std::max(1, g_initial_icv), std::memory_order_relaxed);
#endif
    pthread_atfork(nullptr, nullptr, on_fork_child);
  }
};
const Init g_init;

}  // namespace

void set_num_threads(int n) {
  n = std::max(1, n);
  g_num_threads.store(n, std::memory_order_relaxed);
#ifdef _OPENMP
  // So that threadpoolctl, which reads the calling thread's ICV, reports our setting.
  omp_set_num_threads(n);
#endif
}

int get_num_threads() { return g_num_threads.load(std::memory_order_relaxed); }

int threads_for(std::int64_t work, std::int64_t grain) {
#ifdef _OPENMP
  if (g_forked_child.load(std::memory_order_relaxed) || omp_in_parallel()) return 1;
  std::int64_t n = get_num_threads();
  // threadpoolctl limits OpenMP through omp_set_num_threads on the calling thread; honour a
  // limit below the default without letting the per-thread ICV override set_num_threads.
  const int icv = omp_get_max_threads();
  if (icv < g_initial_icv) n = std::min<std::int64_t>(n, icv);
  n = std::min<std::int64_t>(n, work / std::max<std::int64_t>(grain, 1));
  return static_cast<int>(std::max<std::int64_t>(n, 1));
#else
  (void)work;
  (void)grain;
  return 1;
#endif
}

bool have_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

const char* openmp_runtime() {
#if defined(_OPENMP) && defined(__GNUC__) && !defined(__clang__)
  return "libgomp";
#elif defined(_OPENMP)
  return "OpenMP";
#else
  return "none (serial build)";
#endif
}

}  // namespace kcore
