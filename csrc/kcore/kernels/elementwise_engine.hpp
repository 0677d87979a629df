// The elementwise engine: one output and up to kMaxOperands - 1 inputs of its shape (broadcast
// inputs have zero strides), computed by a small functor (elementwise_ops.hpp). Copies --
// transpose, permute_dimensions, cast, make-contiguous -- are the one-input functor Convert.
//
// Loop shapes (the plan is elementwise_plan.hpp):
//  - lines: runs along the output's contiguous last dim, cut into chunks that threads share.
//    Inputs contiguous along it are read in place, others gathered into an L1 buffer first: one
//    value along the line (a scalar, a broadcast column) laid out once, a reversed line read
//    backwards, other strides element by element. Large results go out with streaming stores.
//  - copies that transpose (a source dim other than the last is unit-stride): N x N register
//    blocks for same-type copies, L1 tiles (read source columns, write destination rows) for casts.
// Every element is computed on its own, so the cut into tasks never shows in a result.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kcore/elementwise_plan.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/elementwise_ops.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/stream.hpp"
#include "kcore/kernels/transpose.hpp"
#include "kcore/kernels/walk.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {

// The plan's dims except `skip` and the last (the dims a transposing copy walks per task).
inline int dims_but(const ElementwisePlan& p, int skip, LoopDim* out) {
  int n = 0;
  for (int k = 0; k + 1 < p.ndim; ++k)
    if (k != skip) out[n++] = p.dim[k];
  return n;
}

// The lines loop shape (see the top of the file) for every op: op.run(d, s, n) computes n
// outputs at d from contiguous inputs s[0..kInputs). `stream`: the op's run_streamed writes
// large results behind, with streaming stores.
template <class Op>
void run_lines(const ElementwisePlan& p, const Op& op, bool stream) {
  using D = typename Op::out_t;
  using S = typename Op::in_t;
  constexpr int K = Op::kInputs;
  constexpr std::int64_t kBuf = tuning::kGatherElems;
  const int nd = p.ndim;
  const LoopDim& last = p.dim[nd - 1];
  const std::int64_t inner = last.size;
  const std::int64_t chunk = std::min(inner, tuning::kCopyChunk);
  const std::int64_t per_line = (inner + chunk - 1) / chunk;
  const std::int64_t lines = p.size / inner;
  bool contiguous = true;
  for (int k = 0; k < K; ++k)
    contiguous &= last.stride[kIn + k] == static_cast<std::int64_t>(sizeof(S)) && p.period[kIn + k] == 0;
  // Periodic inputs (a short row repeated along the line) are read from the row laid out
  // kPattern times over, at the phase where the run starts.
  constexpr std::int64_t kMaxPeriod = 256 / sizeof(D);
  constexpr std::int64_t kPattern = kBuf + kMaxPeriod;
  // Streaming stores pay where every input arrives whole; behind element-by-element gathers
  // the stores wait on the reads anyway.
  bool gathers = false;
  for (int k = 0; k < K; ++k)
    gathers |= p.period[kIn + k] == 0 && last.stride[kIn + k] != 0 && last.stride[kIn + k] != static_cast<std::int64_t>(sizeof(S));
  parallel_for(0, lines * per_line, std::max<std::int64_t>(1, tuning::kGrain / chunk), [&](std::int64_t b, std::int64_t e) {
    if (contiguous && per_line == 1) {  // whole lines: the walker's odometer, no division per line
      for_each_offset<K + 1>(p.dim, nd - 1, b, e, [&](const std::array<std::int64_t, K + 1> off) {
        D* d = reinterpret_cast<D*>(p.data[kOut] + off[kOut]);
        const S* s[K];
        for (int k = 0; k < K; ++k) s[k] = reinterpret_cast<const S*>(p.data[kIn + k] + off[kIn + k]);
        if (stream) op.run_streamed(d, s, inner);
        else op.run(d, s, inner);
      });
      if (stream) stream_fence();
      return;
    }
    alignas(64) S buf[K][kBuf];  // (uninitialised: only filled for gathered inputs)
    alignas(64) S pattern[K][kPattern];  // (filled only for periodic inputs)
    const char* pattern_of[K] = {};
    for (std::int64_t task = b; task < e; ++task) {
      const std::int64_t l = task / per_line, i0 = (task % per_line) * chunk;
      const std::int64_t n = std::min(chunk, inner - i0);
      std::int64_t off[K + 1];
      offsets_of(l, p.dim, nd - 1, off);
      D* d = reinterpret_cast<D*>(p.data[kOut] + off[kOut]) + i0;
      const char* at[K];
      for (int k = 0; k < K; ++k) at[k] = p.data[kIn + k] + off[kIn + k] + i0 * last.stride[kIn + k];
      if (contiguous) {
        const S* s[K];
        for (int k = 0; k < K; ++k) s[k] = reinterpret_cast<const S*>(at[k]);
        if (stream) op.run_streamed(d, s, n);
        else op.run(d, s, n);
        continue;
      }
      for (std::int64_t j = 0; j < n; j += kBuf) {
        const std::int64_t m = std::min(kBuf, n - j);
        const S* s[K];
        for (int k = 0; k < K; ++k) {
          const std::int64_t period = p.period[kIn + k];
          if (period != 0) {
            const char* row = p.data[kIn + k] + off[kIn + k];
            if (pattern_of[k] != row) {
              pattern_of[k] = row;
              for (std::int64_t i = 0; i < kPattern; ++i)
                std::memcpy(&pattern[k][i], row + (i % period) * sizeof(S), sizeof(S));
            }
            s[k] = pattern[k] + (i0 + j) % period;
            continue;
          }
          const std::int64_t step = last.stride[kIn + k];
          if (step == 0) {  // one value along the line (a scalar, a broadcast column): laid out once
            if (pattern_of[k] != at[k]) {
              pattern_of[k] = at[k];
              S v;
              std::memcpy(&v, at[k], sizeof v);
              std::fill(pattern[k], pattern[k] + std::min(kBuf, chunk), v);  // (short lines: what they read)
            }
            s[k] = pattern[k];
            continue;
          }
          if (step == static_cast<std::int64_t>(sizeof(S))) {
            s[k] = reinterpret_cast<const S*>(at[k]) + j;
            continue;
          }
          if (step == -static_cast<std::int64_t>(sizeof(S))) {  // a reversed line
            const S* r = reinterpret_cast<const S*>(at[k] + j * step);
            for (std::int64_t i = 0; i < m; ++i) buf[k][i] = r[-i];
            s[k] = buf[k];
            continue;
          }
          for (std::int64_t i = 0; i < m; ++i) std::memcpy(&buf[k][i], at[k] + (j + i) * step, sizeof(S));
          s[k] = buf[k];
        }
        if (stream && !gathers) op.run_streamed(d + j, s, m);
        else op.run(d + j, s, m);
      }
    }
    if (stream) stream_fence();
  });
}

