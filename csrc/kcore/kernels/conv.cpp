// The convolution family's entries, compiled once per ISA level (CMakeLists.txt): convolutions
// (regular, depthwise, and the regular one's adjoint: transposed convolutions) and pooling over
// channels_last data (kcore/conv_plan.hpp).
//
// A regular convolution is a product: each output position's window (im2col: kernel positions x
// channels, zeros where the window leaves x) times w seen as a (k * C, filters) matrix, on the
// gemm family: one product on kcore's packed kernel that takes each window's runs from x itself
// (GemmPlan::a_rows; a 1x1 convolution with unit strides reads x as a matrix) and applies the
// fused bias, scale, shift, residual and clip to each block while it is in L2
// (GemmPlan::epilogue); float16 widens as it packs, accumulates in float32 and is rounded once,
// after the epilogue. A 3x3 convolution of unit strides with enough channels goes by Winograd
// F(2x2, 3x3) instead: 16 products on the same micro-kernel, the same fused epilogue, 2.25 times
// fewer multiply-adds. Depthwise convolutions and pooling are memory-bound: one pass per output
// line, the channels (contiguous in channels_last) in vectors.
//
// Work splits by shape only (the product's own split, blocks of output positions, output lines),
// and each output element is one fixed chain of operations, so no thread count changes a bit.
// Across ISA levels the products' bits may differ (fused multiply-adds), as for dot.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "kcore/conv_plan.hpp"
#include "kcore/gemm_plan.hpp"
#include "kcore/kernels/accumulate.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/entries.hpp"
#include "kcore/kernels/gemm.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/scratch.hpp"
#include "kcore/kernels/simd.hpp"
#include "kcore/kernels/stream.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {
namespace {

template <class A>
constexpr DType dtype_of() {
  return std::is_same_v<A, float> ? DType::f32 : DType::f64;
}

// The plan's epilogue in A = widen_t<T>: per-channel bias, scale and shift (widened once), the
// residual (read where it lies, widened as it is added), clip bounds.
template <class T>
class Epilogue {
  using A = widen_t<T>;

 public:
  Epilogue(const ConvPlan& p, std::int64_t channels) : residual_(reinterpret_cast<const T*>(p.residual)), channels_(channels) {
    const auto widen = [&](const char* src, AlignedBuffer<A>& buf) -> const A* {
      if (src == nullptr) return nullptr;
      buf.reset(static_cast<std::size_t>(channels));
      visit_float(p.dtype, "conv", [&](auto t) { convert_run(reinterpret_cast<const decltype(t)*>(src), buf.get(), channels); });
      return buf.get();
    };
    bias_ = widen(p.bias, bias_buf_);
    scale_ = widen(p.scale, scale_buf_);
    shift_ = widen(p.shift, shift_buf_);
    clip_ = p.lo > -std::numeric_limits<double>::infinity() || p.hi < std::numeric_limits<double>::infinity();
    lo_ = static_cast<A>(p.lo);
    hi_ = static_cast<A>(p.hi);
  }
  bool active() const { return bias_ || scale_ || shift_ || residual_ || clip_; }
  // The epilogue of a product whose columns are the channels and rows the output positions
  // (GemmPlan::epilogue), or none.
  GemmEpilogue for_gemm() const {
    if (!active()) return {};
    return {[](const void* ctx, char* c, std::int64_t rows, std::int64_t cols, std::int64_t ldc, std::int64_t col0,
               std::int64_t row0) {
              static_cast<const Epilogue*>(ctx)->apply(reinterpret_cast<A*>(c), rows, cols, ldc, col0, row0);
            },
            this};
  }
  // rows x channels values of A, `stride` apart, in place, the first being channel `first` of
  // output position `position` (where the residual's row is read). Vector lanes and the scalar
  // tail do the same IEEE operations, so where rows and columns are cut never changes a bit.
  void apply(A* y, std::int64_t rows, std::int64_t channels, std::int64_t stride, std::int64_t first,
             std::int64_t position) const {
    if (!active()) return;
    constexpr int L = kLanes<A>;
    const vec<A> vlo = splat(lo_), vhi = splat(hi_);
    const A* const bias = bias_ ? bias_ + first : nullptr;
    const A* const scale = scale_ ? scale_ + first : nullptr;
    const A* const shift = shift_ ? shift_ + first : nullptr;
    for (std::int64_t r = 0; r < rows; ++r) {
      A* row = y + r * stride;
      const T* const res = residual_ ? residual_ + (position + r) * channels_ + first : nullptr;
      std::int64_t c = 0;
      for (; c + L <= channels; c += L) {
        vec<A> v = load(row + c);
        if (bias) v = v + load(bias + c);
        if (scale) v = v * load(scale + c);
        if (shift) v = v + load(shift + c);
        if (res) v = v + load_widened<A>(res + c);
        if (clip_) {
          v = v < vlo ? vlo : v;
          v = v > vhi ? vhi : v;
        }
        store(row + c, v);
      }
      for (; c < channels; ++c) {
        A v = row[c];
        if (bias) v = v + bias[c];
        if (scale) v = v * scale[c];
        if (shift) v = v + shift[c];
        if (res) v = v + convert_one<A>(res[c]);
        if (clip_) {
          v = v < lo_ ? lo_ : v;
          v = v > hi_ ? hi_ : v;
        }
        row[c] = v;
      }
    }
  }

 private:
  AlignedBuffer<A> bias_buf_, scale_buf_, shift_buf_;
  const A* bias_ = nullptr;
  const A* scale_ = nullptr;
  const A* shift_ = nullptr;
  const T* residual_;
  std::int64_t channels_;
  bool clip_ = false;
  A lo_{}, hi_{};
};

std::int64_t positions(const ConvGeometry& g) { return g.batch * g.out[0] * g.out[1] * g.out[2]; }
std::int64_t kernel_volume(const ConvGeometry& g) { return g.k[0] * g.k[1] * g.k[2]; }

// The input index along dim d of output index o at kernel offset k, or -1 in the padding.
KCORE_INLINE std::int64_t input_at(const ConvGeometry& g, int d, std::int64_t o, std::int64_t k) {
  const std::int64_t i = o * g.stride[d] - g.pad[d] + k * g.dil[d];
  return i >= 0 && i < g.in[d] ? i : -1;
}

// The kernel offsets [lo, hi) along dim d whose input index for output o lies inside x: a
// window far larger than x (a pool size of 2**31 - 1) visits only these.
struct TapRange {
  std::int64_t lo, hi;
};
KCORE_INLINE TapRange taps_inside(const ConvGeometry& g, int d, std::int64_t o) {
  const std::int64_t base = o * g.stride[d] - g.pad[d], dil = g.dil[d];
  if (base >= 0 && base + (g.k[d] - 1) * dil < g.in[d]) return {0, g.k[d]};  // (the common case)
  const std::int64_t lo = std::min(g.k[d], base >= 0 ? std::int64_t(0) : (dil - 1 - base) / dil);
  const std::int64_t hi = base >= g.in[d] ? lo : std::min(g.k[d], (g.in[d] - base + dil - 1) / dil);
  return {lo, std::max(lo, hi)};
}

// The output index along dim d whose kernel offset k reads input index i, or -1 (none: i is
// between its stride's positions, or the output is past the end).
KCORE_INLINE std::int64_t output_at(const ConvGeometry& g, int d, std::int64_t i, std::int64_t k) {
  const std::int64_t t = i + g.pad[d] - k * g.dil[d];
  if (t < 0 || t % g.stride[d] != 0) return -1;
  return t / g.stride[d] < g.out[d] ? t / g.stride[d] : -1;
}

// The outputs [lo, hi) along dim d whose kernel offset k reads inside x.
KCORE_INLINE TapRange outputs_inside(const ConvGeometry& g, int d, std::int64_t k) {
  const std::int64_t base = k * g.dil[d] - g.pad[d], s = g.stride[d];
  const std::int64_t lo = base >= 0 ? 0 : (s - 1 - base) / s;
  const std::int64_t hi = g.in[d] - 1 - base < 0 ? 0 : std::min(g.out[d], (g.in[d] - 1 - base) / s + 1);
  return {lo, std::max(lo, hi)};
}

// f(kd, kh, id, ih) for each kernel row (kd, kh) of output line (od, oh) that lies inside x, in
// (kd, kh) order.
template <class F>
KCORE_INLINE void for_each_input_line(const ConvGeometry& g, std::int64_t od, std::int64_t oh, const F& f) {
  const TapRange d = taps_inside(g, 0, od), h = taps_inside(g, 1, oh);
  for (std::int64_t kd = d.lo; kd < d.hi; ++kd) {
    const std::int64_t id = od * g.stride[0] - g.pad[0] + kd * g.dil[0];
    for (std::int64_t kh = h.lo; kh < h.hi; ++kh) f(kd, kh, id, oh * g.stride[1] - g.pad[1] + kh * g.dil[1]);
  }
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

// A piece of an im2col column range: `len` columns from column `col` (counted from the range's
// first), all of one kernel tap from channel c; `offset` is where they start in x relative to the
// window's first element when the window lies inside x.
struct WindowPiece {
  std::int64_t col, len, kd, kh, kw, c, offset;
};

// The pieces of columns [k0, end), one per tap touched; only the first is found by division.
void window_pieces(const ConvGeometry& g, std::int64_t k0, std::int64_t end, std::vector<WindowPiece>& pieces) {
  const std::int64_t C = g.channels;
  pieces.clear();
  if (k0 >= end) return;
  const std::int64_t tap = k0 / C;
  std::int64_t c = k0 % C, kd = tap / (g.k[1] * g.k[2]), kh = tap / g.k[2] % g.k[1], kw = tap % g.k[2];
  for (std::int64_t k = k0; k < end;) {
    const std::int64_t len = std::min(C - c, end - k);
    const std::int64_t offset = ((kd * g.dil[0] * g.in[1] + kh * g.dil[1]) * g.in[2] + kw * g.dil[2]) * C + c;
    pieces.push_back({k - k0, len, kd, kh, kw, c, offset});
    k += len;
    c = 0;
    if (++kw == g.k[2]) {
      kw = 0;
      if (++kh == g.k[1]) kh = 0, ++kd;
    }
  }
}

// The pieces and runs (pieces adjacent in x joined: at unit dilation a kernel row's taps are one
// run of k[2] * C elements) of one column range of one convolution call's windows, kept per
// thread: a product asks for the same range once per block of rows.
struct WindowColumns {
  std::uint64_t call = 0;  // 0: none yet; calls are numbered from 1
  std::int64_t k0 = 0, kc = 0;
  std::vector<WindowPiece> pieces;
  std::vector<GemmRun> runs;

  static std::uint64_t new_call() {
    static std::atomic<std::uint64_t> calls{0};
    return ++calls;
  }
  static const WindowColumns& of(const ConvGeometry& g, std::uint64_t call, std::int64_t k0, std::int64_t kc) {
    thread_local WindowColumns cols;
    if (cols.call != call || cols.k0 != k0 || cols.kc != kc) {
      window_pieces(g, k0, k0 + kc, cols.pieces);
      cols.runs.clear();
      for (const WindowPiece& p : cols.pieces) {
        if (!cols.runs.empty() && cols.runs.back().offset + cols.runs.back().len == p.offset) cols.runs.back().len += p.len;
        else cols.runs.push_back({p.col, p.len, p.offset});
      }
      cols.call = call, cols.k0 = k0, cols.kc = kc;
    }
    return cols;
  }
};

// Output positions in (batch, *out) order from position p: where each window starts along each
// dim (negative in the padding), stepping by one position.
class Positions {
 public:
  Positions(const ConvGeometry& g, std::int64_t p) : g_(g) {
    for (int d = 0; d < 3; ++d) span_[d] = (g.k[d] - 1) * g.dil[d];
    o_[2] = p % g.out[2];
    p /= g.out[2];
    o_[1] = p % g.out[1];
    p /= g.out[1];
    o_[0] = p % g.out[0];
    n_ = p / g.out[0];
  }
  std::int64_t batch() const { return n_; }
  std::int64_t first(int d) const { return o_[d] * g_.stride[d] - g_.pad[d]; }
  // Whether the window lies inside x along every dim.
  bool inside() const {
    for (int d = 0; d < 3; ++d)
      if (first(d) < 0 || first(d) + span_[d] >= g_.in[d]) return false;
    return true;
  }
  // The window's first element in x, when it lies inside.
  std::int64_t offset() const {
    return (((n_ * g_.in[0] + first(0)) * g_.in[1] + first(1)) * g_.in[2] + first(2)) * g_.channels;
  }
  void next() {
    if (++o_[2] < g_.out[2]) return;
    o_[2] = 0;
    if (++o_[1] < g_.out[1]) return;
    o_[1] = 0;
    if (++o_[0] < g_.out[0]) return;
    o_[0] = 0;
    ++n_;
  }

 private:
  const ConvGeometry& g_;
  std::int64_t span_[3];  // the window's extent along each dim (first to last input index)
  std::int64_t o_[3], n_;
};

// s[0, n) -> d[0, n) inline: window runs are a few dozen elements, where a library call costs
// more than the copy (float16's go by memcpy: there are no float16 vectors).
template <class T>
KCORE_INLINE void copy_run(const T* s, T* d, std::int64_t n) {
  if constexpr (std::is_same_v<T, half>) {
    std::memcpy(d, s, static_cast<std::size_t>(n) * sizeof(T));
  } else {
    constexpr int L = kLanes<T>;
    std::int64_t i = 0;
    for (; i + L <= n; i += L) store(d + i, load(s + i));
    if (i < n) store_partial(d + i, load_partial(s + i, int(n - i)), int(n - i));
  }
}

// Columns [k0, k0 + kc) of rows [p0, p1) of the im2col matrix (one row per output position, in
// (batch, *out) order; the row is kernel positions in order, each C channels, zeros where the
// window leaves x), row stride kc. The column range's pieces are decoded once; a window inside x
// is then a few copies at fixed offsets from its first element.
template <class T>
void im2col(const ConvGeometry& g, std::uint64_t call, const T* x, std::int64_t p0, std::int64_t p1, std::int64_t k0,
            std::int64_t kc, T* out) {
  const WindowColumns& cols = WindowColumns::of(g, call, k0, kc);
  Positions pos(g, p0);
  for (std::int64_t p = p0; p < p1; ++p, pos.next()) {
    T* const dst = out + (p - p0) * kc;
    if (pos.inside()) {
      const T* const base = x + pos.offset();
      for (const GemmRun& r : cols.runs) copy_run(base + r.offset, dst + r.col, r.len);
    } else {
      const std::int64_t bd = pos.first(0), bh = pos.first(1), bw = pos.first(2), n = pos.batch();
      for (const WindowPiece& r : cols.pieces) {
        const std::int64_t id = bd + r.kd * g.dil[0], ih = bh + r.kh * g.dil[1], iw = bw + r.kw * g.dil[2];
        if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1] || iw < 0 || iw >= g.in[2])
          std::fill(dst + r.col, dst + r.col + r.len, T{});
        else
          copy_run(x + (((n * g.in[0] + id) * g.in[1] + ih) * g.in[2] + iw) * g.channels + r.c, dst + r.col, r.len);
      }
    }
  }
}

