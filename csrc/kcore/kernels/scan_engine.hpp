// The scan engine: cumsum and cumprod along any axis of any strided array.
//
// Accumulation is in sum_acc_t<T> (float16 in float32, float32 and float64 in float64), each
// output rounded once. Lines (scanned axis innermost) are scanned sequentially in fixed segments
// of kSegment elements whose starting values come from a first pass of segment totals, so a long
// line splits across threads and the bits never depend on the thread count. Otherwise the kernel
// walks whole rows, out[i, :] = out[i-1, :] op x[i, :], vectorised across a block of columns.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "kcore/kernels/copy_engine.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/reduce_ops.hpp"
#include "kcore/scan_plan.hpp"

namespace kcore {
namespace KCORE_ISA {

constexpr std::int64_t kSegment = 4096;   // elements scanned sequentially from one start value
constexpr std::int64_t kScanCols = 1024;  // columns per vertical block

template <class T, Fold F>
struct Scanner {
  using A = fold_acc_t<T, F>;
  using W = widen_t<T>;
  static constexpr A kUnit = F == Fold::add ? A(0) : A(1);

  // Reads len elements at byte stride `stride` as W into buf (buf must hold kSegment).
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
    alignas(64) W buf[kSegment];
    const W* x = fetch(s, stride, len, buf);
    return fold_contig<A, F>(x, len, F == Fold::add ? A(-0.0) : A(1));
  }