#ifdef KCORE_REGISTER_TRANSPOSE
// A transpose without conversion where dim t is unit-stride in the source (and the last dim in
// the destination). A task is one 64-byte line of destination columns (64/E source rows, read as
// sequential streams) across a span of t, transposed in N x N register blocks. Results larger
// than the caches are written with streaming stores of whole lines: a transpose writes each line
// in a different place, and ordinary stores would first read every line they write.
template <class T>
void transpose_blocks(const ElementwisePlan& p) {
  using U = uint_of<T>;
  using RT = RegisterTranspose<U>;
  constexpr std::int64_t E = sizeof(T), N = RT::N, kLine = kLineBytes, JB = kLine / E;
  constexpr std::int64_t kSpan = tuning::kTransposeSpanBytes / E;  // t values per task: 64/E source rows
  const int nd = p.ndim, t = p.src_inner;
  const std::int64_t nt = p.dim[t].size, inner = p.dim[nd - 1].size;
  const std::int64_t ss_j = p.dim[nd - 1].stride[kIn], ds_t = p.dim[t].stride[kOut];
  LoopDim outer_dims[kMaxDims];
  const int n_outer = dims_but(p, t, outer_dims);
  const std::int64_t outer = p.size / (nt * inner);
  const std::int64_t jblocks = (inner + JB - 1) / JB, spans = (nt + kSpan - 1) / kSpan;
  const bool stream = tuning::stream_writes(p.size * E) && ds_t % kLine == 0 &&
                      reinterpret_cast<std::uintptr_t>(p.data[kOut]) % kLine == 0;
  parallel_for(0, outer * jblocks * spans, std::max<std::int64_t>(1, tuning::kGrain / (JB * kSpan)),
               [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t task = b; task < e; ++task) {
      const std::int64_t o = task / (jblocks * spans), rest = task % (jblocks * spans);
      const std::int64_t j0 = (rest / spans) * JB, i0 = (rest % spans) * kSpan;
      const std::int64_t nj = std::min(JB, inner - j0), ni = std::min(kSpan, nt - i0);
      std::int64_t off[kIn + 1];
      offsets_of(o, outer_dims, n_outer, off);
      const std::int64_t dof = off[kOut];
      const char* src = p.data[kIn] + off[kIn] + j0 * ss_j + i0 * E;
      char* dst = p.data[kOut] + dof + i0 * ds_t + j0 * E;
      const bool nt_store = stream && (dof + j0 * E) % kLine == 0;
      std::int64_t i = 0;
      if (nj == JB) {
        for (; i + N <= ni; i += N) {
          const char* s = src + i * E;
          char* d = dst + i * ds_t;
          if constexpr (N * E == kLine) {
            if (nt_store) RT::template block<true>(s, ss_j, d, ds_t);
            else RT::template block<false>(s, ss_j, d, ds_t);
          } else {
            // Narrower vectors: N x N blocks side by side fill N lines in L1, which then go out
            // whole (a line written in parts by streaming stores costs a read at the memory).
            alignas(64) char lines[N][kLine];
            for (std::int64_t jj = 0; jj < JB; jj += N) RT::template block<false>(s + jj * ss_j, ss_j, lines[0] + jj * E, kLine);
            for (std::int64_t r = 0; r < N; ++r) {
              if (nt_store) stream_bytes(d + r * ds_t, lines[r], kLine);
              else std::memcpy(d + r * ds_t, lines[r], kLine);
            }
          }
        }
      }
      for (; i < ni; ++i)  // edges: element by element
        for (std::int64_t j = 0; j < nj; ++j) std::memcpy(dst + i * ds_t + j * E, src + j * ss_j + i * E, E);
    }
    if (stream) stream_fence();
  });
}
#endif

