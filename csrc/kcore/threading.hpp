// Process-wide thread settings shared by every kernel (the parallel_for itself is kernel code).
#pragma once
#include <cstdint>

namespace kcore {

// Elements of work each extra thread must get. PyTorch uses 32K, but it spins its workers; we
// use libgomp's passive wait policy (spinning workers stall 20-30x when other processes keep the
// cores busy), and waking a sleeping core costs ~60 us here, so a thread must have ~100+ us of
// work to pay for itself.
constexpr std::int64_t kGrain = std::int64_t(1) << 19;

void set_num_threads(int n);  // n >= 1; process-wide, unlike omp_set_num_threads
int get_num_threads();

// Threads to use for `work` items, honouring the process-wide setting, a threadpoolctl limit
// on the calling thread, nesting, and a forked child (which must stay serial: libgomp's pool
// does not survive fork).
int threads_for(std::int64_t work, std::int64_t grain);

bool have_openmp();
const char* openmp_runtime();

}  // namespace kcore