// x with zeros around it so that every window lies inside (gp: that input's geometry, without
// padding), or x itself where every window does already. One pass over x; the product then reads
// each window's runs where they lie.
template <class T>
const T* padded_input(const ConvGeometry& g, const T* x, AlignedBuffer<T>& buf, ConvGeometry& gp) {
  gp = g;
  bool inside = true;
  for (int d = 0; d < 3; ++d) {
    gp.in[d] = std::max(g.in[d] + g.pad[d], (g.out[d] - 1) * g.stride[d] + (g.k[d] - 1) * g.dil[d] + 1);
    gp.pad[d] = 0;
    inside = inside && g.pad[d] == 0 && gp.in[d] == g.in[d];
  }
  if (inside) return x;
  const std::int64_t C = g.channels, line = gp.in[2] * C, lines = g.batch * gp.in[0] * gp.in[1];
  buf.reset(static_cast<std::size_t>(lines * line));
  T* const xp = buf.get();
  parallel_for(0, lines, std::max<std::int64_t>(1, tuning::kGrain / std::max<std::int64_t>(line, 1)),
               [&](std::int64_t l0, std::int64_t l1) {
    for (std::int64_t l = l0; l < l1; ++l) {
      T* const dst = xp + l * line;
      const std::int64_t ih = l % gp.in[1] - g.pad[1], id = l / gp.in[1] % gp.in[0] - g.pad[0], n = l / (gp.in[1] * gp.in[0]);
      if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
        std::fill(dst, dst + line, T{});
        continue;
      }
      const std::int64_t left = g.pad[2] * C, row = g.in[2] * C;
      std::fill(dst, dst + left, T{});
      std::memcpy(dst + left, x + ((n * g.in[0] + id) * g.in[1] + ih) * row, static_cast<std::size_t>(row) * sizeof(T));
      std::fill(dst + left + row, dst + line, T{});
    }
  });
  return xp;
}

// Winograd F(2x2, 3x3) (Lavin and Gray, 2015): a 3x3 convolution of unit strides and dilation
// computes each 2x2 tile of outputs from the 4x4 tile of inputs under it as A^T [(G g G^T) .*
// (B^T d B)] A, 16 multiplications per channel pair where the direct sum takes 36. Summed over
// the channels, each of the 16 transformed positions is a product, (tiles x C) . (C x filters),
// on the gemm family's micro-kernel; the transforms are adds and subtracts (G's halves are exact),
// so the extra rounding is a few additions per element: within 4 units of rounding of the sum of
// |x| |w|, as the direct path (tests/test_conv.py, bench/NOTES.md). A tile whose inputs hold an
// inf or NaN (or whose sums overflow) would give NaN where the direct sum gives inf, so any
// non-finite result sends the whole call back to the direct path.

// d (a 4x4 tile, row-major) -> B^T d B, for vectors or scalars.
template <class V>
KCORE_INLINE void winograd_input(const V (&d)[16], V (&v)[16]) {
  V e[16];
  for (int j = 0; j < 4; ++j) {
    e[j] = d[j] - d[8 + j];
    e[4 + j] = d[4 + j] + d[8 + j];
    e[8 + j] = d[8 + j] - d[4 + j];
    e[12 + j] = d[4 + j] - d[12 + j];
  }
  for (int i = 0; i < 16; i += 4) {
    v[i] = e[i] - e[i + 2];
    v[i + 1] = e[i + 1] + e[i + 2];
    v[i + 2] = e[i + 2] - e[i + 1];
    v[i + 3] = e[i + 1] - e[i + 3];
  }
}

// m (the tile's 16 products) -> A^T m A, the tile's outputs y[oy * 2 + ox].
template <class V>
KCORE_INLINE void winograd_output(const V (&m)[16], V (&y)[4]) {
  V s[8];
  for (int j = 0; j < 4; ++j) {
    s[j] = m[j] + m[4 + j] + m[8 + j];
    s[4 + j] = m[4 + j] - m[8 + j] - m[12 + j];
  }
  for (int r = 0; r < 2; ++r) {
    y[2 * r] = s[4 * r] + s[4 * r + 1] + s[4 * r + 2];
    y[2 * r + 1] = s[4 * r + 1] - s[4 * r + 2] - s[4 * r + 3];
  }
}

// G g G^T of every (channel, filter) pair of w (3, 3, C, K), in double and rounded once, laid
// out as the products' B: u[((jp * 16 + xi) * C + c) * NR + j] for filter jp * NR + j (zeros past
// K), so the NR columns of one transformed position are one panel.
template <class T, int NR>
void winograd_weights(const T* w, std::int64_t C, std::int64_t K, widen_t<T>* u) {
  using A = widen_t<T>;
  const std::int64_t panels = (K + NR - 1) / NR;
  parallel_for(0, C * panels, std::max<std::int64_t>(1, tuning::kGrain / (16 * NR)), [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      // (Filter panels innermost: one channel's rows of w are read in order.)
      const std::int64_t jp = b % panels, c = b / panels, cols = std::min<std::int64_t>(NR, K - jp * NR);
      double gq[9][NR], e[12][NR];
      for (int t = 0; t < 9; ++t) {
        const T* src = w + (t * C + c) * K + jp * NR;
        if (cols == NR) {  // (a fixed count vectorizes)
          for (int j = 0; j < NR; ++j) gq[t][j] = double(convert_one<A>(src[j]));
        } else {
          for (int j = 0; j < NR; ++j) gq[t][j] = j < cols ? double(convert_one<A>(src[j])) : 0.0;
        }
      }
      for (int bb = 0; bb < 3; ++bb)  // e = G g: rows 0-3, column bb
        for (int j = 0; j < NR; ++j) {
          const double g0 = gq[bb][j], g1 = gq[3 + bb][j], g2 = gq[6 + bb][j];
          e[bb][j] = g0;
          e[3 + bb][j] = 0.5 * (g0 + g1 + g2);
          e[6 + bb][j] = 0.5 * (g0 - g1 + g2);
          e[9 + bb][j] = g2;
        }
      for (int i = 0; i < 4; ++i) {  // (G g) G^T: row i
        A* out = u + ((jp * 16 + 4 * i) * C + c) * NR;
        const std::int64_t step = C * NR;
        for (int j = 0; j < NR; ++j) {
          const double e0 = e[3 * i][j], e1 = e[3 * i + 1][j], e2 = e[3 * i + 2][j];
          out[j] = A(e0);
          out[step + j] = A(0.5 * (e0 + e1 + e2));
          out[2 * step + j] = A(0.5 * (e0 - e1 + e2));
          out[3 * step + j] = A(e2);
        }
      }
    }
  });
}