// One S at p (any alignment), converted as NumPy's astype converts it.
template <class S, class D>
KCORE_INLINE D load_converted(const char* p) {
  S x;
  std::memcpy(&x, p, sizeof x);
  return convert_one<D>(x);
}

// Pixels of C channels (NHWC <-> NCHW) split into C planes, or planes merged into pixels. With C
// known and the pointers unaliased, GCC vectorizes the (de)interleave with permutes; a stride-C
// gather went element by element.
template <class U, int C>
void split_pixels(const U* __restrict px, U* __restrict planes, std::int64_t plane_stride, std::int64_t n) {
  for (std::int64_t r = 0; r < n; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) planes[c * plane_stride + r] = px[r * C + c];
}
template <class U, int C>
void merge_pixels(const U* __restrict planes, std::int64_t plane_stride, U* __restrict px, std::int64_t n) {
  for (std::int64_t r = 0; r < n; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) px[r * C + c] = planes[c * plane_stride + r];
}

// split_pixels or merge_pixels for 2 to 4 channels of plain copies; false where neither applies.
template <class S, class D>
bool pixels_copy(bool split, const char* src, char* dst, std::int64_t channels, std::int64_t plane_bytes,
                 std::int64_t n) {
  if constexpr (std::is_same_v<S, D>) {
    using U = std::conditional_t<sizeof(S) == 1, std::uint8_t, uint_of<S>>;
    constexpr std::int64_t E = sizeof(S);
    if (plane_bytes % E != 0) return false;
    const auto go = [&](auto c) {
      constexpr int C = decltype(c)::value;
      if (split) split_pixels<U, C>(reinterpret_cast<const U*>(src), reinterpret_cast<U*>(dst), plane_bytes / E, n);
      else merge_pixels<U, C>(reinterpret_cast<const U*>(src), plane_bytes / E, reinterpret_cast<U*>(dst), n);
      return true;
    };
    switch (channels) {
      case 2: return go(std::integral_constant<int, 2>{});
      case 3: return go(std::integral_constant<int, 3>{});
      case 4: return go(std::integral_constant<int, 4>{});
      default: return false;
    }
  } else {
    (void)split, (void)src, (void)dst, (void)channels, (void)plane_bytes, (void)n;
    return false;
  }
}

