// The convolution family's entries, compiled once per ISA level (CMakeLists.txt): convolutions
// (regular and depthwise) and pooling over channels_last data (kcore/conv_plan.hpp).
//
// A regular convolution is a product: each output position's window (im2col: kernel positions x
// channels, zeros where the window leaves x) times w seen as a (k * C, filters) matrix, on the
// gemm family (so OpenBLAS or kcore's packed kernel, whichever the CPU's rule picks). A 1x1
// convolution with unit strides needs no im2col at all. float16 builds its windows in float32 and
// runs a float32 product, rounded once. Depthwise convolutions and pooling are memory-bound: one
// pass per output line, the channels (contiguous in channels_last) in vectors.
//
// Work splits by shape only (whole im2col or blocks of output positions; output lines), and each
// output element is one fixed chain of operations, so no thread count changes a bit. Across ISA
// levels the products' bits may differ (fused multiply-adds), as for dot.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kcore/conv_plan.hpp"
#include "kcore/gemm_plan.hpp"
#include "kcore/kernels/accumulate.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/entries.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/scratch.hpp"
#include "kcore/kernels/simd.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {
namespace {

template <class A>
constexpr DType dtype_of() {
  return std::is_same_v<A, float> ? DType::f32 : DType::f64;
}

std::int64_t positions(const ConvGeometry& g) { return g.batch * g.out[0] * g.out[1] * g.out[2]; }
std::int64_t kernel_volume(const ConvGeometry& g) { return g.k[0] * g.k[1] * g.k[2]; }

// The input index along dim d of output index o at kernel offset k, or -1 in the padding.
KCORE_INLINE std::int64_t input_at(const ConvGeometry& g, int d, std::int64_t o, std::int64_t k) {
  const std::int64_t i = o * g.stride[d] - g.pad[d] + k * g.dil[d];
  return i >= 0 && i < g.in[d] ? i : -1;
}

// acc[i] += x[i] * w[i] for i < n, as fused multiply-adds where the level has them; the tail in a
// vector too, so every channel gets the same arithmetic.
template <class A>
KCORE_INLINE void fma_row(A* acc, const A* x, const A* w, std::int64_t n) {
  constexpr int L = kLanes<A>;
  std::int64_t i = 0;
  for (; i + L <= n; i += L) store(acc + i, fmadd<A>(load(x + i), load(w + i), load(acc + i)));
  if (i < n) {
    A ta[L] = {}, tx[L] = {}, tw[L] = {};
    const std::int64_t r = n - i;
    std::memcpy(ta, acc + i, r * sizeof(A));
    std::memcpy(tx, x + i, r * sizeof(A));
    std::memcpy(tw, w + i, r * sizeof(A));
    store(ta, fmadd<A>(load(tx), load(tw), load(ta)));
    std::memcpy(acc + i, ta, r * sizeof(A));
  }
}

// Rows [p0, p1) of the im2col matrix (one row per output position, in (batch, *out) order; the
// row is kernel positions in order, each C channels), in A.
template <class T, class A>
void im2col(const ConvGeometry& g, const T* x, std::int64_t p0, std::int64_t p1, A* col) {
  const std::int64_t C = g.channels, row = kernel_volume(g) * C;
  for (std::int64_t p = p0; p < p1; ++p) {
    std::int64_t q = p;
    const std::int64_t ow = q % g.out[2];
    q /= g.out[2];
    const std::int64_t oh = q % g.out[1];
    q /= g.out[1];
    const std::int64_t od = q % g.out[0], n = q / g.out[0];
    A* dst = col + (p - p0) * row;
    for (std::int64_t kd = 0; kd < g.k[0]; ++kd) {
      const std::int64_t id = input_at(g, 0, od, kd);
      for (std::int64_t kh = 0; kh < g.k[1]; ++kh) {
        const std::int64_t ih = id < 0 ? -1 : input_at(g, 1, oh, kh);
        for (std::int64_t kw = 0; kw < g.k[2]; ++kw, dst += C) {
          const std::int64_t iw = ih < 0 ? -1 : input_at(g, 2, ow, kw);
          if (iw < 0) {
            std::fill(dst, dst + C, A(0));
          } else {
            convert_run(x + (((n * g.in[0] + id) * g.in[1] + ih) * g.in[2] + iw) * C, dst, C);
          }
        }
      }
    }
  }
}

template <class T>
void conv_regular(const ConvPlan& p) {
  using A = widen_t<T>;  // float16 computes in float32
  const ConvGeometry& g = p.g;
  const std::int64_t R = positions(g), M = p.filters, Kd = kernel_volume(g) * g.channels;
  if (R == 0 || M == 0) return;
  T* const y = reinterpret_cast<T*>(p.y);
  if (Kd == 0) {
    std::fill(y, y + R * M, T{});
    return;
  }
  const T* const x = reinterpret_cast<const T*>(p.x);
  AlignedBuffer<A> wide_w;
  const A* w = reinterpret_cast<const A*>(p.w);
  if constexpr (!std::is_same_v<T, A>) {
    wide_w.reset(static_cast<std::size_t>(Kd * M));
    convert_run(reinterpret_cast<const T*>(p.w), wide_w.get(), Kd * M);
    w = wide_w.get();
  }
  GemmPlan q;
  q.dtype = dtype_of<A>();
  q.N = M;
  q.K = Kd;
  q.b = MatrixOperand{reinterpret_cast<const char*>(w), 0, M * std::int64_t(sizeof(A)), std::int64_t(sizeof(A))};
  const std::int64_t row_bytes = Kd * std::int64_t(sizeof(A));
  bool unit = true;  // 1x1, unit strides, no padding: x itself is the im2col matrix
  for (int d = 0; d < 3; ++d) unit = unit && g.k[d] == 1 && g.stride[d] == 1 && g.pad[d] == 0 && g.in[d] == g.out[d];
  if constexpr (std::is_same_v<T, A>) {
    if (unit) {
      q.M = R;
      q.a = MatrixOperand{p.x, 0, row_bytes, std::int64_t(sizeof(A))};
      q.c = p.y;
      gemm(q);
      return;
    }
  }
  // One product into y (or, for float16, into a float32 buffer rounded into y).
  const auto product = [&](const A* col, std::int64_t r0, std::int64_t rows) {
    GemmPlan b = q;
    b.M = rows;
    b.a = MatrixOperand{reinterpret_cast<const char*>(col), 0, row_bytes, std::int64_t(sizeof(A))};
    if constexpr (std::is_same_v<T, A>) {
      b.c = reinterpret_cast<char*>(y + r0 * M);
      gemm(b);
    } else {
      AlignedBuffer<A> out(static_cast<std::size_t>(rows * M));
      b.c = reinterpret_cast<char*>(out.get());
      gemm(b);
      convert_run(out.get(), y + r0 * M, rows * M);
    }
  };
  if (R * row_bytes <= tuning::kConvWholeBytes) {
    // The whole im2col matrix at once, then one product on every thread.
    AlignedBuffer<A> col(static_cast<std::size_t>(R * Kd));
    const std::int64_t chunk = std::max<std::int64_t>(1, tuning::kConvBlockBytes / row_bytes);
    parallel_tasks((R + chunk - 1) / chunk, chunk * Kd, [&](std::int64_t t) {
      const std::int64_t r0 = t * chunk;
      im2col(g, x, r0, std::min(R, r0 + chunk), col.get() + r0 * Kd);
    });
    if constexpr (std::is_same_v<T, A>) {
      product(col.get(), 0, R);
    } else {
      GemmPlan b = q;  // float32 result, rounded into y on every thread
      AlignedBuffer<A> out(static_cast<std::size_t>(R * M));
      b.M = R;
      b.a = MatrixOperand{reinterpret_cast<const char*>(col.get()), 0, row_bytes, std::int64_t(sizeof(A))};
      b.c = reinterpret_cast<char*>(out.get());
      gemm(b);
      parallel_for(0, R * M, tuning::kGrain, [&](std::int64_t i0, std::int64_t i1) {
        convert_run(out.get() + i0, y + i0, i1 - i0);
      });
    }
    return;
  }
  // Blocks of output positions: each task builds its im2col block and runs its own product.
  const std::int64_t want = std::max(tuning::kConvMinBlockRows, tuning::kConvBlockBytes / row_bytes);
  const std::int64_t rows = std::min(R, (want + 15) / 16 * 16);
  const std::int64_t blocks = (R + rows - 1) / rows;
  parallel_tasks(blocks, std::max<std::int64_t>(rows * Kd * M / 16, 1), [&](std::int64_t t) {
    const std::int64_t r0 = t * rows, r1 = std::min(R, r0 + rows);
    AlignedBuffer<A> col(static_cast<std::size_t>((r1 - r0) * Kd));
    im2col(g, x, r0, r1, col.get());
    product(col.get(), r0, r1 - r0);
  });
}

// One output line (batch n, od, oh) at a time: for each kernel row (kd, kh) inside x, its input
// line in A (each channel repeated `mult` times), then for each kw every output position's
// channels in vectors.
template <class T>
void conv_depthwise(const ConvPlan& p) {
  using A = widen_t<T>;
  const ConvGeometry& g = p.g;
  const std::int64_t C = g.channels, mult = p.filters, OC = C * mult;
  const std::int64_t lines = g.batch * g.out[0] * g.out[1], ow_n = g.out[2], iw_n = g.in[2];
  if (lines == 0 || ow_n == 0 || OC == 0) return;
  const T* const x = reinterpret_cast<const T*>(p.x);
  T* const y = reinterpret_cast<T*>(p.y);
  const std::int64_t kv = kernel_volume(g);
  AlignedBuffer<A> wide_w;
  const A* w = reinterpret_cast<const A*>(p.w);
  if constexpr (!std::is_same_v<T, A>) {
    wide_w.reset(static_cast<std::size_t>(kv * OC));
    convert_run(reinterpret_cast<const T*>(p.w), wide_w.get(), kv * OC);
    w = wide_w.get();
  }
  const std::int64_t line_work = std::max<std::int64_t>(ow_n * OC * kv, 1);
  parallel_tasks(lines, line_work, [&](std::int64_t line) {
    const std::int64_t oh = line % g.out[1], od = line / g.out[1] % g.out[0], n = line / (g.out[1] * g.out[0]);
    AlignedBuffer<A> acc(static_cast<std::size_t>(ow_n * OC)), in;
    const bool direct = std::is_same_v<T, A> && mult == 1;
    if (!direct) in.reset(static_cast<std::size_t>(iw_n * OC));
    std::fill(acc.get(), acc.get() + ow_n * OC, A(0));
    for (std::int64_t kd = 0; kd < g.k[0]; ++kd) {
      const std::int64_t id = input_at(g, 0, od, kd);
      if (id < 0) continue;
      for (std::int64_t kh = 0; kh < g.k[1]; ++kh) {
        const std::int64_t ih = input_at(g, 1, oh, kh);
        if (ih < 0) continue;
        const T* src = x + ((n * g.in[0] + id) * g.in[1] + ih) * iw_n * C;
        const A* row;
        if (direct) {
          row = reinterpret_cast<const A*>(src);
        } else {
          A* dst = in.get();
          if (mult == 1) {
            convert_run(src, dst, iw_n * C);
          } else {
            for (std::int64_t i = 0; i < iw_n * C; ++i) {
              A v;
              convert_run(src + i, &v, 1);
              std::fill(dst + i * mult, dst + (i + 1) * mult, v);
            }
          }
          row = dst;
        }
        for (std::int64_t kw = 0; kw < g.k[2]; ++kw) {
          const A* wk = w + ((kd * g.k[1] + kh) * g.k[2] + kw) * OC;
          for (std::int64_t ow = 0; ow < ow_n; ++ow) {
            const std::int64_t iw = input_at(g, 2, ow, kw);
            if (iw >= 0) fma_row(acc.get() + ow * OC, row + iw * OC, wk, OC);
          }
        }
      }
    }
    convert_run(acc.get(), y + line * ow_n * OC, ow_n * OC);
  });
}

// Max (NaN wins, as np.maximum) or the average over the window's positions inside x.
template <class T>
void pool_typed(const PoolPlan& p) {
  using A = widen_t<T>;
  const ConvGeometry& g = p.g;
  const std::int64_t C = g.channels, lines = g.batch * g.out[0] * g.out[1], ow_n = g.out[2], iw_n = g.in[2];
  if (lines == 0 || ow_n == 0 || C == 0) return;
  const T* const x = reinterpret_cast<const T*>(p.x);
  T* const y = reinterpret_cast<T*>(p.y);
  const bool is_max = p.mode == PoolMode::max;
  parallel_tasks(lines, std::max<std::int64_t>(ow_n * C * kernel_volume(g), 1), [&](std::int64_t line) {
    const std::int64_t oh = line % g.out[1], od = line / g.out[1] % g.out[0], n = line / (g.out[1] * g.out[0]);
    AlignedBuffer<A> acc(static_cast<std::size_t>(ow_n * C)), in;
    if constexpr (!std::is_same_v<T, A>) in.reset(static_cast<std::size_t>(iw_n * C));
    std::fill(acc.get(), acc.get() + ow_n * C, is_max ? -std::numeric_limits<A>::infinity() : A(0));
    std::int64_t rows_inside = 0;  // (kd, kh) pairs inside x; times the kw inside, the count
    for (std::int64_t kd = 0; kd < g.k[0]; ++kd) {
      const std::int64_t id = input_at(g, 0, od, kd);
      if (id < 0) continue;
      for (std::int64_t kh = 0; kh < g.k[1]; ++kh) {
        const std::int64_t ih = input_at(g, 1, oh, kh);
        if (ih < 0) continue;
        ++rows_inside;
        const T* src = x + ((n * g.in[0] + id) * g.in[1] + ih) * iw_n * C;
        const A* row;
        if constexpr (std::is_same_v<T, A>) {
          row = src;
        } else {
          convert_run(src, in.get(), iw_n * C);
          row = in.get();
        }
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          A* a = acc.get() + ow * C;
          for (std::int64_t kw = 0; kw < g.k[2]; ++kw) {
            const std::int64_t iw = input_at(g, 2, ow, kw);
            if (iw < 0) continue;
            const A* v = row + iw * C;
            if (is_max) {
              for (std::int64_t c = 0; c < C; ++c) a[c] = (v[c] > a[c] || v[c] != v[c]) ? v[c] : a[c];
            } else {
              for (std::int64_t c = 0; c < C; ++c) a[c] += v[c];
            }
          }
        }
      }
    }
    if (!is_max) {
      for (std::int64_t ow = 0; ow < ow_n; ++ow) {
        std::int64_t cols_inside = 0;
        for (std::int64_t kw = 0; kw < g.k[2]; ++kw) cols_inside += input_at(g, 2, ow, kw) >= 0;
        const A count = A(rows_inside * cols_inside);
        A* a = acc.get() + ow * C;
        for (std::int64_t c = 0; c < C; ++c) a[c] /= count;
      }
    }
    convert_run(acc.get(), y + line * ow_n * C, ow_n * C);
  });
}

}  // namespace

void conv(const ConvPlan& p) {
  visit_float(p.dtype, "conv", [&](auto t) {
    using T = decltype(t);
    if (p.depthwise) conv_depthwise<T>(p);
    else conv_regular<T>(p);
  });
}

void pool(const PoolPlan& p) {
  visit_float(p.dtype, "pool", [&](auto t) { pool_typed<decltype(t)>(p); });
}

}  // namespace KCORE_ISA
}  // namespace kcore
