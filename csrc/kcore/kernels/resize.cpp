// The resize entry, compiled once per ISA level (CMakeLists.txt): spatial dims of channels_last
// data scaled by integer factors (kcore/conv_plan.hpp's ResizePlan), as TensorFlow's legacy
// resize ops (no corner alignment, no half-pixel centres).
//
// Nearest copies: one task per input line, which it widens once (each position repeated along
// the last dim) and copies to the factor x factor output lines it fills, in the input's dtype.
// Bilinear blends in A (float32 for float16), one task per output line: the source lines' lerps
// along the leading dims, then along the last one, as x0 * (1 - t) + x1 * t with t = r / factor.
// Every output element is one fixed chain of operations, so no thread count changes a bit.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kcore/kernels/accumulate.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/entries.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/scratch.hpp"

namespace kcore {
namespace KCORE_ISA {
namespace {

template <class T>
void resize_nearest(const ResizePlan& p) {
  const std::int64_t C = p.channels, in_w = p.in[2], fw = p.factor[2];
  const std::int64_t out_w = in_w * fw, out_h = p.in[1] * p.factor[1], out_d = p.in[0] * p.factor[0];
  const std::int64_t line_in = in_w * C, line_out = out_w * C;
  const T* const x = reinterpret_cast<const T*>(p.x);
  T* const y = reinterpret_cast<T*>(p.y);
  const std::int64_t lines = p.batch * p.in[0] * p.in[1];
  const std::int64_t copies = p.factor[0] * p.factor[1];
  parallel_tasks(lines, std::max<std::int64_t>(line_out * copies, 1), [&](std::int64_t line) {
    const std::int64_t ih = line % p.in[1], id = line / p.in[1] % p.in[0], n = line / (p.in[1] * p.in[0]);
    const T* const src = x + line * line_in;
    T* const first = y + ((n * out_d + id * p.factor[0]) * out_h + ih * p.factor[1]) * line_out;
    if (fw == 1) {
      std::memcpy(first, src, static_cast<std::size_t>(line_in) * sizeof(T));
    } else {
      T* d = first;
      for (std::int64_t i = 0; i < in_w; ++i) {
        const T* const s = src + i * C;
        for (std::int64_t r = 0; r < fw; ++r, d += C) std::copy(s, s + C, d);
      }
    }
    for (std::int64_t a = 0; a < p.factor[0]; ++a) {
      for (std::int64_t b = 0; b < p.factor[1]; ++b) {
        T* const dst = first + (a * out_h + b) * line_out;
        if (dst != first) std::memcpy(dst, first, static_cast<std::size_t>(line_out) * sizeof(T));
      }
    }
  });
}

template <class T>
void resize_bilinear(const ResizePlan& p) {
  using A = widen_t<T>;
  const std::int64_t C = p.channels, in_w = p.in[2], fw = p.factor[2];
  const std::int64_t out_w = in_w * fw, out_h = p.in[1] * p.factor[1], out_d = p.in[0] * p.factor[0];
  const std::int64_t line_in = in_w * C, line_out = out_w * C;
  const T* const x = reinterpret_cast<const T*>(p.x);
  T* const y = reinterpret_cast<T*>(p.y);
  // Along dim d, output o reads i0 = o / f and i1 = min(i0 + 1, n - 1) with weight t = (o % f) / f.
  const auto source = [&](int d, std::int64_t o, std::int64_t& i0, std::int64_t& i1, A& t) {
    i0 = o / p.factor[d];
    i1 = std::min(i0 + 1, p.in[d] - 1);
    t = static_cast<A>(o % p.factor[d]) / static_cast<A>(p.factor[d]);
  };
  const auto lerp = [](A a, A b, A t) { return a * (A(1) - t) + b * t; };
  // Each output position's sources along the last dim, worked out once (integer divisions).
  std::vector<std::int64_t> w_of(static_cast<std::size_t>(2 * out_w));
  std::vector<A> t_of(static_cast<std::size_t>(out_w));
  for (std::int64_t ow = 0; ow < out_w; ++ow) source(2, ow, w_of[2 * ow], w_of[2 * ow + 1], t_of[ow]);
  const std::int64_t lines = p.batch * out_d * out_h;
  parallel_tasks(lines, std::max<std::int64_t>(line_out * 4, 1), [&](std::int64_t line) {
    const std::int64_t oh = line % out_h, od = line / out_h % out_d, n = line / (out_h * out_d);
    std::int64_t ds[2], hs[2];
    A td, th;
    source(0, od, ds[0], ds[1], td);
    source(1, oh, hs[0], hs[1], th);
    // The source lines blended along height (when a spatial dim), then along depth (when one);
    // lines in A are read where they lie, float16 ones converted into `r` first.
    const bool by_depth = p.ndim == 3, by_height = p.ndim >= 2;
    AlignedBuffer<A> rows(static_cast<std::size_t>(4 * line_in));
    A* const r = rows.get();
    const auto line_of = [&](std::int64_t plane, std::int64_t h, A* buf) -> const A* {
      const T* const src = x + (plane * p.in[1] + h) * line_in;
      if constexpr (std::is_same_v<T, A>) {
        return src;
      } else {
        convert_run(src, buf, line_in);
        return buf;
      }
    };
    const A* planes[2] = {};
    for (int a = 0; a < (by_depth ? 2 : 1); ++a) {
      A* const ra = r + 2 * a * line_in;
      const std::int64_t plane = n * p.in[0] + (by_depth ? ds[a] : od);
      const A* const top = line_of(plane, by_height ? hs[0] : oh, ra);
      planes[a] = top;
      if (!by_height) continue;
      const A* const bottom = line_of(plane, hs[1], ra + line_in);
      for (std::int64_t i = 0; i < line_in; ++i) ra[i] = lerp(top[i], bottom[i], th);
      planes[a] = ra;
    }
    const A* blend = planes[0];
    if (by_depth) {
      for (std::int64_t i = 0; i < line_in; ++i) r[i] = lerp(planes[0][i], planes[1][i], td);
      blend = r;
    }
    AlignedBuffer<A> out;
    A* o;
    if constexpr (std::is_same_v<T, A>) {
      o = y + line * line_out;
    } else {
      out.reset(static_cast<std::size_t>(line_out));
      o = out.get();
    }
    for (std::int64_t ow = 0; ow < out_w; ++ow) {
      const A* const s0 = blend + w_of[2 * ow] * C;
      const A* const s1 = blend + w_of[2 * ow + 1] * C;
      const A tw = t_of[ow];
      A* const dst = o + ow * C;
      for (std::int64_t c = 0; c < C; ++c) dst[c] = lerp(s0[c], s1[c], tw);
    }
    if constexpr (!std::is_same_v<T, A>) convert_run(o, y + line * line_out, line_out);
  });
}

}  // namespace

void resize(const ResizePlan& p) {
  if (p.batch == 0 || p.channels == 0 || p.in[0] * p.in[1] * p.in[2] == 0) return;
  visit_float(p.dtype, "resize", [&](auto t) {
    using T = decltype(t);
    if (p.mode == ResizeMode::nearest) resize_nearest<T>(p);
    else resize_bilinear<T>(p);
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