// A copy that converts while it transposes: dim t is contiguous in the source, the last dim in
// the destination. Square tiles that fit in L1: source columns read (and converted) into tile
// rows, destination rows written from tile columns.
template <class S, class D>
void transpose_tiles(const ElementwisePlan& p) {
  constexpr std::int64_t kTile = tuning::kCopyTile;
  const int nd = p.ndim, t = p.src_inner;
  const std::int64_t inner = p.dim[nd - 1].size, s_inner = p.dim[nd - 1].stride[kIn];
  const std::int64_t nt = p.dim[t].size;
  const std::int64_t ss_t = p.dim[t].stride[kIn], ds_t = p.dim[t].stride[kOut];
  LoopDim outer_dims[kMaxDims];
  const int n_outer = dims_but(p, t, outer_dims);
  const std::int64_t outer = p.size / (nt * inner);
  if (nt <= tuning::kFewRows || inner <= tuning::kFewRows) {
    // Few source columns or few destination columns (image channels: NHWC <-> NCHW): rows are
    // gathered at a stride directly, over a long run of the long dim; square tiles would be a
    // few elements wide and cost more in bookkeeping than in copying.
    constexpr std::int64_t kRun = tuning::kFewRowsRun;
    const bool few_src = nt <= tuning::kFewRows;
    const std::int64_t n_long = few_src ? inner : nt, runs = (n_long + kRun - 1) / kRun;
    const std::int64_t work = few_src ? nt : inner;
    parallel_for(0, outer * runs, std::max<std::int64_t>(1, tuning::kGrain / (work * kRun)), [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t task = b; task < e; ++task) {
        const std::int64_t r0 = (task % runs) * kRun, nr = std::min(kRun, n_long - r0);
        std::int64_t off[kIn + 1];
        offsets_of(task / runs, outer_dims, n_outer, off);
        const char* src = p.data[kIn] + off[kIn];
        char* dst = p.data[kOut] + off[kOut];
        if (few_src) {  // destination rows i, elements j = r0 + r: strided reads
          if (s_inner == nt * static_cast<std::int64_t>(sizeof(S)) && ss_t == static_cast<std::int64_t>(sizeof(S)) &&
              pixels_copy<S, D>(true, src + r0 * s_inner, dst + r0 * static_cast<std::int64_t>(sizeof(D)), nt, ds_t, nr))
            continue;
          for (std::int64_t i = 0; i < nt; ++i) {
            const char* col = src + i * ss_t + r0 * s_inner;
            D* row = reinterpret_cast<D*>(dst + i * ds_t) + r0;
            for (std::int64_t r = 0; r < nr; ++r) row[r] = load_converted<S, D>(col + r * s_inner);
          }
        } else {  // destination rows i = r0 + r of `inner` elements: strided writes of short rows
          if (ds_t == inner * static_cast<std::int64_t>(sizeof(D)) && ss_t == static_cast<std::int64_t>(sizeof(S)) &&
              pixels_copy<S, D>(false, src + r0 * ss_t, dst + r0 * ds_t, inner, s_inner, nr))
            continue;
          for (std::int64_t r = 0; r < nr; ++r) {
            const char* s = src + (r0 + r) * ss_t;
            D* row = reinterpret_cast<D*>(dst + (r0 + r) * ds_t);
            for (std::int64_t j = 0; j < inner; ++j) row[j] = load_converted<S, D>(s + j * s_inner);
          }
        }
      }
    });
    return;
  }
  const std::int64_t tiles_t = (nt + kTile - 1) / kTile, tiles_j = (inner + kTile - 1) / kTile;
  const std::int64_t tasks = outer * tiles_t * tiles_j;
  parallel_for(0, tasks, std::max<std::int64_t>(1, tuning::kGrain / (kTile * kTile)), [&](std::int64_t b, std::int64_t e) {
    alignas(64) D tile[kTile * kTile];
    for (std::int64_t task = b; task < e; ++task) {
      const std::int64_t o = task / (tiles_t * tiles_j);
      const std::int64_t rest = task % (tiles_t * tiles_j);
      const std::int64_t i0 = (rest / tiles_j) * kTile, j0 = (rest % tiles_j) * kTile;
      const std::int64_t ni = std::min(kTile, nt - i0), nj = std::min(kTile, inner - j0);
      std::int64_t off[kIn + 1];
      offsets_of(o, outer_dims, n_outer, off);
      const char* src = p.data[kIn] + off[kIn] + i0 * ss_t + j0 * s_inner;
      for (std::int64_t j = 0; j < nj; ++j) {
        const char* col = src + j * s_inner;
        if (ss_t == static_cast<std::int64_t>(sizeof(S))) {
          convert_run(reinterpret_cast<const S*>(col), tile + j * kTile, ni);
        } else {
          for (std::int64_t i = 0; i < ni; ++i) {
            S x;
            std::memcpy(&x, col + i * ss_t, sizeof x);
            tile[j * kTile + i] = convert_one<D>(x);
          }
        }
      }
      char* dst = p.data[kOut] + off[kOut] + i0 * ds_t + j0 * static_cast<std::int64_t>(sizeof(D));
      for (std::int64_t i = 0; i < ni; ++i) {
        D* row = reinterpret_cast<D*>(dst + i * ds_t);
        for (std::int64_t j = 0; j < nj; ++j) row[j] = tile[j * kTile + i];
      }
    }
  });
}