// The convolution by Winograd F(2x2, 3x3) where it applies (a 3x3 kernel over the last two
// spatial dims, unit strides and dilation, enough channels and tiles); false where it
// does not or where a result came out non-finite (the caller then runs the direct path, which
// writes all of y again). Tiles go in blocks (whole micro-tile panels; the block's transformed
// inputs, 16 x tiles x C, stay in L2); for each NR filters, each panel's 16 products land in
// L1 and go through the output transform, the epilogue and the rounding at once. Each output is
// one fixed chain of operations, whatever the blocks or threads.
template <class T>
bool conv_winograd(const ConvPlan& p, const Epilogue<T>& epi) {
  using Tr = GemmTraits<T>;
  using A = typename Tr::A;
  constexpr int MR = Tr::MR, NR = Tr::NR, NRV = Tr::NRV, L = Tr::L;
  constexpr std::int64_t KC = Tr::KC;
  const ConvGeometry& g = p.g;
  if (g.k[0] != 1 || g.stride[0] != 1 || g.pad[0] != 0 || g.out[0] != g.in[0]) return false;
  for (int d = 1; d < 3; ++d)
    if (g.k[d] != 3 || g.stride[d] != 1 || g.dil[d] != 1) return false;
  const std::int64_t C = g.channels, K = p.filters;
  const std::int64_t images = g.batch * g.in[0], H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
  const std::int64_t TH = (OH + 1) / 2, TW = (OW + 1) / 2, tiles = images * TH * TW;
  // By each batch item's tiles, not the batch's or the filters': an item's outputs keep their
  // bits alone or in a batch, a filter's whatever the other filters.
  if (C < tuning::kWinogradMinChannels || g.in[0] * TH * TW < tuning::kWinogradMinTiles) return false;
  const std::int64_t panels = (tiles + MR - 1) / MR, KP = (K + NR - 1) / NR;
  // The kernel's transform is 16/9 the kernel's size: past a bound, the direct path needs no copy.
  if (16 * KP * NR * C * std::int64_t(sizeof(A)) > tuning::kWinogradMaxWeightBytes) return false;
  // Tasks: blocks of tile panels whose transformed inputs fit the L2 budget (each panel of the
  // transformed weights then serves them all), times groups of filter panels where the blocks
  // alone would leave threads idle (each such task transforms its block's inputs again, a small
  // cost next to its products). Neither split changes a bit, so both may follow the threads.
  const std::int64_t want = 4 * std::int64_t(get_num_threads());
  std::int64_t per_block = std::min<std::int64_t>(
      panels, std::max(tuning::kWinogradMinPanels, tuning::kWinogradBlockBytes / (16 * MR * C * std::int64_t(sizeof(A)))));
  if (((panels + per_block - 1) / per_block) * KP < want) per_block = std::max<std::int64_t>(1, panels * KP / want);
  const std::int64_t blocks = (panels + per_block - 1) / per_block;
  const std::int64_t split = std::clamp<std::int64_t>(want / blocks, 1, KP);  // filter groups wanted
  const std::int64_t per_group = (KP + split - 1) / split, groups = (KP + per_group - 1) / per_group;
  AlignedBuffer<A> ubuf(static_cast<std::size_t>(16 * KP * NR * C));
  A* const U = ubuf.get();
  winograd_weights<T, NR>(reinterpret_cast<const T*>(p.w), C, K, U);
  const T* const x = reinterpret_cast<const T*>(p.x);
  T* const y = reinterpret_cast<T*>(p.y);
  std::atomic<bool> nonfinite{false};
  parallel_tasks(blocks * groups, per_block * MR * C * per_group * NR, [&](std::int64_t task) {
    const std::int64_t blk = task / groups, jp0 = task % groups * per_group, jp1 = std::min(KP, jp0 + per_group);
    const std::int64_t t0 = blk * per_block * MR, t1 = std::min(tiles, t0 + per_block * MR), nt = t1 - t0;
    AlignedBuffer<A> vbuf(static_cast<std::size_t>(16 * nt * C)), mbuf(static_cast<std::size_t>(16 * nt * NR)), sbuf(4 * MR * NR);
    A* const V = vbuf.get();
    A* const M = mbuf.get();
    A* const S = sbuf.get();
    // The block's input transforms: V[xi][tile][c].
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t tw = t % TW, th = t / TW % TH, img = t / (TW * TH);
      const std::int64_t ih0 = 2 * th - g.pad[1], iw0 = 2 * tw - g.pad[2];
      std::int64_t at[16];  // each tile input's offset in x, or -1 in the padding
      for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 4; ++b) {
          const std::int64_t ih = ih0 + a, iw = iw0 + b;
          at[4 * a + b] = ih >= 0 && ih < H && iw >= 0 && iw < W ? ((img * H + ih) * W + iw) * C : -1;
        }
      A* const out = V + (t - t0) * C;
      std::int64_t c = 0;
      for (; c + L <= C; c += L) {
        vec<A> d[16], v[16];
        for (int i = 0; i < 16; ++i) d[i] = at[i] >= 0 ? load_widened<A>(x + at[i] + c) : splat<A>(A(0));
        winograd_input(d, v);
        for (int i = 0; i < 16; ++i) store(out + i * nt * C + c, v[i]);
      }
      for (; c < C; ++c) {
        A d[16], v[16];
        for (int i = 0; i < 16; ++i) d[i] = at[i] >= 0 ? convert_one<A>(x[at[i] + c]) : A(0);
        winograd_input(d, v);
        for (int i = 0; i < 16; ++i) out[i * nt * C + c] = v[i];
      }
    }
    const vec<A> zero = splat<A>(A(0));
    vec<A> bad = zero;  // stays zero while every output is finite
    const A* rows[MR];
    for (std::int64_t jp = jp0; jp < jp1; ++jp) {
      const std::int64_t cols = std::min<std::int64_t>(NR, K - jp * NR);
      // The 16 products of the block's tiles for these NR filters: M[xi][tile][NR]; each of B's
      // panels serves every panel of tiles while it is in L1.
      for (int xi = 0; xi < 16; ++xi)
        for (std::int64_t ip = 0; ip < nt; ip += MR) {
          const std::int64_t rn = std::min<std::int64_t>(MR, nt - ip);
          for (int r = 0; r < MR; ++r) rows[r] = V + (xi * nt + ip + (r < rn ? r : 0)) * C;
          A* const mo = M + (xi * nt + ip) * NR;
          for (std::int64_t c0 = 0; c0 < C; c0 += KC) {
            const GemmRun run{0, std::min(KC, C - c0), c0};
            vec<A> acc[MR][NRV];
            micro_kernel_rows<A, MR, NRV>(rows, &run, 1, U + ((jp * 16 + xi) * C + c0) * NR, NR, acc);
            for (std::int64_t r = 0; r < rn; ++r)
              for (int v = 0; v < NRV; ++v)
                store(mo + r * NR + v * L, c0 == 0 ? acc[r][v] : load(mo + r * NR + v * L) + acc[r][v]);
          }
        }
      for (std::int64_t ip = 0; ip < nt; ip += MR) {
        const std::int64_t rn = std::min<std::int64_t>(MR, nt - ip);
        // Output transforms into S: row oy of tile i at S[(oy * 2 * MR + 2 * i + ox) * NR].
        for (std::int64_t i = 0; i < rn; ++i)
          for (int v = 0; v < NRV; ++v) {
            vec<A> m[16], o[4];
            for (int xi = 0; xi < 16; ++xi) m[xi] = load(M + (xi * nt + ip + i) * NR + v * L);
            winograd_output(m, o);
            for (int q = 0; q < 4; ++q) {
              bad = fmadd<A>(o[q], zero, bad);
              store(S + ((q / 2) * 2 * MR + 2 * i + q % 2) * NR + v * L, o[q]);
            }
          }
        // The epilogue and the stores, one run of positions per tile row and output row.
        for (std::int64_t i = 0; i < rn;) {
          const std::int64_t t = t0 + ip + i, tw = t % TW, line = t / TW, th = line % TH, img = line / TH;
          const std::int64_t run = std::min(rn - i, TW - tw);
          for (int oy = 0; oy < 2 && 2 * th + oy < OH; ++oy) {
            const std::int64_t ow0 = 2 * tw, n = std::min(2 * run, OW - ow0);
            const std::int64_t pos = (img * OH + 2 * th + oy) * OW + ow0;
            A* const s = S + (oy * 2 * MR + 2 * i) * NR;
            epi.apply(s, n, cols, NR, jp * NR, pos);
            for (std::int64_t r = 0; r < n; ++r) convert_run(s + r * NR, y + (pos + r) * K + jp * NR, cols);
          }
          i += run;
        }
      }
    }
    if (any_lane(bad != bad)) nonfinite.store(true, std::memory_order_relaxed);
  });
  return !nonfinite.load();
}

