// Process-wide thread settings shared by every kernel (the parallel_for itself is kernel code).
#pragma once
#include <cstdint>

#include "kcore/tuning.hpp"

namespace kcore {

// Threads are started for tuning::kGrain elements of work each. kcore's workers spin only
// briefly (_runtime.py: long spins stall when other processes keep the cores busy), so a thread
// must pay for waking a sleeping core. While a caller's workers still spin after its last
// parallel region no core has to be woken: a call within tuning::kWarmWindowNs of the previous
// kernel call's end (a tight loop) needs tuning::kWarmGrainDivisor times less work per thread.
// Only the thread count changes, never the bits of a result.
void note_call_end();  // the calling thread, when a kernel's parallel_for returns
// Whether a call of this size could use more than one thread on a warm pool; smaller calls
// skip the clock reads (they matter on sub-microsecond calls).
inline bool could_use_warm_grain(std::int64_t work, std::int64_t grain) {
  return work * tuning::kWarmGrainDivisor >= 2 * grain;
}

void set_num_threads(int n);  // n >= 1; process-wide, unlike omp_set_num_threads
int get_num_threads();
// The CPUs this process could use when kcore loaded (its affinity), whatever the thread setting:
// work splits whose results depend on the split may follow the machine, never the thread count.
int machine_cores();

// Threads to use for `work` items, honouring the process-wide setting, a threadpoolctl limit
// on the calling thread, nesting, and a forked child (which must stay serial: libgomp's pool
// does not survive fork).
int threads_for(std::int64_t work, std::int64_t grain);

// Keeps a calling thread's OpenMP workers off the CPU the calling thread runs on. The
// scheduler may wake a passive worker on the caller's own CPU (seen on 2-vCPU VMs after the
// process sleeps: the worker then waits for the caller and the region runs serially, call after
// call). The caller records its workers' thread ids and, when it finds itself on a new CPU,
// narrows their affinity to the process's CPUs minus that one, before waking them. Off when the
// user binds threads (OMP_PROC_BIND, OMP_PLACES, GOMP_CPU_AFFINITY) or sets KCORE_PIN_WORKERS=0.
struct WorkerPins;
WorkerPins* before_region(int nthreads);              // the caller, just before the region
void worker_started(WorkerPins* pins, int thread_num);  // each thread, first thing in the region

bool have_openmp();
const char* openmp_runtime();

}  // namespace kcore