// n items of B bytes (B <= P < 2B): item j from s + j * stride to d + j * B. Each item moves as
// P bytes, a few instructions, where a B-byte memcpy cost a call: the bytes past an item land in
// the next output item, written after it, and come from the gap or the item next to it in memory
// (|stride| >= B) -- so the last output item and the source's highest item move exactly B bytes,
// and nothing is read past the highest item or written past the last.
template <int P>
void copy_item_run(char* d, const char* s, std::int64_t n, std::int64_t B, std::int64_t stride) {
  if (n <= 2) {
    for (std::int64_t j = 0; j < n; ++j) std::memcpy(d + j * B, s + j * stride, static_cast<std::size_t>(B));
    return;
  }
  std::int64_t j = 0;
  if (stride < 0) {  // (the source's highest item comes first)
    std::memcpy(d, s, static_cast<std::size_t>(B));
    j = 1;
  }
  for (; j < n - 1; ++j) std::memcpy(d + j * B, s + j * stride, P);
  std::memcpy(d + j * B, s + j * stride, static_cast<std::size_t>(B));
}

// The power of two that holds an item of B bytes (B <= 8): the size each one moves as.
constexpr int item_move_bytes(int B) { return B <= 2 ? 2 : B <= 4 ? 4 : 8; }

#if defined(__SSSE3__)
// Reversed runs of B-byte items (B <= 8; stride -B) 16 / B at a time: one 16-byte load of that many
// adjacent source items, one constant byte shuffle (pshufb) that reverses their order, one store.
// The bytes past a group (fewer than B) are read from item j - 1 (the next higher address) and
// land in the next output item, as copy_item_run's: the first item (the highest) and the run's
// tail go there.
template <int B>
struct ReversedItems {
  static constexpr int K = 16 / B;
  using V = unsigned char __attribute__((vector_size(16)));
  template <std::size_t... o>
  static constexpr V mask(std::index_sequence<o...>) {
    return V{static_cast<unsigned char>(o < K * B ? (K - 1 - o / B) * B + o % B : o)...};
  }
  static void run(char* d, const char* s, std::int64_t n) {
    constexpr V m = mask(std::make_index_sequence<16>{});
    if (n <= K + 1) return copy_item_run<item_move_bytes(B)>(d, s, n, B, -B);
    std::memcpy(d, s, B);
    std::int64_t j = 1;
    for (; j + K < n; j += K) {  // (item j + K, written after, takes the spill)
      V v;
      std::memcpy(&v, s - (j + K - 1) * B, 16);
      v = __builtin_shuffle(v, m);
      std::memcpy(d + j * B, &v, 16);
    }
    copy_item_run<item_move_bytes(B)>(d + j * B, s - j * B, n - j, B, -B);
  }
};
#endif