template <class T>
void conv_regular(const ConvPlan& p) {
  using A = widen_t<T>;  // float16 computes in float32
  const ConvGeometry& g = p.g;
  const std::int64_t R = positions(g), M = p.filters, Kd = kernel_volume(g) * g.channels;
  if (R == 0 || M == 0) return;
  const Epilogue<T> epi(p, M);
  if (conv_winograd<T>(p, epi)) return;
  GemmPlan q;
  q.dtype = p.dtype;  // float16 products widen as they pack and round once (the gemm family)
  q.M = R;
  q.N = M;
  q.K = Kd;
  q.b = MatrixOperand{p.w, 0, M * std::int64_t(sizeof(T)), std::int64_t(sizeof(T))};
  q.c = p.y;
  q.epilogue = epi.for_gemm();  // on each block of the product while it is in cache
  q.blas_allowed = false;       // (faster here too: 1x1 256 -> 1024 on 8x14x14, bench/NOTES.md)
  bool unit = true;  // 1x1, unit strides, no padding: x itself is the im2col matrix
  for (int d = 0; d < 3; ++d) unit = unit && g.k[d] == 1 && g.stride[d] == 1 && g.pad[d] == 0 && g.in[d] == g.out[d];
  if (unit) {
    q.a = MatrixOperand{p.x, 0, Kd * std::int64_t(sizeof(T)), std::int64_t(sizeof(T))};
    return gemm(q);
  }
  // One product over the windows' rows: each window's runs read where they lie, no im2col matrix.
  // With few filters a packed panel would serve few column panels, so the product reads the rows
  // in place (float32/float64), from a zero-padded copy of x where windows leave it; else it
  // packs them, filling the rows of panels that reach into the padding.
  struct Source {
    ConvGeometry g;
    const T* x;
    std::uint64_t call;
  } source{};
  const T* const x = reinterpret_cast<const T*>(p.x);
  const bool in_place = std::is_same_v<T, A> && M <= tuning::kConvInPlaceFilters;
  AlignedBuffer<T> padded;
  source.g = g;
  source.x = in_place ? padded_input(g, x, padded, source.g) : x;
  source.call = WindowColumns::new_call();
  q.a_rows.starts = [](const void* ctx, std::int64_t m0, std::int64_t rows, const char** out) {
    const auto* src = static_cast<const Source*>(ctx);
    Positions pos(src->g, m0);
    for (std::int64_t i = 0; i < rows; ++i, pos.next()) {
      if (!pos.inside()) return false;
      out[i] = reinterpret_cast<const char*>(src->x + pos.offset());
    }
    return true;
  };
  q.a_rows.runs = [](const void* ctx, std::int64_t k0, std::int64_t cols, std::int64_t* count) {
    const auto* src = static_cast<const Source*>(ctx);
    const WindowColumns& wc = WindowColumns::of(src->g, src->call, k0, cols);
    *count = static_cast<std::int64_t>(wc.runs.size());
    return wc.runs.data();
  };
  q.a_rows.fill = [](const void* ctx, std::int64_t m0, std::int64_t rows, std::int64_t k0, std::int64_t cols, char* out) {
    const auto* src = static_cast<const Source*>(ctx);
    im2col(src->g, src->call, src->x, m0, m0 + rows, k0, cols, reinterpret_cast<T*>(out));
  };
  q.a_rows.ctx = &source;
  q.a_rows.in_place = in_place;
  gemm(q);
}

// The adjoint without a column matrix (unit dilation): along each dim, the positions i of y with
// one residue rho mod the stride receive the taps k = r, r + s, ... (r = (rho + pad) mod s) from
// x's positions j0 + q - m, m the tap's rank: a stride-1 correlation of x with those taps in
// reverse order. Each residue class (a phase) is such a convolution (conv_regular, in its own
// buffer unless it is all of y), then copied to its positions of y; a class no tap reaches is
// zero. Each element is then one product's sum, in the product's fixed order, whatever the
// threads. False (nothing done) where a class would start past its first tap's input (a pad
// larger than the kernel), for conv_adjoint's columns.
template <class T>
bool conv_adjoint_phases(const ConvPlan& p) {
  const ConvGeometry& g = p.g;
  const std::int64_t C = g.channels, F = p.filters;
  struct Dim {
    std::int64_t r, taps, n, pad;
  };
  const auto dim_of = [&](int d, std::int64_t rho) {
    const std::int64_t s = g.stride[d], r = (rho + g.pad[d]) % s, j0 = (rho + g.pad[d]) / s;
    const std::int64_t taps = r < g.k[d] ? (g.k[d] - 1 - r) / s + 1 : 0;
    const std::int64_t n = rho < g.in[d] ? (g.in[d] - rho + s - 1) / s : 0;
    return Dim{r, taps, n, taps - 1 - j0};
  };
  for (int d = 0; d < 3; ++d) {
    if (g.dil[d] != 1 || g.k[d] < 1) return false;
    for (std::int64_t rho = 0; rho < g.stride[d]; ++rho)
      if (const Dim e = dim_of(d, rho); e.taps > 0 && e.pad < 0) return false;
  }
  const std::int64_t item = sizeof(T);
  const bool whole = g.stride[0] == 1 && g.stride[1] == 1 && g.stride[2] == 1;
  // One zero-padded copy of x in which every class's windows lie (gx: x's geometry, padded by the
  // largest class pad before, to the furthest class window after); a class's windows then start
  // its pad fewer positions in.
  ConvGeometry gx;
  gx.batch = g.batch;
  gx.channels = F;
  for (int d = 0; d < 3; ++d) {
    std::int64_t lo = 0, end = g.out[d];
    for (std::int64_t rho = 0; rho < g.stride[d]; ++rho)
      if (const Dim e = dim_of(d, rho); e.taps > 0) lo = std::max(lo, e.pad);
    for (std::int64_t rho = 0; rho < g.stride[d]; ++rho)
      if (const Dim e = dim_of(d, rho); e.taps > 0 && e.n > 0) end = std::max(end, lo - e.pad + e.n + e.taps - 1);
    gx.in[d] = g.out[d];
    gx.pad[d] = lo;
    gx.out[d] = std::max(end, g.out[d] + lo);
  }
  AlignedBuffer<T> padded;
  ConvGeometry gp;
  const T* const xp = padded_input(gx, reinterpret_cast<const T*>(p.x), padded, gp);
  const T* const w = reinterpret_cast<const T*>(p.w);
  T* const y = reinterpret_cast<T*>(p.y);
  // Class `phase` (its residue along each dim): its convolution into `out`, then its positions.
  const auto run = [&](std::int64_t phase, T* out) {
    const std::int64_t rho[3] = {phase / (g.stride[1] * g.stride[2]), phase / g.stride[2] % g.stride[1],
                                 phase % g.stride[2]};
    const Dim e[3] = {dim_of(0, rho[0]), dim_of(1, rho[1]), dim_of(2, rho[2])};
    if (e[0].n * e[1].n * e[2].n == 0) return;
    const bool reached = e[0].taps * e[1].taps * e[2].taps > 0;
    if (reached) {
      // The class's taps, last first, as (taps..., F, C): w is (k..., C, F).
      AlignedBuffer<T> wp(static_cast<std::size_t>(e[0].taps * e[1].taps * e[2].taps * C * F));
      std::int64_t t = 0;
      for (std::int64_t a = e[0].taps - 1; a >= 0; --a)
        for (std::int64_t b = e[1].taps - 1; b >= 0; --b)
          for (std::int64_t c = e[2].taps - 1; c >= 0; --c, ++t) {
            const std::int64_t k = ((e[0].r + a * g.stride[0]) * g.k[1] + e[1].r + b * g.stride[1]) * g.k[2] +
                                   e[2].r + c * g.stride[2];
            const T* const src = w + k * C * F;
            T* const dst = wp.get() + t * F * C;
            for (std::int64_t f = 0; f < F; ++f)
              for (std::int64_t ch = 0; ch < C; ++ch) dst[f * C + ch] = src[ch * F + f];
          }
      ConvPlan q;
      q.dtype = p.dtype;
      q.g.batch = g.batch;
      q.g.channels = F;
      std::int64_t base[3];
      for (int d = 0; d < 3; ++d) {
        q.g.in[d] = gp.in[d];
        q.g.out[d] = e[d].n;
        q.g.k[d] = e[d].taps;
        base[d] = gx.pad[d] - e[d].pad;
      }
      q.filters = C;
      q.x = reinterpret_cast<const char*>(xp + ((base[0] * gp.in[1] + base[1]) * gp.in[2] + base[2]) * F);
      q.w = reinterpret_cast<const char*>(wp.get());
      q.y = reinterpret_cast<char*>(out);
      conv_regular<T>(q);
      if (out == y) return;
    }
    // The class's positions of y, a line (n, q0, q1) at a time.
    const std::int64_t lines = g.batch * e[0].n * e[1].n;
    parallel_for(0, lines, std::max<std::int64_t>(1, tuning::kGrain / std::max<std::int64_t>(e[2].n * C, 1)),
                 [&](std::int64_t l0, std::int64_t l1) {
      for (std::int64_t l = l0; l < l1; ++l) {
        const std::int64_t q1 = l % e[1].n, q0 = l / e[1].n % e[0].n, n = l / (e[1].n * e[0].n);
        T* const dst = y + ((n * g.in[0] + rho[0] + q0 * g.stride[0]) * g.in[1] + rho[1] + q1 * g.stride[1]) * g.in[2] * C +
                       rho[2] * C;
        const T* const src = out + l * e[2].n * C;
        for (std::int64_t q2 = 0; q2 < e[2].n; ++q2) {
          T* const to = dst + q2 * g.stride[2] * C;
          if (reached) std::memcpy(to, src + q2 * C, static_cast<std::size_t>(C * item));
          else std::fill(to, to + C, T{});
        }
      }
    });
  };
  const std::int64_t phases = g.stride[0] * g.stride[1] * g.stride[2];
  if (whole) {
    run(0, y);
    return true;
  }
  // A class's positions (at most): its buffer's.
  const std::int64_t most = g.batch * ((g.in[0] + g.stride[0] - 1) / g.stride[0]) *
                            ((g.in[1] + g.stride[1] - 1) / g.stride[1]) * ((g.in[2] + g.stride[2] - 1) / g.stride[2]);
  if (most >= tuning::kConvPhaseRows) {  // one class after another, each threaded
    AlignedBuffer<T> buf(static_cast<std::size_t>(most * C));
    for (std::int64_t phase = 0; phase < phases; ++phase) run(phase, buf.get());
  } else {  // classes side by side, one thread each: few rows thread poorly
    parallel_tasks(phases, std::max<std::int64_t>(most * C * F * kernel_volume(g) / phases / 16, 1), [&](std::int64_t phase) {
      AlignedBuffer<T> buf(static_cast<std::size_t>(most * C));
      run(phase, buf.get());
    });
  }
  return true;
}

