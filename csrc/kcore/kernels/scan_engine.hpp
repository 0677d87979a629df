// The scan engine: cumsum and cumprod along any axis of any strided array.
//
// Accumulation is in scan_acc_t<T> (float16 in float32, float32 and float64 in float64), each
// output rounded once; products step through the subnormal range exactly and without the
// hardware's slow path (exact_product.hpp). Lines (scanned axis innermost) are scanned
// sequentially in fixed segments of tuning::kSegment elements whose starting values come from a first
// pass of segment totals, so a long line splits across threads and the bits never depend on the
// thread count. Otherwise the kernel walks whole rows, out[i, :] = out[i-1, :] op x[i, :],
// vectorised across a block of columns (products tuning::kProductRows rows at a time).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <stdexcept>

#include "kcore/kernels/accumulate.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/exact_product.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/stream.hpp"
#include "kcore/kernels/transpose.hpp"
#include "kcore/kernels/walk.hpp"
#include "kcore/scan_plan.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {

// Columns per vertical block of products, whose tuning::kProductRows rows of results stay in L1.
template <class T>
constexpr std::int64_t kProductCols =
    std::min<std::int64_t>(tuning::kScanCols, tuning::kProductBlockBytes / (tuning::kProductRows * sizeof(T)));

template <class T, Fold F>
struct Scanner {
  using A = scan_acc_t<T>;
  using W = widen_t<T>;
  static constexpr A kUnit = F == Fold::add ? A(0) : A(1);

  // Reads len elements at byte stride `stride` as W into buf (buf must hold tuning::kSegment).
  static const W* fetch(const char* s, std::int64_t stride, std::int64_t len, W* buf) {
    if (stride == static_cast<std::int64_t>(sizeof(T))) {
      if constexpr (std::is_same_v<T, half>) {
        widen_half(reinterpret_cast<const half*>(s), buf, len);
        return buf;
      } else {
        return reinterpret_cast<const W*>(s);
      }
    }
    for (std::int64_t i = 0; i < len; ++i) {
      T x;
      std::memcpy(&x, s + i * stride, sizeof x);
      buf[i] = convert_one<W>(x);
    }
    return buf;
  }

  // Total of one segment (the offset the next segment starts from).
  static A total(const char* s, std::int64_t stride, std::int64_t len) {
    alignas(64) W buf[tuning::kSegment];
    const W* x = fetch(s, stride, len, buf);
    return fold_contig<A, F>(x, len, F == Fold::add ? A(-0.0) : A(1));
  }

  // Writes m results from an L1 buffer to d (byte stride dstride); streamed for large results.
  static void emit(const T* out, std::int64_t m, char* d, std::int64_t dstride, bool stream) {
    if (dstride != static_cast<std::int64_t>(sizeof(T))) {
      for (std::int64_t i = 0; i < m; ++i) std::memcpy(d + i * dstride, &out[i], sizeof(T));
    } else if (stream) {
      stream_bytes(d, reinterpret_cast<const char*>(out), m * static_cast<std::int64_t>(sizeof(T)));
    } else {
      std::memcpy(d, out, static_cast<std::size_t>(m) * sizeof(T));
    }
  }
};

// Sequential scans of U segments of equal length at once, from start[u], written to d[u] at byte
// stride dstride. U > 1 runs U independent dependency chains, so the loop goes at throughput
// rather than at the latency of one add (or multiply) per element; each chain does exactly what
// a lone one does, so results are identical. Pieces of kPiece keep the buffers in L1.
template <class T, Fold F, int U>
void segments(const char* const* s, std::int64_t stride, std::int64_t len, const typename Scanner<T, F>::A* start,
              char* const* d, std::int64_t dstride, bool stream) {
  using S = Scanner<T, F>;
  using A = typename S::A;
  using W = typename S::W;
  constexpr std::int64_t kPiece = tuning::kScanPieceElems / U;
  alignas(64) W buf[U][kPiece];
  alignas(64) T out[U][kPiece];
  alignas(64) A wide[std::is_same_v<T, half> ? U : 1][kPiece];  // float16: rounded once, from A
  A acc[U];
  for (int u = 0; u < U; ++u) acc[u] = start[u];
  for (std::int64_t p0 = 0; p0 < len; p0 += kPiece) {
    const std::int64_t m = std::min(kPiece, len - p0);
    const W* x[U];
    for (int u = 0; u < U; ++u) x[u] = S::fetch(s[u] + p0 * stride, stride, m, buf[u]);
    for (std::int64_t i = 0; i < m; ++i) {
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) {
        acc[u] = fold1<A, F>(acc[u], static_cast<A>(x[u][i]));
        if constexpr (std::is_same_v<T, half>) wide[u][i] = acc[u];
        else out[u][i] = static_cast<T>(acc[u]);
      }
    }
    for (int u = 0; u < U; ++u) {
      if constexpr (std::is_same_v<T, half>) convert_run(wide[u], out[u], m);
      S::emit(out[u], m, d[u] + p0 * dstride, dstride, stream);
    }
  }
}

