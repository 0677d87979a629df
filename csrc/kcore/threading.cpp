#include "kcore/threading.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#define KCORE_PIN_WORKERS 1
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

namespace kcore {
namespace {

std::atomic<int> g_num_threads{1};
std::atomic<bool> g_forked_child{false};
int g_machine_cores = 1;
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
    g_machine_cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#if defined(__linux__)
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) g_machine_cores = std::max(1, CPU_COUNT(&allowed));
#endif
  }
};
const Init g_init;

#ifdef KCORE_PIN_WORKERS
bool pinning_wanted() {
  for (const char* v : {"OMP_PROC_BIND", "OMP_PLACES", "GOMP_CPU_AFFINITY"})
    if (const char* x = std::getenv(v); x != nullptr && *x != '\0') return false;
  const char* own = std::getenv("KCORE_PIN_WORKERS");
  return own == nullptr || std::strcmp(own, "0") != 0;
}
#endif

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

thread_local std::int64_t t_last_call_end_ns = std::numeric_limits<std::int64_t>::min() / 2;

}  // namespace

void note_call_end() { t_last_call_end_ns = now_ns(); }

struct WorkerPins {
  std::atomic<int> avoided_cpu{-1};  // the CPU the workers were last kept off
  std::vector<long> worker_tids;  // by thread number; 0 = unknown
};

WorkerPins* before_region(int nthreads) {
#ifdef KCORE_PIN_WORKERS
  static const bool wanted = pinning_wanted();
  if (!wanted || g_forked_child.load(std::memory_order_relaxed)) return nullptr;
  thread_local WorkerPins pins;
  if (pins.worker_tids.size() < static_cast<std::size_t>(nthreads))
    pins.worker_tids.resize(static_cast<std::size_t>(nthreads), 0);
  const int cpu = sched_getcpu();
  if (cpu >= 0 && cpu != pins.avoided_cpu.load(std::memory_order_relaxed)) {
    cpu_set_t allowed;
    // The process's CPUs: those of its main thread (tid == pid), which taskset and
    // os.sched_setaffinity(0, ...) change.
    if (sched_getaffinity(getpid(), sizeof allowed, &allowed) == 0 && CPU_ISSET(cpu, &allowed) &&
        CPU_COUNT(&allowed) > 1) {
      CPU_CLR(cpu, &allowed);
      for (std::size_t t = 1; t < pins.worker_tids.size(); ++t)
        if (pins.worker_tids[t] != 0) sched_setaffinity(static_cast<pid_t>(pins.worker_tids[t]), sizeof allowed, &allowed);
      pins.avoided_cpu.store(cpu, std::memory_order_relaxed);
    }
  }
  return &pins;
#else
  (void)nthreads;
  return nullptr;
#endif
}

void worker_started(WorkerPins* pins, int thread_num) {
#ifdef KCORE_PIN_WORKERS
  if (pins == nullptr || thread_num <= 0 || static_cast<std::size_t>(thread_num) >= pins->worker_tids.size()) return;
  thread_local const long tid = syscall(SYS_gettid);
  if (pins->worker_tids[static_cast<std::size_t>(thread_num)] != tid) {
    // A worker seen for the first time: it runs unpinned until the caller next moves CPU.
    pins->worker_tids[static_cast<std::size_t>(thread_num)] = tid;
    pins->avoided_cpu.store(-1, std::memory_order_relaxed);
  }
#else
  (void)pins;
  (void)thread_num;
#endif
}

void set_num_threads(int n) {
  n = std::max(1, n);
  g_num_threads.store(n, std::memory_order_relaxed);
#ifdef _OPENMP
  // So that threadpoolctl, which reads the calling thread's ICV, reports our setting.
  omp_set_num_threads(n);
#endif
}

int get_num_threads() { return g_num_threads.load(std::memory_order_relaxed); }

int machine_cores() { return g_machine_cores; }

int threads_for(std::int64_t work, std::int64_t grain) {
#ifdef _OPENMP
  if (g_forked_child.load(std::memory_order_relaxed) || omp_in_parallel()) return 1;
  std::int64_t n = get_num_threads();
  // threadpoolctl limits OpenMP through omp_set_num_threads on the calling thread; honour a
  // limit below the default without letting the per-thread ICV override set_num_threads.
  const int icv = omp_get_max_threads();
  if (icv < g_initial_icv) n = std::min<std::int64_t>(n, icv);
  grain = std::max<std::int64_t>(grain, 1);
  if (n > 1 && work < 2 * grain && could_use_warm_grain(work, grain) && now_ns() - t_last_call_end_ns < tuning::kWarmWindowNs)
    grain = std::max<std::int64_t>(grain / tuning::kWarmGrainDivisor, 1);
  n = std::min<std::int64_t>(n, work / grain);
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
