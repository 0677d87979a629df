// The batch-normalization gradient entry, compiled once per ISA level (CMakeLists.txt): the
// backward pass of normalize_batch_in_training (kcore/conv_plan.hpp's NormGradPlan) in two passes
// over x and gy, as TensorFlow's fused kernel does it, where the op-by-op formula takes six (the
// centred x, two sums, a product, two multiply-adds).
//
// Pass one sums gy and gy * (x - mean) per channel in float64 (the products of float32 values are
// exact there), over chunks of `outer` rows fixed by the shape alone, the chunks' sums added in
// order: the same bits for every thread count. Pass two computes each dx from per-channel factors
// (in float64, rounded once to the arithmetic type), an element at a time.
#include <algorithm>
#include <cmath>

#include "kcore/kernels/accumulate.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/entries.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/scratch.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {
namespace {

template <class T>
void norm_grad_typed(const NormGradPlan& p) {
  using A = widen_t<T>;
  const std::int64_t O = p.outer, C = p.channels, I = p.inner, row = C * I;
  std::fill(p.sum_g, p.sum_g + C, 0.0);
  std::fill(p.sum_gc, p.sum_gc + C, 0.0);
  if (O * row == 0) return;
  const T* const x = reinterpret_cast<const T*>(p.x);
  const T* const gy = reinterpret_cast<const T*>(p.gy);
  const double* const mean = p.mean;
  const std::int64_t per = (O + tuning::kSumChunks - 1) / tuning::kSumChunks, chunks = (O + per - 1) / per;
  AlignedBuffer<double> part(static_cast<std::size_t>(chunks * 2 * C));
  // Tasks: a chunk of rows, all channels (channels_last: a row holds one value per channel); or,
  // with runs of I values per channel (channels_first), a chunk's rows of one channel, so a small
  // batch still spreads over the threads.
  const std::int64_t per_task = I == 1 ? C : 1;
  parallel_tasks(chunks * (C / per_task), std::max<std::int64_t>(per * per_task * I * 2, 1), [&](std::int64_t task) {
    const std::int64_t k = task / (C / per_task), c0 = task % (C / per_task) * per_task;
    double* const sg = part.get() + k * 2 * C;
    double* const sgc = sg + C;
    std::fill(sg + c0, sg + c0 + per_task, 0.0);
    std::fill(sgc + c0, sgc + c0 + per_task, 0.0);
    for (std::int64_t o = k * per; o < std::min(O, (k + 1) * per); ++o) {
      const T* const xr = x + o * row;
      const T* const gr = gy + o * row;
      if (I == 1) {
        for (std::int64_t c = 0; c < C; ++c) {
          const double g = convert_one<double>(gr[c]);
          sg[c] += g;
          sgc[c] += g * (convert_one<double>(xr[c]) - mean[c]);
        }
      } else {
        const T* const xc = xr + c0 * I;
        const T* const gc = gr + c0 * I;
        const double m = mean[c0];
        double a = 0, b = 0;
        for (std::int64_t i = 0; i < I; ++i) {
          const double g = convert_one<double>(gc[i]);
          a += g;
          b += g * (convert_one<double>(xc[i]) - m);
        }
        sg[c0] += a;
        sgc[c0] += b;
      }
    }
  });
  for (std::int64_t k = 0; k < chunks; ++k)
    for (std::int64_t c = 0; c < C; ++c) {
      p.sum_g[c] += part.get()[k * 2 * C + c];
      p.sum_gc[c] += part.get()[k * 2 * C + C + c];
    }
  // Per channel: dx = gy * s + ((x - mean) * k1 + k0).
  AlignedBuffer<A> factors(static_cast<std::size_t>(4 * C));
  A* const s = factors.get();
  A* const k1 = s + C;
  A* const k0 = s + 2 * C;
  A* const m = s + 3 * C;
  const double n = static_cast<double>(O * I);
  for (std::int64_t c = 0; c < C; ++c) {
    const double r = 1.0 / std::sqrt(p.var[c] + p.epsilon), sc = p.gamma ? p.gamma[c] * r : r;
    s[c] = static_cast<A>(sc);
    k1[c] = static_cast<A>(-sc * r * r * (p.sum_gc[c] / n));
    k0[c] = static_cast<A>(-sc * (p.sum_g[c] / n));
    m[c] = static_cast<A>(mean[c]);
  }
  T* const dx = reinterpret_cast<T*>(p.dx);
  // Runs of one channel's values: a row (channels_last, C channels) or one channel's I values.
  const std::int64_t runs = I == 1 ? O : O * C, run = I == 1 ? C : I;
  parallel_for(0, runs, std::max<std::int64_t>(1, tuning::kGrain / std::max<std::int64_t>(run, 1)),
               [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const T* const xr = x + r * run;
      const T* const gr = gy + r * run;
      T* const dr = dx + r * run;
      if (I == 1) {
        for (std::int64_t c = 0; c < C; ++c) {
          const A t = (convert_one<A>(xr[c]) - m[c]) * k1[c] + k0[c];
          dr[c] = convert_one<T>(convert_one<A>(gr[c]) * s[c] + t);
        }
      } else {
        const std::int64_t c = r % C;
        for (std::int64_t i = 0; i < I; ++i) {
          const A t = (convert_one<A>(xr[i]) - m[c]) * k1[c] + k0[c];
          dr[i] = convert_one<T>(convert_one<A>(gr[i]) * s[c] + t);
        }
      }
    }
  });
}

}  // namespace

void norm_grad(const NormGradPlan& p) {
  visit_float(p.dtype, "norm_grad", [&](auto t) { norm_grad_typed<decltype(t)>(p); });
}

}  // namespace KCORE_ISA
}  // namespace kcore