// The adjoint of conv_regular (a transposed convolution, and a convolution's gradient with
// respect to its input): y (batch, *in, C) from x (batch, *out, filters) and w (*k, C, filters).
// A product gives every upstream position's contribution to each of its taps, cols = x @ w^T
// (a row per upstream position, a column per tap and channel); then each line of y gathers its
// taps' contributions in (kd, kh, kw) order (col2im), so every element is one fixed chain of adds
// whatever the threads. Batch items go through in groups whose cols fit kConvWholeBytes.
template <class T>
void conv_adjoint(const ConvPlan& p) {
  using A = widen_t<T>;  // float16 computes in float32, rounded once
  const ConvGeometry& g = p.g;
  const std::int64_t C = g.channels, F = p.filters, KV = kernel_volume(g), KC = KV * C;
  const std::int64_t in_pos = g.in[0] * g.in[1] * g.in[2], out_pos = g.out[0] * g.out[1] * g.out[2];
  T* const y = reinterpret_cast<T*>(p.y);
  if (g.batch == 0 || in_pos == 0 || C == 0) return;
  if (F == 0 || out_pos == 0) {
    std::fill(y, y + g.batch * in_pos * C, T{});
    return;
  }
  if (conv_adjoint_phases<T>(p)) return;
  const T* const x = reinterpret_cast<const T*>(p.x);
  // w^T (filters, taps x C) in A.
  AlignedBuffer<A> wide(static_cast<std::size_t>(KC * F)), wt(static_cast<std::size_t>(KC * F));
  convert_run(reinterpret_cast<const T*>(p.w), wide.get(), KC * F);
  for (std::int64_t j = 0; j < KC; ++j)
    for (std::int64_t f = 0; f < F; ++f) wt.get()[f * KC + j] = wide.get()[j * F + f];
  const std::int64_t item_bytes = out_pos * KC * std::int64_t(sizeof(A));
  const std::int64_t group = std::clamp<std::int64_t>(tuning::kConvWholeBytes / item_bytes, 1, g.batch);
  AlignedBuffer<A> cols(static_cast<std::size_t>(group * out_pos * KC)), xa;
  if constexpr (!std::is_same_v<T, A>) xa.reset(static_cast<std::size_t>(group * out_pos * F));
  const std::int64_t in_w = g.in[2], out_w = g.out[2];
  // Upstream index along dim d whose tap k lands on input index i, or -1.
  const auto upstream = [&](int d, std::int64_t i, std::int64_t k) -> std::int64_t {
    const std::int64_t t = i + g.pad[d] - k * g.dil[d];
    if (t < 0 || t % g.stride[d] != 0) return -1;
    return t / g.stride[d] < g.out[d] ? t / g.stride[d] : -1;
  };
  for (std::int64_t b0 = 0; b0 < g.batch; b0 += group) {
    const std::int64_t n = std::min(group, g.batch - b0), rows = n * out_pos;
    const A* a = reinterpret_cast<const A*>(x + b0 * out_pos * F);
    if constexpr (!std::is_same_v<T, A>) {
      parallel_for(0, rows, std::max<std::int64_t>(1, tuning::kGrain / F), [&](std::int64_t r0, std::int64_t r1) {
        convert_run(x + (b0 * out_pos + r0) * F, xa.get() + r0 * F, (r1 - r0) * F);
      });
      a = xa.get();
    }
    GemmPlan q;
    q.dtype = dtype_of<A>();
    q.M = rows;
    q.N = KC;
    q.K = F;
    q.a = MatrixOperand{reinterpret_cast<const char*>(a), 0, F * std::int64_t(sizeof(A)), std::int64_t(sizeof(A))};
    q.b = MatrixOperand{reinterpret_cast<const char*>(wt.get()), 0, KC * std::int64_t(sizeof(A)), std::int64_t(sizeof(A))};
    q.c = reinterpret_cast<char*>(cols.get());
    gemm(q);
    const std::int64_t lines = n * g.in[0] * g.in[1];
    parallel_tasks(lines, std::max<std::int64_t>(in_w * KC, 1), [&](std::int64_t line) {
      const std::int64_t ih = line % g.in[1], id = line / g.in[1] % g.in[0], item = line / (g.in[1] * g.in[0]);
      T* const dst = y + (((b0 + item) * g.in[0] + id) * g.in[1] + ih) * in_w * C;
      AlignedBuffer<A> buf;
      A* acc;
      if constexpr (std::is_same_v<T, A>) {
        acc = dst;
      } else {
        buf.reset(static_cast<std::size_t>(in_w * C));
        acc = buf.get();
      }
      std::fill(acc, acc + in_w * C, A(0));
      for (std::int64_t kd = 0; kd < g.k[0]; ++kd) {
        const std::int64_t od = upstream(0, id, kd);
        if (od < 0) continue;
        for (std::int64_t kh = 0; kh < g.k[1]; ++kh) {
          const std::int64_t oh = upstream(1, ih, kh);
          if (oh < 0) continue;
          const A* const src_line = cols.get() + ((item * g.out[0] + od) * g.out[1] + oh) * out_w * KC;
          for (std::int64_t kw = 0; kw < g.k[2]; ++kw) {
            const A* const tap = src_line + ((kd * g.k[1] + kh) * g.k[2] + kw) * C;
            for (std::int64_t ow = 0; ow < out_w; ++ow) {
              const std::int64_t iw = ow * g.stride[2] - g.pad[2] + kw * g.dil[2];
              if (iw < 0 || iw >= in_w) continue;
              A* const o = acc + iw * C;
              const A* const s = tap + ow * KC;
              for (std::int64_t c = 0; c < C; ++c) o[c] += s[c];
            }
          }
        }
      }
      if constexpr (!std::is_same_v<T, A>) convert_run(acc, dst, in_w * C);
    });
  }
}

// One output line (batch n, od, oh) at a time. The input lines its kernel rows (kd, kh) meet are
// read in A (float16 converted, each channel repeated `mult` times: then output channel o takes
// input lane o); then for each output position and each tile of channels, the taps accumulate in
// registers, in (kd, kh, kw) order, and the tile is stored once.
// P output positions x V vectors of channels (from c0) of one output line: P * V independent
// chains of multiply-adds (so the adds' latency overlaps), each weight vector loaded once for
// the P positions. iw[p * kw_n + kw]: the input position of output p at tap kw, or -1.
template <class A, int V, int P>
KCORE_INLINE void dw_tile(const A* const* rows, const A* const* wrows, int nrows, std::int64_t xs, std::int64_t OC,
                          std::int64_t kw_n, const std::int64_t* iw, std::int64_t c0, A* out) {
  constexpr int L = kLanes<A>;
  vec<A> acc[P][V];
  for (int q = 0; q < P; ++q)
    for (int v = 0; v < V; ++v) acc[q][v] = splat(A(0));
  for (int r = 0; r < nrows; ++r) {
    const A* row = rows[r] + c0;
    const A* wr = wrows[r] + c0;
    for (std::int64_t kw = 0; kw < kw_n; ++kw) {
      vec<A> wv[V];
      for (int v = 0; v < V; ++v) wv[v] = load(wr + kw * OC + v * L);
      for (int q = 0; q < P; ++q) {
        const std::int64_t i = iw[q * kw_n + kw];
        if (i < 0) continue;
        const A* xp = row + i * xs;
        for (int v = 0; v < V; ++v) acc[q][v] = fmadd<A>(load(xp + v * L), wv[v], acc[q][v]);
      }
    }
  }
  for (int q = 0; q < P; ++q)
    for (int v = 0; v < V; ++v) store(out + q * OC + c0 + v * L, acc[q][v]);
}

// The same chains for P output positions whose three taps along w (unit dilation, stride S) all
// lie inside the line, from input position i0 on: each input vector is loaded once per kernel row
// and feeds every position and tap that reads it (the general tile loads it once per tap, through
// the tap's index). One vector of channels (from c0); taps in the general tile's order.
// Positions per 3-tap tile, P independent chains to cover the multiply-adds' latency. With AVX2
// (16 registers), stride 1's 8 positions read some inputs twice and still ran faster than 4; at
// stride 2, whose 8 positions read 17 input vectors, and on the baseline level, 8 ran slower
// (bench/NOTES.md).
template <int S>
constexpr int kDw3Positions = kVecBytes == 64 || (kVecBytes == 32 && S == 1) ? 8 : 4;
constexpr int kDw3MaxPositions = std::max(kDw3Positions<1>, kDw3Positions<2>);

template <class A, int S, int P>
KCORE_INLINE void dw3_tile(const A* const* rows, const A* const* wrows, int nrows, std::int64_t xs, std::int64_t OC,
                           std::int64_t i0, std::int64_t c0, A* out, const A* ahead, std::int64_t ahead_stride) {
  constexpr int NX = (P - 1) * S + 3;
  if (ahead != nullptr) {
    const A* a = ahead + i0 * xs + c0;
#pragma GCC unroll 16
    for (int j = 0; j < P * S; ++j) __builtin_prefetch(a + j * xs, 0, 2);
    if constexpr (S == 2) {
      a += ahead_stride;
#pragma GCC unroll 16
      for (int j = 0; j < P * S; ++j) __builtin_prefetch(a + j * xs, 0, 2);
    }
  }
  vec<A> acc[P];
#pragma GCC unroll 16
  for (int q = 0; q < P; ++q) acc[q] = splat(A(0));
  for (int r = 0; r < nrows; ++r) {
    const A* xp = rows[r] + i0 * xs + c0;
    const A* wr = wrows[r] + c0;
    const vec<A> w0 = load(wr), w1 = load(wr + OC), w2 = load(wr + 2 * OC);
    vec<A> xv[NX];
#pragma GCC unroll 32
    for (int j = 0; j < NX; ++j) xv[j] = load(xp + j * xs);
#pragma GCC unroll 16
    for (int q = 0; q < P; ++q) {
      acc[q] = fmadd<A>(xv[q * S], w0, acc[q]);
      acc[q] = fmadd<A>(xv[q * S + 1], w1, acc[q]);
      acc[q] = fmadd<A>(xv[q * S + 2], w2, acc[q]);
    }
  }
#pragma GCC unroll 16
  for (int q = 0; q < P; ++q) store(out + q * OC + c0, acc[q]);
}

template <class A, int S, int P>
KCORE_INLINE void dw3_positions(const A* const* rows, const A* const* wrows, int nrows, std::int64_t xs,
                                std::int64_t OCP, std::int64_t i0, A* out, const A* ahead, std::int64_t ahead_stride) {
  for (std::int64_t c0 = 0; c0 < OCP; c0 += kLanes<A>)
    dw3_tile<A, S, P>(rows, wrows, nrows, xs, OCP, i0, c0, out, ahead, ahead_stride);
}

// np (a power of two up to kDw3Positions<S>) positions from input position i0 on.
template <class A, int S>
void dw3_any(std::int64_t np, const A* const* rows, const A* const* wrows, int nrows, std::int64_t xs, std::int64_t OCP,
             std::int64_t i0, A* out, const A* ahead, std::int64_t ahead_stride) {
  constexpr int P = kDw3Positions<S>;
  if (np == P) return dw3_positions<A, S, P>(rows, wrows, nrows, xs, OCP, i0, out, ahead, ahead_stride);
  if (np == P / 2) return dw3_positions<A, S, P / 2>(rows, wrows, nrows, xs, OCP, i0, out, ahead, ahead_stride);
  if (np == P / 4) return dw3_positions<A, S, P / 4>(rows, wrows, nrows, xs, OCP, i0, out, ahead, ahead_stride);
  for (std::int64_t q = 0; q < np; ++q)
    dw3_positions<A, S, 1>(rows, wrows, nrows, xs, OCP, i0 + q * S, out + q * OCP, ahead, ahead_stride);
}