// A chunk of a line's items: the shuffled groups where the items are small and reversed in
// place, else copy_item_run.
template <int P>
void copy_item_chunk(char* d, const char* s, std::int64_t n, std::int64_t B, std::int64_t stride) {
#if defined(__SSSE3__)
  if constexpr (P <= 8) {
    if (stride == -B) {
      switch (B) {
        case 2: return ReversedItems<2>::run(d, s, n);
        case 3: return ReversedItems<3>::run(d, s, n);
        case 4: return ReversedItems<4>::run(d, s, n);
        case 5: return ReversedItems<5>::run(d, s, n);
        case 6: return ReversedItems<6>::run(d, s, n);
        case 7: return ReversedItems<7>::run(d, s, n);
        case 8: return ReversedItems<8>::run(d, s, n);
        default: break;
      }
    }
  }
#endif
  copy_item_run<P>(d, s, n, B, stride);
}

// Lines of items, in chunks of about kCopyChunk float32s' bytes so that a few long lines still
// spread over the threads; each chunk ends on an exact move, so chunks never write each other's.
template <int P>
void copy_items_by(const ElementwisePlan& p) {
  const int nd = p.ndim;
  const LoopDim& last = p.dim[nd - 1];
  const std::int64_t B = p.item_bytes, n = last.size, stride = last.stride[kIn];
  const std::int64_t lines = p.size * itemsize(p.dtype[kOut]) / (n * B);
  const std::int64_t chunk = std::min(n, std::max<std::int64_t>(1, tuning::kCopyChunk * 4 / B));
  const std::int64_t per_line = (n + chunk - 1) / chunk;
  parallel_for(0, lines * per_line, std::max<std::int64_t>(1, tuning::kGrain * 4 / (chunk * B)), [&](std::int64_t b, std::int64_t e) {
    if (per_line == 1) {
      for_each_offset<2>(p.dim, nd - 1, b, e, [&](const std::array<std::int64_t, 2> off) {
        copy_item_chunk<P>(p.data[kOut] + off[kOut], p.data[kIn] + off[kIn], n, B, stride);
      });
      return;
    }
    for (std::int64_t task = b; task < e; ++task) {
      const std::int64_t i0 = task % per_line * chunk, m = std::min(chunk, n - i0);
      std::int64_t off[2];
      offsets_of(task / per_line, p.dim, nd - 1, off);
      copy_item_chunk<P>(p.data[kOut] + off[kOut] + i0 * B, p.data[kIn] + off[kIn] + i0 * stride, m, B, stride);
    }
  });
}

// Same-type copies of items (ElementwisePlan::item_bytes), by the power of two that holds one.
inline void copy_items(const ElementwisePlan& p) {
  const std::int64_t B = p.item_bytes;
  if (B <= 2) return copy_items_by<2>(p);
  if (B <= 4) return copy_items_by<4>(p);
  if (B <= 8) return copy_items_by<8>(p);
  if (B <= 16) return copy_items_by<16>(p);
  if (B <= 32) return copy_items_by<32>(p);
  return copy_items_by<64>(p);
}

template <class S, class D>
void copy_typed(const ElementwisePlan& p) {
  if (p.item_bytes > 0) return copy_items(p);
  if (p.src_inner < 0) {
    // (A plain copy is memcpy, which picks its own stores.)
    const bool stream = !std::is_same_v<S, D> && tuning::stream_cast(p.size * static_cast<std::int64_t>(sizeof(D)));
    return run_lines(p, Convert<S, D>{}, stream);
  }
#ifdef KCORE_REGISTER_TRANSPOSE
  if constexpr (std::is_same_v<S, D> && sizeof(S) >= 2) {  // (register blocks of 2-8 byte lanes)
    // (Thin arrays, under one line of columns or one block of rows, keep the tiles.)
    constexpr std::int64_t kLineElems = kLineBytes / sizeof(S);
    if (p.dim[p.src_inner].stride[kIn] == static_cast<std::int64_t>(sizeof(S)) && p.dim[p.ndim - 1].size >= kLineElems &&
        p.dim[p.src_inner].size >= RegisterTranspose<uint_of<S>>::N)
      return transpose_blocks<S>(p);
  }
#endif
  transpose_tiles<S, D>(p);
}

}  // namespace KCORE_ISA
}  // namespace kcore