#ifdef KCORE_REGISTER_TRANSPOSE
// Running folds of N contiguous segments of equal length at once (N = accumulator lanes of a
// vector): blocks of N x N are read straight from the segments, widened and transposed in
// registers so that one vector holds one element of N segments, and N running values advance
// with one add or multiply. Each segment sees exactly the operations of segments<>, in the same
// order: the same bits.
template <class T, Fold F>
void lines_across(const char* const* s, std::int64_t len, const scan_acc_t<T>* start, char* const* d, bool stream) {
  using A = scan_acc_t<T>;
  using RT = RegisterTranspose<A>;
  using V = typename RT::V;
  constexpr int N = RT::N;
  constexpr std::int64_t item = sizeof(T);
  constexpr std::int64_t kPiece = tuning::kScanAcrossBytes / (N * item);
  const T* src[N];
  for (int u = 0; u < N; ++u) src[u] = reinterpret_cast<const T*>(s[u]);
  alignas(64) T out[2][N][kPiece];  // two pieces of results of every segment, 16 KB each
  V acc;
  std::memcpy(&acc, start, sizeof acc);
  // One N-column block of every segment: in(u) and out(u) point at segment u's N elements.
  const auto block = [&](auto in, auto out_at) {
    V r[N];
    const auto read = [&] {
#pragma GCC unroll 16
      for (int u = 0; u < N; ++u) r[u] = load_widened<A>(in(u));
      RT::transpose(r);
    };
    read();
    if constexpr (F == Fold::add) {
#pragma GCC unroll 16
      for (int k = 0; k < N; ++k) r[k] = acc = acc + r[k];
    } else {
      block_products<A, N, !std::is_same_v<T, A>>(acc, r, read);
    }
    RT::transpose(r);
#pragma GCC unroll 16
    for (int u = 0; u < N; ++u) store_narrowed<T, A>(out_at(u), r[u]);
  };
  // The last columns, one at a time.
  const auto column = [&](const std::int64_t at, auto out_at) {
    V col;
    for (int u = 0; u < N; ++u) col[u] = convert_one<A>(src[u][at]);
    if constexpr (F == Fold::add) acc = acc + col;
    else acc = product_step<A>(acc, col);
    for (int u = 0; u < N; ++u) *out_at(u) = narrow<T>(acc[u]);
  };
  if (!stream) {
    // Results that stay in the caches are stored in place: through the piece buffer they were
    // written twice (the copy took a sixth of a short-line cumsum's time).
    T* dst[N];
    for (int u = 0; u < N; ++u) dst[u] = reinterpret_cast<T*>(d[u]);
    std::int64_t i = 0;
    for (; i + N <= len; i += N) block([&](int u) { return src[u] + i; }, [&](int u) { return dst[u] + i; });
    for (; i < len; ++i) column(i, [&](int u) { return dst[u] + i; });
    return;
  }
  // Streamed results go out a piece behind, a few lines after each of the next piece's blocks
  // (WriteBehind; 4096x4096 at 2 threads, time with/without: 0.79-0.85 for every dtype).
  WriteBehind writer(stream);
  int cur = 0;
  for (std::int64_t p0 = 0; p0 < len; p0 += kPiece, cur ^= 1) {
    const std::int64_t m = std::min(kPiece, len - p0);
    const std::int64_t per_block = writer.pending() / std::max<std::int64_t>(1, m / N) + 1;
    std::int64_t i = 0;
    for (; i + N <= m; i += N) {
      block([&](int u) { return src[u] + p0 + i; }, [&](int u) { return &out[cur][u][i]; });
      writer.write(per_block);
    }
    for (; i < m; ++i) column(p0 + i, [&](int u) { return &out[cur][u][i]; });
    char* dst[N];
    for (int u = 0; u < N; ++u) dst[u] = d[u] + p0 * item;
    writer.start(reinterpret_cast<const char*>(&out[cur][0][0]), kPiece * item, dst, N, m * item);
  }
  writer.finish();
}
#endif