template <class A, int P>
KCORE_INLINE void dw_positions(const A* const* rows, const A* const* wrows, int nrows, std::int64_t xs,
                               std::int64_t OCP, std::int64_t kw_n, const std::int64_t* iw, A* out) {
  constexpr int L = kLanes<A>;
  std::int64_t c0 = 0;
  for (; c0 + 2 * L <= OCP; c0 += 2 * L) dw_tile<A, 2, P>(rows, wrows, nrows, xs, OCP, kw_n, iw, c0, out);
  for (; c0 < OCP; c0 += L) dw_tile<A, 1, P>(rows, wrows, nrows, xs, OCP, kw_n, iw, c0, out);
}

// w's kv taps of OC values as A, each tap's row padded with zeros to OCP (whole vectors: the
// depthwise loops' tail tiles read whole vectors).
template <class T, class A = widen_t<T>>
AlignedBuffer<A> padded_taps(const char* w, std::int64_t kv, std::int64_t OC, std::int64_t OCP) {
  AlignedBuffer<A> wide(static_cast<std::size_t>(kv * OCP));
  for (std::int64_t t = 0; t < kv; ++t) {
    convert_run(reinterpret_cast<const T*>(w) + t * OC, wide.get() + t * OCP, OC);
    std::fill(wide.get() + t * OCP + OC, wide.get() + (t + 1) * OCP, A(0));
  }
  return wide;
}

// n positions of C channels from src as A, each channel repeated `mult` times (a depthwise
// output channel's input), each position padded with zeros to `stride` values.
template <class T, class A>
void widen_positions(const T* src, std::int64_t n, std::int64_t C, std::int64_t mult, std::int64_t stride, A* dst) {
  for (std::int64_t i = 0; i < n; ++i) {
    A* d = dst + i * stride;
    if (mult == 1) {
      convert_run(src + i * C, d, C);
    } else {
      for (std::int64_t c = 0; c < C; ++c) {
        A v;
        convert_run(src + i * C + c, &v, 1);
        std::fill(d + c * mult, d + (c + 1) * mult, v);
      }
    }
    std::fill(d + C * mult, d + stride, A(0));
  }
}

template <class T>
void conv_depthwise(const ConvPlan& p) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
  const ConvGeometry& g = p.g;
  const std::int64_t C = g.channels, mult = p.filters, OC = C * mult;
  const std::int64_t lines = g.batch * g.out[0] * g.out[1], ow_n = g.out[2], iw_n = g.in[2];
  if (lines == 0 || ow_n == 0 || OC == 0) return;
  const T* const x = reinterpret_cast<const T*>(p.x);
  T* const y = reinterpret_cast<T*>(p.y);
  const std::int64_t kv = kernel_volume(g), kw_n = g.k[2];
  const Epilogue<T> epi(p, OC);
  const std::int64_t OCP = (OC + L - 1) / L * L;
  const AlignedBuffer<A> wide_w = padded_taps<T>(p.w, kv, OC, OCP);
  // Input positions XS elements apart: whole vectors; lines of positions a multiple of 256 bytes
  // and at least kDwPadMinBytes apart, read at unit stride, are copied a vector apart (read in
  // place they share L1 sets: 512 float32 channels ran at ~0.7x; smaller positions, and stride 2,
  // ran faster in place, bench/NOTES.md).
  const std::int64_t pos_bytes = OCP * std::int64_t(sizeof(A));
  const bool pad_positions = pos_bytes % 256 == 0 && pos_bytes >= tuning::kDwPadMinBytes && g.stride[2] == 1;
  const std::int64_t XS = pad_positions ? OCP + L : OCP;
  // Tasks of up to kLineBlock output lines of one (n, od): each input line they read is converted
  // (or padded) once per task, not once per output line.
  constexpr std::int64_t kLineBlock = 8;
  const std::int64_t oh_n = g.out[1], blocks_per_plane = (oh_n + kLineBlock - 1) / kLineBlock;
  const bool in_place = std::is_same_v<T, A> && mult == 1 && XS == OC;
  // Output positions [dw3_first, dw3_end) read all three taps of a 3-wide, unit-dilation, stride
  // 1 or 2 kernel inside the line: the 3-tap tiles take them.
  const std::int64_t sw = g.stride[2], pw = g.pad[2];
  const bool dw3 = kw_n == 3 && g.dil[2] == 1 && (sw == 1 || sw == 2);
  const std::int64_t dw3_first = dw3 ? (pw + sw - 1) / sw : 0;
  const std::int64_t dw3_end = dw3 && iw_n + pw >= 3 ? std::min(ow_n, (iw_n - 3 + pw) / sw + 1) : 0;
  // Large results go out with streaming stores (tuning::kDwStreamBytes; whole lines only:
  // positions of whole lines from a line-aligned y), each tile through `out` in L1.
  const std::int64_t item = sizeof(T), y_bytes = lines * ow_n * OC * item;
  const bool stream = (OC * item) % kLineBytes == 0 && reinterpret_cast<std::uintptr_t>(y) % kLineBytes == 0 &&
                      g.batch * g.in[0] * g.in[1] * iw_n * C * item + y_bytes >
                          std::min(tuning::stream_bytes(), tuning::kDwStreamBytes);
  parallel_tasks(lines / oh_n * blocks_per_plane, std::max<std::int64_t>(kLineBlock * ow_n * OC * kv, 1),
                 [&](std::int64_t task) {
    const std::int64_t plane = task / blocks_per_plane, oh0 = task % blocks_per_plane * kLineBlock;
    const std::int64_t oh1 = std::min(oh_n, oh0 + kLineBlock), od = plane % g.out[0], n = plane / g.out[0];
    // Input lines ih in [lo, hi] of each depth tap kd: converted into slots on first use.
    const std::int64_t lo = std::max<std::int64_t>(0, oh0 * g.stride[1] - g.pad[1]);
    const std::int64_t hi = std::min(g.in[1] - 1, (oh1 - 1) * g.stride[1] - g.pad[1] + (g.k[1] - 1) * g.dil[1]);
    const std::int64_t span = std::max<std::int64_t>(hi - lo + 1, 0);
    AlignedBuffer<A> in(in_place ? 1 : static_cast<std::size_t>(g.k[0] * span * iw_n * XS + L));
    Scratch<char, 256> filled(g.k[0] * span);
    std::fill(filled.get(), filled.get() + g.k[0] * span, char(0));
    const auto line_of = [&](std::int64_t kd, std::int64_t id, std::int64_t ih) -> const A* {
      const T* src = x + ((n * g.in[0] + id) * g.in[1] + ih) * iw_n * C;
      if (in_place) return reinterpret_cast<const A*>(src);
      const std::int64_t slot = kd * span + (ih - lo);
      A* dst = in.get() + slot * iw_n * XS;
      if (!filled.get()[slot]) {
        filled.get()[slot] = 1;
        widen_positions(src, iw_n, C, mult, XS, dst);
      }
      return dst;
    };
    const std::int64_t max_rows = g.k[0] * g.k[1];
    AlignedBuffer<A> out(static_cast<std::size_t>(std::max(4, kDw3MaxPositions) * OCP));
    const bool narrowed = stream && !(std::is_same_v<T, A> && OCP == OC);
    AlignedBuffer<T> narrow(narrowed ? static_cast<std::size_t>(std::max(4, kDw3MaxPositions) * OC) : 0);
    Scratch<const A*, 64> rows(max_rows);
    Scratch<const A*, 64> wrow(max_rows);
    constexpr int P = 4;
    Scratch<std::int64_t, 64> iw(P * kw_n);
    for (std::int64_t oh = oh0; oh < oh1; ++oh) {
      int nrows = 0;
      for_each_input_line(g, od, oh, [&](std::int64_t kd, std::int64_t kh, std::int64_t id, std::int64_t ih) {
        wrow.get()[nrows] = wide_w.get() + (kd * g.k[1] + kh) * kw_n * OCP;
        rows.get()[nrows++] = line_of(kd, id, ih);
      });
      const std::int64_t line = plane * oh_n + oh;
      // The input lines the next output line reads first, fetched while this one is computed.
      const A* ahead = nullptr;
      const std::int64_t ahead_stride = iw_n * XS;
      if (in_place && g.k[0] == 1 && nrows > 0 && oh + 1 < oh_n) {
        const std::int64_t next = (oh + 1) * g.stride[1] - g.pad[1] + (g.k[1] - 1) * g.dil[1] - (g.stride[1] - 1);
        if (next >= 0 && next + g.stride[1] - 1 < g.in[1])
          ahead = reinterpret_cast<const A*>(x + ((n * g.in[0] + od) * g.in[1] + next) * iw_n * C);
      }
      for (std::int64_t ow = 0; ow < ow_n;) {
        // Positions [ow, ow + np): a 3-tap tile inside the line, or general tiles up to it.
        const bool tile3 = dw3 && ow >= dw3_first && ow < dw3_end;
        const std::int64_t stop = dw3 && ow < dw3_first ? std::min(ow_n, dw3_first) : ow_n;
        std::int64_t np = std::min<std::int64_t>(P, stop - ow);
        if (tile3) {  // the largest power of two that fits, down to 1
          np = sw == 1 ? kDw3Positions<1> : kDw3Positions<2>;
          while (ow + np > dw3_end) np /= 2;
        }
        // Straight into y when it takes whole vectors of A and ordinary stores; else through `out`.
        A* o = out.get();
        if constexpr (std::is_same_v<T, A>) {
          if (OCP == OC && !stream) o = reinterpret_cast<A*>(y + (line * ow_n + ow) * OC);
        }
        if (tile3) {
          const std::int64_t i0 = ow * g.stride[2] - g.pad[2];
          if (g.stride[2] == 1) dw3_any<A, 1>(np, rows.get(), wrow.get(), nrows, XS, OCP, i0, o, ahead, ahead_stride);
          else dw3_any<A, 2>(np, rows.get(), wrow.get(), nrows, XS, OCP, i0, o, ahead, ahead_stride);
        } else {
          for (std::int64_t q = 0; q < np; ++q)
            for (std::int64_t kw = 0; kw < kw_n; ++kw) iw.get()[q * kw_n + kw] = input_at(g, 2, ow + q, kw);
          if (np == P) {
            dw_positions<A, P>(rows.get(), wrow.get(), nrows, XS, OCP, kw_n, iw.get(), o);
          } else {
            for (std::int64_t q = 0; q < np; ++q)
              dw_positions<A, 1>(rows.get(), wrow.get(), nrows, XS, OCP, kw_n, iw.get() + q * kw_n, o + q * OCP);
          }
        }
        epi.apply(o, np, OC, o == out.get() ? OCP : OC, 0, line * ow_n + ow);
        T* const dst = y + (line * ow_n + ow) * OC;
        if (o == out.get()) {
          // Streamed from `out` where it holds y's bytes, else from `narrow` (in T, side by side).
          const void* from = o;
          if (!stream || narrowed) {
            T* const t = stream ? narrow.get() : dst;
            for (std::int64_t q = 0; q < np; ++q) convert_run(o + q * OCP, t + q * OC, OC);
            from = t;
          }
          if (stream) stream_bytes(reinterpret_cast<char*>(dst), static_cast<const char*>(from), np * OC * item);
        }
        ow += np;
      }
    }
    if (stream) stream_fence();
  });
}

