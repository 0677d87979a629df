// The pad entry, compiled once per ISA level (CMakeLists.txt): zeros around an array's dims
// (kcore/conv_plan.hpp's PadPlan), as Keras's temporal and spatial paddings. Its result is a
// kcore result (memory from the result block cache, kernels' threads) rather than a fresh NumPy
// array: a ZeroPadding2D before ResNet's max pooling pads a 100 MB activation at batch 32.
//
// The dims after the last padded one are one contiguous run per index of it, so the result is
// rows of that dim: each row is zeros, or zeros, a row of x, zeros. Rows are split among threads;
// a copy has no arithmetic, so the thread count cannot change a bit.
#include <algorithm>
#include <cstring>

#include "kcore/kernels/entries.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {

void pad(const PadPlan& p) {
  if (p.rank <= 0) return;
  int last = 0;
  for (int d = 0; d < p.rank; ++d)
    if (p.before[d] != 0 || p.after[d] != 0) last = d;
  std::int64_t out[PadPlan::kMaxRank];
  for (int d = 0; d < p.rank; ++d) out[d] = p.shape[d] + p.before[d] + p.after[d];
  std::int64_t run = p.item;  // bytes per index of dim `last`
  for (int d = last + 1; d < p.rank; ++d) run *= p.shape[d];
  std::int64_t rows = 1;
  for (int d = 0; d < last; ++d) rows *= out[d];
  const std::int64_t row_bytes = out[last] * run, in_bytes = p.shape[last] * run;
  const std::int64_t head = p.before[last] * run;
  if (rows == 0 || row_bytes == 0) return;
  const std::int64_t grain = std::max<std::int64_t>(1, tuning::kGrain * 4 / row_bytes);
  parallel_for(0, rows, grain, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      char* const dst = p.y + r * row_bytes;
      // r's indices over the dims before `last`, counted from the last of them: the row of x it
      // takes, or none where any index lies in the padding.
      std::int64_t rem = r, src = 0, step = 1;
      bool inside = in_bytes != 0;
      for (int d = last - 1; d >= 0 && inside; --d) {
        const std::int64_t i = rem % out[d] - p.before[d];
        rem /= out[d];
        inside = i >= 0 && i < p.shape[d];
        src += i * step;
        step *= p.shape[d];
      }
      if (!inside) {
        std::memset(dst, 0, static_cast<std::size_t>(row_bytes));
        continue;
      }
      std::memset(dst, 0, static_cast<std::size_t>(head));
      std::memcpy(dst + head, p.x + src * in_bytes, static_cast<std::size_t>(in_bytes));
      std::memset(dst + head + in_bytes, 0, static_cast<std::size_t>(row_bytes - head - in_bytes));
    }
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