// Byte offsets (src, dst) of the line with row-major index `linear` over the plan's other dims.
inline void outer_offsets(const ScanPlan& p, std::int64_t linear, std::int64_t& so, std::int64_t& dof) {
  std::int64_t off[kIn + 1];
  offsets_of(linear, p.outer, p.n_outer, off);
  so = off[kIn];
  dof = off[kOut];
}

template <class T, Fold F>
void scan_lines(const ScanPlan& p) {
  constexpr int kChains = tuning::kScanChains;
  using S = Scanner<T, F>;
  using A = typename S::A;
  std::int64_t lines = 1;
  for (int k = 0; k < p.n_outer; ++k) lines *= p.outer[k].size;
  const std::int64_t segs = (p.n + tuning::kSegment - 1) / tuning::kSegment;
  const std::int64_t units = lines * segs;
  std::unique_ptr<A[]> start(new A[static_cast<std::size_t>(units)]);
  auto unit_ptrs = [&](std::int64_t u, const char*& s, char*& d, std::int64_t& len) {
    if (segs == 1 && p.n_outer == 1) {  // one line per unit, one stride apart: no divisions
      s = p.src + u * p.outer[0].stride[kIn];
      d = p.dst + u * p.outer[0].stride[kOut];
      len = p.n;
      return;
    }
    const std::int64_t line = u / segs, seg = u % segs;
    std::int64_t so, dof;
    outer_offsets(p, line, so, dof);
    s = p.src + so + seg * tuning::kSegment * p.src_step;
    d = p.dst + dof + seg * tuning::kSegment * p.dst_step;
    len = std::min(tuning::kSegment, p.n - seg * tuning::kSegment);
  };
  const std::int64_t grain = std::max<std::int64_t>(1, tuning::kGrain / std::min(p.n, tuning::kSegment));
  const std::int64_t bytes = p.size * static_cast<std::int64_t>(sizeof(T));
  const bool stream = tuning::stream_writes(bytes);
  if (p.n <= tuning::kShortLine) {
    // Short lines (axis -1 of an (n, 3) array): the grouped paths' per-line set-up costs more
    // than the scan. One plain sequential scan per line: the same operations.
    parallel_for(0, lines, grain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t line = b; line < e; ++line) {
        std::int64_t so, dof;
        if (p.n_outer == 1) {
          so = line * p.outer[0].stride[kIn];
          dof = line * p.outer[0].stride[kOut];
        } else {
          outer_offsets(p, line, so, dof);
        }
        A acc = S::kUnit;
        for (std::int64_t i = 0; i < p.n; ++i) {
          T x;
          std::memcpy(&x, p.src + so + i * p.src_step, sizeof x);
          acc = fold1<A, F>(acc, convert_one<A>(x));
          const T y = narrow<T>(acc);
          std::memcpy(p.dst + dof + i * p.dst_step, &y, sizeof y);
        }
      }
    });
    return;
  }
  if (segs > 1) {
    // Pass 1: segment totals, then each line's exclusive prefix over its segments.
    parallel_for(0, units, grain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t u = b; u < e; ++u) {
        const char* s;
        char* d;
        std::int64_t len;
        unit_ptrs(u, s, d, len);
        start[u] = S::total(s, p.src_step, len);
      }
    });
    for (std::int64_t line = 0; line < lines; ++line) {
      A acc = S::kUnit;
      for (std::int64_t seg = 0; seg < segs; ++seg) {
        const A t = start[line * segs + seg];
        start[line * segs + seg] = acc;
        acc = fold1<A, F>(acc, t);
      }
    }
  } else {
    for (std::int64_t u = 0; u < units; ++u) start[u] = S::kUnit;
  }
  // Pointers and lengths of the units u, u+1, ... filling the arrays; true if the lengths agree.
  const auto gather = [&](std::int64_t u, auto& s, auto& d, auto& len) {
    bool same = true;
    for (std::size_t k = 0; k < std::size(len); ++k) {
      unit_ptrs(u + static_cast<std::int64_t>(k), s[k], d[k], len[k]);
      same &= len[k] == len[0];
    }
    return same;
  };
  parallel_for(0, units, grain, [&](std::int64_t b, std::int64_t e) {
    std::int64_t u = b;
#ifdef KCORE_REGISTER_TRANSPOSE
    {
      constexpr int N = RegisterTranspose<A>::N;
      constexpr std::int64_t item = sizeof(T);
      if (p.src_step == item && p.dst_step == item) {
        for (; u + N <= e; u += N) {
          const char* s[N];
          char* d[N];
          std::int64_t len[N];
          if (!gather(u, s, d, len)) break;
          lines_across<T, F>(s, len[0], &start[u], d, stream);
        }
      }
    }
#endif
    for (; u + kChains <= e; u += kChains) {
      const char* s[kChains];
      char* d[kChains];
      std::int64_t len[kChains];
      if (gather(u, s, d, len)) {
        segments<T, F, kChains>(s, p.src_step, len[0], &start[u], d, p.dst_step, stream);
      } else {
        for (int k = 0; k < kChains; ++k) segments<T, F, 1>(&s[k], p.src_step, len[k], &start[u + k], &d[k], p.dst_step, stream);
      }
    }
    for (; u < e; ++u) {
      const char* s;
      char* d;
      std::int64_t len;
      unit_ptrs(u, s, d, len);
      segments<T, F, 1>(&s, p.src_step, len, &start[u], &d, p.dst_step, stream);
    }
    if (stream) stream_fence();
  });
}

