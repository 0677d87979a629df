// Memory-bandwidth probes for the benchmark: what the machine can stream, measured with the same
// threading and vector code the kernels use.
#include <cstdint>
#include <cstring>

#include "kcore/kernels/accumulate.hpp"
#include "kcore/kernels/entries.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/simd.hpp"
#include "kcore/kernels/stream.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {

// Reads n 64-bit words and returns their XOR (so the reads cannot be optimised away).
std::uint64_t stream_read(const std::uint64_t* p, std::int64_t n) {
  constexpr std::int64_t kBlock = tuning::kProbeReadBlock;
  const std::int64_t nblocks = (n + kBlock - 1) / kBlock;
  std::uint64_t result = 0;
  std::uint64_t partial[256] = {};
  parallel_for(0, nblocks, tuning::kGrain / kBlock, [&](std::int64_t b, std::int64_t e) {
    vec<std::uint64_t> acc[kBlockVecs] = {};
    std::uint64_t tail = 0;
    for (std::int64_t blk = b; blk < e; ++blk) {
      const std::uint64_t* q = p + blk * kBlock;
      const std::int64_t len = std::min(kBlock, n - blk * kBlock);
      const std::int64_t i = fold_blocks<std::uint64_t>(q, len, [&acc](int k, vec<std::uint64_t> x, std::int64_t) {
        acc[k] ^= x;
      });
      for (std::int64_t j = i; j < len; ++j) tail ^= q[j];
    }
    std::uint64_t lanes[kBlockLanes<std::uint64_t>];
    std::memcpy(lanes, acc, sizeof lanes);
    for (std::uint64_t v : lanes) tail ^= v;
    partial[(b * 256 / nblocks) & 255] ^= tail;
  });
  for (std::uint64_t v : partial) result ^= v;
  return result;
}

// Copies n bytes with the kernels' threading and their way of writing large results (streaming
// stores, reads prefetched a piece ahead): the read+write bandwidth reference. (memcpy is not:
// glibc streams only copies above x86_non_temporal_threshold, 3/4 of the shared cache the CPU
// reports, so the pieces of a threaded probe go through ordinary stores that first read every
// line; bench/NOTES.md.)
void stream_copy(char* dst, const char* src, std::int64_t n) {
  constexpr std::int64_t kBlock = tuning::kProbeCopyBlock, kPiece = tuning::kProbeCopyPiece;
  const std::int64_t nblocks = (n + kBlock - 1) / kBlock;
  parallel_for(0, nblocks, std::max<std::int64_t>(1, 8 * tuning::kGrain / kBlock), [&](std::int64_t b, std::int64_t e) {
    const std::int64_t hi = std::min(n, e * kBlock);
    for (std::int64_t at = b * kBlock; at < hi; at += kPiece) {
      const std::int64_t len = std::min(kPiece, hi - at);
      prefetch_range(src + at + len, std::min(kPiece, hi - at - len));
      stream_bytes(dst + at, src + at, len);
    }
    stream_fence();
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