  // Sequential scan of one segment from `start`, written to d at byte stride dstride.
  static void segment(const char* s, std::int64_t stride, std::int64_t len, A start, T* d,
                      std::int64_t dstride) {
    alignas(64) W buf[kSegment];
    const W* x = fetch(s, stride, len, buf);
    A acc = start;
    const bool contiguous = dstride == static_cast<std::int64_t>(sizeof(T));
    alignas(64) T tmp[kSegment];
    T* out = contiguous ? d : tmp;
    if constexpr (std::is_same_v<T, half>) {
      alignas(64) A wide[kSegment];  // converted to float16 once, from the accumulator type
      for (std::int64_t i = 0; i < len; ++i) wide[i] = acc = fold1<A, F>(acc, static_cast<A>(x[i]));
      convert_run(wide, out, len);
    } else {
      for (std::int64_t i = 0; i < len; ++i) {
        acc = fold1<A, F>(acc, static_cast<A>(x[i]));
        out[i] = static_cast<T>(acc);
      }
    }
    if (!contiguous)
      for (std::int64_t i = 0; i < len; ++i)
        std::memcpy(reinterpret_cast<char*>(d) + i * dstride, &tmp[i], sizeof(T));
  }
};

// Four segments of equal length at once: four independent dependency chains instead of one, so
// the loop runs at throughput rather than at the latency of one add (or multiply) per element.
// Each chain does exactly what `segment` does, so results are identical.
template <class T, Fold F>
void segment4(const char* const* s, std::int64_t stride, std::int64_t len, const typename Scanner<T, F>::A* start,
              T* const* d, std::int64_t dstride) {
  using S = Scanner<T, F>;
  using A = typename S::A;
  using W = typename S::W;
  alignas(64) W buf[4][kSegment];
  const W* x[4];
  for (int u = 0; u < 4; ++u) x[u] = S::fetch(s[u], stride, len, buf[u]);
  A a0 = start[0], a1 = start[1], a2 = start[2], a3 = start[3];
  const bool contiguous = dstride == static_cast<std::int64_t>(sizeof(T));
  if constexpr (std::is_same_v<T, half>) {
    alignas(64) A wide[4][kSegment];
    for (std::int64_t i = 0; i < len; ++i) {
      wide[0][i] = a0 = fold1<A, F>(a0, static_cast<A>(x[0][i]));
      wide[1][i] = a1 = fold1<A, F>(a1, static_cast<A>(x[1][i]));
      wide[2][i] = a2 = fold1<A, F>(a2, static_cast<A>(x[2][i]));
      wide[3][i] = a3 = fold1<A, F>(a3, static_cast<A>(x[3][i]));
    }
    for (int u = 0; u < 4; ++u) {
      if (contiguous) {
        convert_run(wide[u], d[u], len);
      } else {
        alignas(64) T tmp[kSegment];
        convert_run(wide[u], tmp, len);
        for (std::int64_t i = 0; i < len; ++i)
          std::memcpy(reinterpret_cast<char*>(d[u]) + i * dstride, &tmp[i], sizeof(T));
      }
    }
  } else {
    auto put = [&](int u, std::int64_t i, A v) {
      const T t = static_cast<T>(v);
      std::memcpy(reinterpret_cast<char*>(d[u]) + i * dstride, &t, sizeof(T));
    };
    for (std::int64_t i = 0; i < len; ++i) {
      a0 = fold1<A, F>(a0, static_cast<A>(x[0][i]));
      a1 = fold1<A, F>(a1, static_cast<A>(x[1][i]));
      a2 = fold1<A, F>(a2, static_cast<A>(x[2][i]));
      a3 = fold1<A, F>(a3, static_cast<A>(x[3][i]));
      put(0, i, a0);
      put(1, i, a1);
      put(2, i, a2);
      put(3, i, a3);
    }
  }
}

inline void outer_offsets(const ScanPlan& p, std::int64_t linear, std::int64_t& so, std::int64_t& dof) {
  offsets_of(linear, p.outer, p.n_outer, so, dof);
}

template <class T, Fold F>
void scan_lines(const ScanPlan& p) {
  using S = Scanner<T, F>;
  using A = typename S::A;
  std::int64_t lines = 1;
  for (int k = 0; k < p.n_outer; ++k) lines *= p.outer[k].size;
  const std::int64_t segs = (p.n + kSegment - 1) / kSegment;
  const std::int64_t units = lines * segs;
  std::unique_ptr<A[]> start(new A[static_cast<std::size_t>(units)]);
  auto unit_ptrs = [&](std::int64_t u, const char*& s, T*& d, std::int64_t& len) {
    const std::int64_t line = u / segs, seg = u % segs;
    std::int64_t so, dof;
    outer_offsets(p, line, so, dof);
    s = p.src + so + seg * kSegment * p.src_step;
    d = reinterpret_cast<T*>(p.dst + dof + seg * kSegment * p.dst_step);
    len = std::min(kSegment, p.n - seg * kSegment);
  };
  const std::int64_t grain = std::max<std::int64_t>(1, kGrain / std::min(p.n, kSegment));
  if (segs > 1) {
    // Pass 1: segment totals, then each line's exclusive prefix over its segments.
    parallel_for(0, units, grain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t u = b; u < e; ++u) {
        const char* s;
        T* d;
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
  parallel_for(0, units, grain, [&](std::int64_t b, std::int64_t e) {
    std::int64_t u = b;
    for (; u + 4 <= e; u += 4) {
      const char* s[4];
      T* d[4];
      std::int64_t len[4];
      for (int k = 0; k < 4; ++k) unit_ptrs(u + k, s[k], d[k], len[k]);
      if (len[0] == len[1] && len[0] == len[2] && len[0] == len[3]) {
        segment4<T, F>(s, p.src_step, len[0], &start[u], d, p.dst_step);
      } else {
        for (int k = 0; k < 4; ++k) S::segment(s[k], p.src_step, len[k], start[u + k], d[k], p.dst_step);
      }
    }
    for (; u < e; ++u) {
      const char* s;
      T* d;
      std::int64_t len;
      unit_ptrs(u, s, d, len);
      S::segment(s, p.src_step, len, start[u], d, p.dst_step);
    }
  });
}

template <class T, Fold F>
void scan_tiles(const ScanPlan& p) {
  using S = Scanner<T, F>;
  using A = typename S::A;
  using W = typename S::W;
  std::int64_t nouter = 1;
  for (int k = 0; k < p.n_outer; ++k) nouter *= p.outer[k].size;
  const std::int64_t item = sizeof(T);
  const std::int64_t R = p.col.size, cs = p.col.in_stride, cd = p.col.out_stride;
  const bool unit_src = cs == item, unit_dst = cd == item;
  // Wide blocks when both sides are contiguous along the columns; otherwise narrow ones, so the
  // cache lines of all block columns stay resident while the rows advance.
  const std::int64_t width = unit_src && unit_dst ? kScanCols : 32;
  const std::int64_t nblocks = (R + width - 1) / width;
  const std::int64_t grain = std::max<std::int64_t>(1, kGrain / (p.n * std::min(R, width)));
  parallel_for(0, nouter * nblocks, grain, [&](std::int64_t b, std::int64_t e) {
    alignas(64) A acc[kScanCols];
    alignas(64) W buf[kScanCols];
    alignas(64) T out[kScanCols];
    alignas(64) A out16[std::is_same_v<T, half> ? kScanCols : 1];
    for (std::int64_t t = b; t < e; ++t) {
      const std::int64_t o = t / nblocks, j0 = (t % nblocks) * width;
      const std::int64_t w = std::min(width, R - j0);
      std::int64_t so, dof;
      outer_offsets(p, o, so, dof);
      so += j0 * cs;
      dof += j0 * cd;
      for (std::int64_t j = 0; j < w; ++j) acc[j] = S::kUnit;
      for (std::int64_t i = 0; i < p.n; ++i) {
        const W* x = S::fetch(p.src + so + i * p.src_step, cs, w, buf);
        for (std::int64_t j = 0; j < w; ++j) acc[j] = fold1<A, F>(acc[j], static_cast<A>(x[j]));
        char* d = p.dst + dof + i * p.dst_step;
        T* row = unit_dst ? reinterpret_cast<T*>(d) : out;
        if constexpr (std::is_same_v<T, half>) {
          for (std::int64_t j = 0; j < w; ++j) out16[j] = acc[j];
          convert_run(out16, row, w);
        } else {
          for (std::int64_t j = 0; j < w; ++j) row[j] = static_cast<T>(acc[j]);
        }
        if (!unit_dst)
          for (std::int64_t j = 0; j < w; ++j) std::memcpy(d + j * cd, &out[j], sizeof(T));
      }
    }
  });
}

template <class T, Fold F>
void scan_typed(const ScanPlan& p) {
  if (p.size == 0) return;
  if (p.tiles) scan_tiles<T, F>(p);
  else scan_lines<T, F>(p);
}

inline void scan(const ScanPlan& p) {
  visit_float(p.dtype, "scan", [&](auto t) {
    using T = decltype(t);
    if (p.kind == ScanKind::sum) scan_typed<T, Fold::add>(p);
    else scan_typed<T, Fold::mul>(p);
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