// One row of a vertical scan: acc[j] = acc[j] op x[j], out[j] = acc[j] rounded once, for j < w,
// widening and narrowing in registers (x: the row's elements, or a widened copy of them).
template <class T, Fold F, class X>
inline void fold_row(scan_acc_t<T>* acc, const X* x, T* out, std::int64_t w, const X* ahead = nullptr) {
  using A = scan_acc_t<T>;
  constexpr int L = kLanes<A>;
  std::int64_t j = 0;
  for (; j + L <= w; j += L) {
    if (ahead) __builtin_prefetch(ahead + j, 0, 3);
    const vec<A> v = load_widened<A>(x + j);
    vec<A> a = load(acc + j);
    if constexpr (F == Fold::add) a = a + v;
    else a = product_step<A>(a, v);
    store(acc + j, a);
    store_narrowed<T, A>(out + j, a);
  }
  for (; j < w; ++j) {  // the hardware's product is exact too, slower only when subnormal
    acc[j] = fold1<A, F>(acc[j], convert_one<A>(x[j]));
    out[j] = narrow<T>(acc[j]);
  }
}

// tuning::kProductRows rows of a vertical running product at once: each column vector takes the rows'
// steps in registers, plainly or, where a lane starts near the bottom of the range, through
// scaled_product_steps. One such decision per tuning::kProductRows steps: a test per row and vector
// branched unpredictably (a third of the vectors of N(1, 1) data have a tiny lane).
template <class T>
inline void product_rows(scan_acc_t<T>* acc, const T* const* x, const T* const* ahead, T (*out)[kProductCols<T>],
                         std::int64_t w, WriteBehind& writer) {
  using A = scan_acc_t<T>;
  using V = vec<A>;
  constexpr int L = kLanes<A>;
  constexpr int n = tuning::kProductRows;
  const std::int64_t per_vector = writer.pending() / std::max<std::int64_t>(1, w / L) + 1;
  std::int64_t j = 0;
  for (; j + L <= w; j += L) {
    writer.write(per_vector);
    V r[n];
    const auto read = [&] {
      for (int k = 0; k < n; ++k) r[k] = load_widened<A>(x[k] + j);
    };
    read();
    if (ahead)
      for (int k = 0; k < n; ++k) __builtin_prefetch(ahead[k] + j, 0, 3);
    V a = load(acc + j);
    block_products<A, n, !std::is_same_v<T, A>>(a, r, read);
    store(acc + j, a);
    for (int k = 0; k < n; ++k) store_narrowed<T, A>(out[k] + j, r[k]);
  }
  for (; j < w; ++j) {  // the hardware's product is exact too, slower only when subnormal
    for (int k = 0; k < n; ++k) {
      acc[j] *= convert_one<A>(x[k][j]);
      out[k][j] = narrow<T>(acc[j]);
    }
  }
}

