// Process-wide thread settings shared by every kernel (the parallel_for itself is kernel code).
#pragma once
#include <cstdint>

namespace kcore {

// Work items below which a loop never starts threads (PyTorch's GRAIN_SIZE).
constexpr std::int64_t kGrain = 32768;

void set_num_threads(int n);  // n >= 1; process-wide, unlike omp_set_num_threads
int get_num_threads();

// Threads to use for `work` items, honouring the process-wide setting, a threadpoolctl limit
// on the calling thread, nesting, and a forked child (which must stay serial: libgomp's pool
// does not survive fork).
int threads_for(std::int64_t work, std::int64_t grain);

bool have_openmp();
const char* openmp_runtime();

}  // namespace kcore