// The adjoint of a depthwise convolution of unit strides and multiplier 1 is one itself: gy
// correlated with the kernel reversed, padded by the kernel's span less the forward's padding.
// False (nothing done) for other strides and multipliers, and for pads past the span.
template <class T>
bool conv_depthwise_adjoint_unit(const ConvPlan& p) {
  const ConvGeometry& g = p.g;
  if (p.filters != 1) return false;
  ConvPlan q;
  q.dtype = p.dtype;
  q.depthwise = true;
  q.filters = 1;
  q.g.batch = g.batch;
  q.g.channels = g.channels;
  for (int d = 0; d < 3; ++d) {
    const std::int64_t span = (g.k[d] - 1) * g.dil[d];
    if (g.stride[d] != 1 || g.pad[d] > span) return false;
    q.g.in[d] = g.out[d];
    q.g.out[d] = g.in[d];
    q.g.k[d] = g.k[d];
    q.g.dil[d] = g.dil[d];
    q.g.pad[d] = span - g.pad[d];
  }
  const std::int64_t kv = kernel_volume(g), C = g.channels;
  AlignedBuffer<T> reversed(static_cast<std::size_t>(kv * C));  // tap t at kv - 1 - t: each dim reversed
  for (std::int64_t t = 0; t < kv; ++t)
    std::memcpy(reversed.get() + (kv - 1 - t) * C, reinterpret_cast<const T*>(p.w) + t * C, C * sizeof(T));
  q.x = p.x;
  q.w = reinterpret_cast<const char*>(reversed.get());
  q.y = p.y;
  conv_depthwise<T>(q);
  return true;
}

// The depthwise convolution's adjoint (its input gradient): each input line (n, id, ih) gathers
// what the output lines its taps reach send back, gy[o] * w[k] per output channel, in (kd, kh,
// kw) order, then sums each input channel's `mult` outputs in order. One task per input line:
// every element has one order of operations whatever the threads.
template <class T>
void conv_depthwise_adjoint(const ConvPlan& p) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
  const ConvGeometry& g = p.g;
  const std::int64_t C = g.channels, mult = p.filters, OC = C * mult, OCP = (OC + L - 1) / L * L;
  const std::int64_t lines = g.batch * g.in[0] * g.in[1], iw_n = g.in[2], ow_n = g.out[2], kw_n = g.k[2];
  const std::int64_t kv = kernel_volume(g);
  T* const gx = reinterpret_cast<T*>(p.y);
  if (lines == 0 || iw_n == 0 || C == 0) return;
  if (OC == 0 || positions(g) == 0) {
    std::fill(gx, gx + lines * iw_n * C, T{});
    return;
  }
  if (conv_depthwise_adjoint_unit<T>(p)) return;
  const T* const gy = reinterpret_cast<const T*>(p.x);
  const AlignedBuffer<A> wide_w = padded_taps<T>(p.w, kv, OC, OCP);
  const bool in_place = std::is_same_v<T, A> && OCP == OC, direct = in_place && mult == 1;
  parallel_tasks(lines, std::max<std::int64_t>(iw_n * OC * kv, 1), [&](std::int64_t line) {
    const std::int64_t ih = line % g.in[1], id = line / g.in[1] % g.in[0], n = line / (g.in[1] * g.in[0]);
    // The sums go straight into gx where it holds whole vectors of A, one per output channel.
    AlignedBuffer<A> own(direct ? 0 : static_cast<std::size_t>(iw_n * OCP));
    A* const acc = direct ? reinterpret_cast<A*>(gx + line * iw_n * C) : own.get();
    AlignedBuffer<A> wide(in_place ? 0 : static_cast<std::size_t>(ow_n * OCP));
    std::fill(acc, acc + iw_n * OCP, A(0));
    for (std::int64_t kd = 0; kd < g.k[0]; ++kd) {
      const std::int64_t od = output_at(g, 0, id, kd);
      if (od < 0) continue;
      for (std::int64_t kh = 0; kh < g.k[1]; ++kh) {
        const std::int64_t oh = output_at(g, 1, ih, kh);
        if (oh < 0) continue;
        const T* const src = gy + ((n * g.out[0] + od) * g.out[1] + oh) * ow_n * OC;
        const A* gl = reinterpret_cast<const A*>(src);
        if (!in_place) {
          widen_positions(src, ow_n, OC, 1, OCP, wide.get());
          gl = wide.get();
        }
        const A* const wr = wide_w.get() + (kd * g.k[1] + kh) * kw_n * OCP;
        for (std::int64_t kw = 0; kw < kw_n; ++kw) {
          const TapRange o = outputs_inside(g, 2, kw);
          if (o.lo >= o.hi) continue;  // (no pointer formed outside acc)
          A* const a0 = acc + (o.lo * g.stride[2] + kw * g.dil[2] - g.pad[2]) * OCP;
          const std::int64_t step = g.stride[2] * OCP;
          for (std::int64_t c0 = 0; c0 < OCP; c0 += L) {
            const vec<A> wv = load(wr + kw * OCP + c0);
            for (std::int64_t ow = o.lo; ow < o.hi; ++ow) {
              A* const a = a0 + (ow - o.lo) * step + c0;
              store(a, fmadd<A>(load(gl + ow * OCP + c0), wv, load(a)));
            }
          }
        }
      }
    }
    for (std::int64_t i = 0; !direct && i < iw_n; ++i) {
      A* const v = acc + i * OCP;
      for (std::int64_t c = 0; mult > 1 && c < C; ++c) {  // (c <= c * mult: read before overwritten)
        A sum = v[c * mult];
        for (std::int64_t j = 1; j < mult; ++j) sum += v[c * mult + j];
        v[c] = sum;
      }
      convert_run(v, gx + (line * iw_n + i) * C, C);
    }
  });
}

// V vectors of channels from c0, summed over outputs [lo, hi) of x's value at the tap times gy's,
// in U interleaved chains per vector (added in order at the end).
template <class A, int V, int U>
KCORE_INLINE void tap_sums(const A* x, std::int64_t xstep, const A* gy, std::int64_t gstep, std::int64_t n,
                           std::int64_t c0, A* out) {
  constexpr int L = kLanes<A>;
  vec<A> acc[U][V];
  for (int u = 0; u < U; ++u)
    for (int v = 0; v < V; ++v) acc[u][v] = splat(A(0));
  std::int64_t i = 0;
  for (; i + U <= n; i += U)
    for (int u = 0; u < U; ++u)
      for (int v = 0; v < V; ++v)
        acc[u][v] = fmadd<A>(load(x + (i + u) * xstep + c0 + v * L), load(gy + (i + u) * gstep + c0 + v * L), acc[u][v]);
  for (; i < n; ++i)
    for (int v = 0; v < V; ++v)
      acc[0][v] = fmadd<A>(load(x + i * xstep + c0 + v * L), load(gy + i * gstep + c0 + v * L), acc[0][v]);
  for (int v = 0; v < V; ++v) {
    for (int u = 1; u < U; ++u) acc[0][v] = acc[0][v] + acc[u][v];
    store(out + c0 + v * L, acc[0][v]);
  }
}

// The depthwise convolution's kernel gradient: w[k, c * mult + j] = the sum over n and output
// positions o of x[n, o * stride + k * dil - pad, c] * gy[n, o, c * mult + j]. Along each output
// line a tap's products add up in A; the lines' sums in float64, over chunks of lines fixed by the
// shape alone (tuning::kSumChunks), and the chunks' in order: the same bits for every thread count.
template <class T>
void conv_depthwise_weights(const ConvPlan& p) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
  const ConvGeometry& g = p.g;
  const std::int64_t C = g.channels, mult = p.filters, OC = C * mult, OCP = (OC + L - 1) / L * L;
  const std::int64_t kv = kernel_volume(g), kw_n = g.k[2], iw_n = g.in[2], ow_n = g.out[2];
  const std::int64_t lines = g.batch * g.out[0] * g.out[1];
  T* const gw = reinterpret_cast<T*>(p.y);
  if (kv * OC == 0) return;
  AlignedBuffer<double> total(static_cast<std::size_t>(kv * OC));
  std::fill(total.get(), total.get() + kv * OC, 0.0);
  if (lines > 0 && ow_n > 0) {
    const T* const x = reinterpret_cast<const T*>(p.x);
    const T* const gy = reinterpret_cast<const T*>(p.gy);
    const std::int64_t per_chunk = (lines + tuning::kSumChunks - 1) / tuning::kSumChunks;
    const std::int64_t chunks = (lines + per_chunk - 1) / per_chunk;
    AlignedBuffer<double> part(static_cast<std::size_t>(chunks * kv * OCP));
    const bool in_place = std::is_same_v<T, A> && mult == 1 && OCP == OC;
    parallel_tasks(chunks, std::max<std::int64_t>(per_chunk * ow_n * OC * kv, 1), [&](std::int64_t chunk) {
      double* const sum = part.get() + chunk * kv * OCP;
      std::fill(sum, sum + kv * OCP, 0.0);
      AlignedBuffer<A> xw(in_place ? 0 : static_cast<std::size_t>(iw_n * OCP));
      AlignedBuffer<A> gw_line(in_place ? 0 : static_cast<std::size_t>(ow_n * OCP));
      AlignedBuffer<A> line_sum(static_cast<std::size_t>(OCP));
      for (std::int64_t line = chunk * per_chunk; line < std::min(lines, (chunk + 1) * per_chunk); ++line) {
        const std::int64_t oh = line % g.out[1], od = line / g.out[1] % g.out[0], n = line / (g.out[1] * g.out[0]);
        const T* const gsrc = gy + line * ow_n * OC;
        const A* gl = reinterpret_cast<const A*>(gsrc);
        if (!in_place) {
          widen_positions(gsrc, ow_n, OC, 1, OCP, gw_line.get());
          gl = gw_line.get();
        }
        for_each_input_line(g, od, oh, [&](std::int64_t kd, std::int64_t kh, std::int64_t id, std::int64_t ih) {
          const T* const xsrc = x + ((n * g.in[0] + id) * g.in[1] + ih) * iw_n * C;
          const A* xl = reinterpret_cast<const A*>(xsrc);
          if (!in_place) {
            widen_positions(xsrc, iw_n, C, mult, OCP, xw.get());
            xl = xw.get();
          }
          for (std::int64_t kw = 0; kw < kw_n; ++kw) {
            const TapRange o = outputs_inside(g, 2, kw);
            const std::int64_t m = o.hi - o.lo;
            if (m == 0) continue;  // (nothing to add; no pointer formed outside the line)
            const A* const xs = xl + (o.lo * g.stride[2] + kw * g.dil[2] - g.pad[2]) * OCP;
            const A* const gs = gl + o.lo * OCP;
            const std::int64_t xstep = g.stride[2] * OCP;
            std::int64_t c0 = 0;
            for (; c0 + 4 * L <= OCP; c0 += 4 * L) tap_sums<A, 4, 1>(xs, xstep, gs, OCP, m, c0, line_sum.get());
            for (; c0 + 2 * L <= OCP; c0 += 2 * L) tap_sums<A, 2, 2>(xs, xstep, gs, OCP, m, c0, line_sum.get());
            for (; c0 < OCP; c0 += L) tap_sums<A, 1, 4>(xs, xstep, gs, OCP, m, c0, line_sum.get());
            double* const s = sum + ((kd * g.k[1] + kh) * kw_n + kw) * OCP;
            for (std::int64_t c = 0; c < OCP; ++c) s[c] += static_cast<double>(line_sum.get()[c]);
          }
        });
      }
    });
    for (std::int64_t chunk = 0; chunk < chunks; ++chunk)
      for (std::int64_t t = 0; t < kv; ++t) {
        const double* const s = part.get() + (chunk * kv + t) * OCP;
        double* const d = total.get() + t * OC;
        for (std::int64_t c = 0; c < OC; ++c) d[c] += s[c];
      }
  }
  convert_run(total.get(), gw, kv * OC);
}