template <class T, Fold F>
void scan_tiles(const ScanPlan& p) {
  using S = Scanner<T, F>;
  using A = typename S::A;
  using W = typename S::W;
  std::int64_t nouter = 1;
  for (int k = 0; k < p.n_outer; ++k) nouter *= p.outer[k].size;
  const std::int64_t item = sizeof(T);
  const std::int64_t R = p.col.size, cs = p.col.stride[kIn], cd = p.col.stride[kOut];
  const bool unit_src = cs == item, unit_dst = cd == item;
  // Wide blocks when both sides are contiguous along the columns; otherwise narrow ones, so the
  // cache lines of all block columns stay resident while the rows advance.
  const std::int64_t width = unit_src && unit_dst ? (F == Fold::mul ? kProductCols<T> : tuning::kScanCols)
                                                      : tuning::kScanNarrowCols;
  const std::int64_t nblocks = (R + width - 1) / width;
  const std::int64_t grain = std::max<std::int64_t>(1, tuning::kGrain / (p.n * std::min(R, width)));
  const bool stream = tuning::stream_writes(p.size * item);
  parallel_for(0, nouter * nblocks, grain, [&](std::int64_t b, std::int64_t e) {
    alignas(64) A acc[tuning::kScanCols];
    alignas(64) W buf[tuning::kScanCols];
    alignas(64) T out[F == Fold::mul ? 2 : 1][F == Fold::mul ? tuning::kProductRows : 1][F == Fold::mul ? kProductCols<T> : tuning::kScanCols];
    WriteBehind writer(stream);  // a block of product rows goes out while the next computes
    for (std::int64_t t = b; t < e; ++t) {
      const std::int64_t o = t / nblocks, j0 = (t % nblocks) * width;
      const std::int64_t w = std::min(width, R - j0);
      std::int64_t so, dof;
      outer_offsets(p, o, so, dof);
      so += j0 * cs;
      dof += j0 * cd;
      for (std::int64_t j = 0; j < w; ++j) acc[j] = S::kUnit;
      const auto row_at = [&](std::int64_t i) { return reinterpret_cast<const T*>(p.src + so + i * p.src_step); };
      // The next rows' pieces lie in other pages, where the hardware prefetchers start over.
      std::int64_t i = 0;
      if constexpr (F == Fold::mul) {
        constexpr int n = tuning::kProductRows;
        int cur = 0;
        for (; unit_src && i + n <= p.n; i += n) {
          const T* x[n];
          const T* ahead[n];
          for (int k = 0; k < n; ++k) {
            x[k] = row_at(i + k);
            ahead[k] = row_at(std::min(i + n + k, p.n - 1));
          }
          product_rows<T>(acc, x, i + n < p.n ? ahead : nullptr, out[cur], w, writer);
          char* dst[n];
          for (int k = 0; k < n; ++k) dst[k] = p.dst + dof + (i + k) * p.dst_step;
          if (unit_dst) {
            writer.start(reinterpret_cast<const char*>(&out[cur][0][0]), kProductCols<T> * item, dst, n, w * item);
            cur ^= 1;
          } else {  // (nothing is pending: only contiguous rows are written behind)
            for (int k = 0; k < n; ++k) S::emit(out[cur][k], w, dst[k], cd, stream);
          }
        }
        writer.finish();
      }
      for (; i < p.n; ++i) {
        const T* ahead = i + 2 < p.n ? row_at(i + 2) : nullptr;
        if (unit_src) fold_row<T, F>(acc, row_at(i), out[0][0], w, ahead);
        else fold_row<T, F>(acc, S::fetch(reinterpret_cast<const char*>(row_at(i)), cs, w, buf), out[0][0], w);
        S::emit(out[0][0], w, p.dst + dof + i * p.dst_step, cd, stream);
      }
    }
    if (stream) stream_fence();
  });
}

template <class T, Fold F>
void scan_typed(const ScanPlan& p) {
  if (p.size == 0) return;
  if (p.tiles) scan_tiles<T, F>(p);
  else scan_lines<T, F>(p);
}

}  // namespace KCORE_ISA
}  // namespace kcore