// Max (NaN wins, as np.maximum) or the average over the window's positions inside x, summed in S:
// A, or float64 for averages over windows of more than tuning::kPoolWideWindow positions (float32
// sums of a million values drift by ~1%).
template <class T, class S>
void pool_lines(const PoolPlan& p, std::int64_t window) {
  using A = widen_t<T>;
  const ConvGeometry& g = p.g;
  const std::int64_t C = g.channels, lines = g.batch * g.out[0] * g.out[1], ow_n = g.out[2], iw_n = g.in[2];
  const T* const x = reinterpret_cast<const T*>(p.x);
  T* const y = reinterpret_cast<T*>(p.y);
  const bool is_max = p.mode == PoolMode::max;
  parallel_tasks(lines, std::max<std::int64_t>(ow_n * C * window, 1), [&](std::int64_t line) {
    const std::int64_t oh = line % g.out[1], od = line / g.out[1] % g.out[0], n = line / (g.out[1] * g.out[0]);
    AlignedBuffer<S> acc(static_cast<std::size_t>(ow_n * C));
    AlignedBuffer<A> in;
    if constexpr (!std::is_same_v<T, A>) in.reset(static_cast<std::size_t>(iw_n * C));
    std::fill(acc.get(), acc.get() + ow_n * C, is_max ? -std::numeric_limits<S>::infinity() : S(0));
    std::int64_t rows_inside = 0;  // (kd, kh) pairs inside x; times the kw inside, the count
    for_each_input_line(g, od, oh, [&](std::int64_t, std::int64_t, std::int64_t id, std::int64_t ih) {
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
        S* a = acc.get() + ow * C;
        const TapRange w = taps_inside(g, 2, ow);
        for (std::int64_t kw = w.lo; kw < w.hi; ++kw) {
          const A* v = row + (ow * g.stride[2] - g.pad[2] + kw * g.dil[2]) * C;
          if (is_max) {
            for (std::int64_t c = 0; c < C; ++c) a[c] = (v[c] > a[c] || v[c] != v[c]) ? S(v[c]) : a[c];
          } else {
            for (std::int64_t c = 0; c < C; ++c) a[c] += S(v[c]);
          }
        }
      }
    });
    if (!is_max) {
      for (std::int64_t ow = 0; ow < ow_n; ++ow) {
        const TapRange w = taps_inside(g, 2, ow);
        const S count = S(rows_inside * (w.hi - w.lo));
        S* a = acc.get() + ow * C;
        for (std::int64_t c = 0; c < C; ++c) a[c] /= count;
      }
    }
    convert_run(acc.get(), y + line * ow_n * C, ow_n * C);
  });
}

template <class T>
void pool_typed(const PoolPlan& p) {
  const ConvGeometry& g = p.g;
  if (g.batch * g.out[0] * g.out[1] == 0 || g.out[2] == 0 || g.channels == 0) return;
  std::int64_t window = 1;  // positions a window can hold inside x
  for (int d = 0; d < 3; ++d) window *= std::min(g.k[d], g.in[d]);
  if (p.mode == PoolMode::avg && !std::is_same_v<widen_t<T>, double> && window > tuning::kPoolWideWindow)
    pool_lines<T, double>(p, window);
  else
    pool_lines<T, widen_t<T>>(p, window);
}

// The gradient of pool_lines with respect to x: max routes each window's gradient to the first
// of its positions inside x that holds the window's maximum (NaN, which wins the forward pass:
// its first NaN); average spreads it evenly over them. A task owns a batch item's block of
// channels and visits the windows in order, so each element's sum has one order whatever the
// threads; sums are in widen_t<T>, rounded once.
template <class T>
void pool_backward(const PoolPlan& p) {
  using A = widen_t<T>;
  constexpr std::int64_t kBlock = 64;  // channels per task: a window's state fits in L1
  const ConvGeometry& g = p.g;
  const std::int64_t C = g.channels, in_pos = g.in[0] * g.in[1] * g.in[2], out_pos = g.out[0] * g.out[1] * g.out[2];
  if (g.batch * in_pos * C == 0) return;
  const T* const x = reinterpret_cast<const T*>(p.x);
  const T* const gy = reinterpret_cast<const T*>(p.gy);
  T* const gx = reinterpret_cast<T*>(p.y);
  const bool is_max = p.mode == PoolMode::max;
  std::int64_t window = 1;
  for (int d = 0; d < 3; ++d) window *= std::min(g.k[d], g.in[d]);
  const std::int64_t blocks = (C + kBlock - 1) / kBlock;
  parallel_tasks(g.batch * blocks, std::max<std::int64_t>(out_pos * std::min(C, kBlock) * window, 1), [&](std::int64_t task) {
    const std::int64_t n = task / blocks, c0 = task % blocks * kBlock, cb = std::min(kBlock, C - c0);
    AlignedBuffer<A> acc(static_cast<std::size_t>(in_pos * cb));
    std::fill(acc.get(), acc.get() + in_pos * cb, A(0));
    A best[kBlock], share[kBlock];
    std::int64_t at[kBlock];
    const T* const xn = x + n * in_pos * C + c0;
    for (std::int64_t od = 0; od < g.out[0]; ++od)
      for (std::int64_t oh = 0; oh < g.out[1]; ++oh)
        for (std::int64_t ow = 0; ow < g.out[2]; ++ow) {
          const T* const gv = gy + (((n * g.out[0] + od) * g.out[1] + oh) * g.out[2] + ow) * C + c0;
          const TapRange w = taps_inside(g, 2, ow);
          const std::int64_t w0 = ow * g.stride[2] - g.pad[2];
          if (is_max) {
            std::fill(at, at + cb, std::int64_t(-1));
            for_each_input_line(g, od, oh, [&](std::int64_t, std::int64_t, std::int64_t id, std::int64_t ih) {
              for (std::int64_t kw = w.lo; kw < w.hi; ++kw) {
                const std::int64_t pos = (id * g.in[1] + ih) * g.in[2] + w0 + kw;
                const T* const v = xn + pos * C;
                for (std::int64_t c = 0; c < cb; ++c) {
                  const A a = convert_one<A>(v[c]);
                  if (at[c] < 0 || a > best[c] || (a != a && best[c] == best[c])) {
                    best[c] = a;
                    at[c] = pos;
                  }
                }
              }
            });
            for (std::int64_t c = 0; c < cb; ++c)
              if (at[c] >= 0) acc.get()[at[c] * cb + c] += convert_one<A>(gv[c]);
          } else {
            std::int64_t rows_inside = 0;
            for_each_input_line(g, od, oh, [&](std::int64_t, std::int64_t, std::int64_t, std::int64_t) { ++rows_inside; });
            const std::int64_t count = rows_inside * (w.hi - w.lo);
            if (count == 0) continue;
            for (std::int64_t c = 0; c < cb; ++c) share[c] = convert_one<A>(gv[c]) / A(count);
            for_each_input_line(g, od, oh, [&](std::int64_t, std::int64_t, std::int64_t id, std::int64_t ih) {
              for (std::int64_t kw = w.lo; kw < w.hi; ++kw) {
                A* const a = acc.get() + ((id * g.in[1] + ih) * g.in[2] + w0 + kw) * cb;
                for (std::int64_t c = 0; c < cb; ++c) a[c] += share[c];
              }
            });
          }
        }
    for (std::int64_t pos = 0; pos < in_pos; ++pos) convert_run(acc.get() + pos * cb, gx + (n * in_pos + pos) * C + c0, cb);
  });
}

}  // namespace

void conv(const ConvPlan& p) {
  visit_float(p.dtype, "conv", [&](auto t) {
    using T = decltype(t);
    if (p.gy != nullptr) conv_depthwise_weights<T>(p);
    else if (p.adjoint && p.depthwise) conv_depthwise_adjoint<T>(p);
    else if (p.adjoint) conv_adjoint<T>(p);
    else if (p.depthwise) conv_depthwise<T>(p);
    else conv_regular<T>(p);
  });
}

void pool(const PoolPlan& p) {
  visit_float(p.dtype, "pool", [&](auto t) {
    if (p.gy != nullptr) pool_backward<decltype(t)>(p);
    else pool_typed<decltype(t)>(p);
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
