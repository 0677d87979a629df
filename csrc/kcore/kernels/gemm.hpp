// Batched GEMM. Operands are packed into cache-sized panels (which also handles any strides and
// the float16 -> float32 widening), then an MR x NR register-blocked micro-kernel with fused
// multiply-adds computes each tile. float16 accumulates in float32 over the whole K and is
// rounded once. Threads take (item, row block, column block) tasks; each C element is computed
// by one thread in a fixed order, so results do not depend on the thread count.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

#include "kcore/blas.hpp"
#include "kcore/gemm_plan.hpp"
#include "kcore/kernels/accumulate.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/scratch.hpp"
#include "kcore/kernels/simd.hpp"
#include "kcore/kernels/transpose.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {

template <class T>
struct GemmTraits {
  using A = widen_t<T>;  // float16 computes in float32
  static constexpr int L = kLanes<A>;
  static constexpr int NRV = 2;  // vectors per micro-tile row
  static constexpr int NR = NRV * L;
  // Rows per micro-tile: MR x NRV accumulators plus NRV B vectors fill the register file
  // (32 vector registers with AVX-512: 14 x 2 + 2; 16 below).
  static constexpr int MR = kVecBytes == 64 ? 14 : (kVecBytes == 16 ? 4 : 6);
  static constexpr std::int64_t KC = tuning::kGemmKC;
  static constexpr std::int64_t MC = MR * tuning::kGemmMCTiles;
  static constexpr std::int64_t NC = NR * tuning::kGemmNCTiles;
};

#ifdef KCORE_REGISTER_TRANSPOSE
// W lanes, each contiguous along k, into out[k * W + j]: for every N steps, the lanes in groups
// of N (one vector each, the last group padded by re-reading its first lane) are transposed in
// registers, so a step's group goes out as one vector store (masked where the group is short).
// A scalar copy costs a load and a store per element. Returns the steps packed (whole N).
template <class T, class A, int W>
std::int64_t pack_transposed(const T* const (&lane)[W], std::int64_t kc, A* out) {
  using RT = RegisterTranspose<A>;
  constexpr int N = RT::N;
  std::int64_t k = 0;
  for (; k + N <= kc; k += N) {
#pragma GCC unroll 4
    for (int g0 = 0; g0 < W; g0 += N) {
      const int count = std::min<int>(N, W - g0);  // lanes in this group
      typename RT::V r[N];
#pragma GCC unroll 16
      for (int u = 0; u < N; ++u) r[u] = load_widened<A>(lane[g0 + (u < count ? u : 0)] + k);
      RT::transpose(r);
#pragma GCC unroll 16
      for (int i = 0; i < N; ++i) {
        A* dst = out + (k + i) * W + g0;
        if (count == N) std::memcpy(dst, &r[i], sizeof r[i]);
        else store_partial(dst, r[i], count);
      }
    }
  }
  return k;
}
#endif

// Packs one panel: out[k * W + j] = element (lane j, step k) for j < lanes, zeros after. Three
// layouts: a step's lanes adjacent (copies of `lanes` elements), each lane contiguous along k
// (A's rows in a row-major product: W streams read side by side and transposed in registers),
// anything else element by element.
template <class T, class A, int W>
void pack_panel(const char* src, std::int64_t lane_stride, std::int64_t k_stride, std::int64_t lanes, std::int64_t kc,
                A* out) {
  constexpr std::int64_t item = sizeof(T);
  const auto zero_tail = [&](A* row) { std::fill(row + lanes, row + W, A(0)); };
  if (lane_stride == item) {
    if constexpr (std::is_same_v<T, A>) {
      if (lanes == W) {  // fixed-size copies vectorise; a library memcpy of W elements costs more
        // Successive steps are k_stride apart (a page or more for a large row-major B), past
        // where the hardware prefetchers follow: fetch a step ahead.
        constexpr std::int64_t kPackAhead = tuning::kGemmPackAhead;
        for (std::int64_t k = 0; k < kc; ++k) {
          const T* p = reinterpret_cast<const T*>(src + k * k_stride);
          if (k + kPackAhead < kc)
#pragma GCC unroll 4
            for (int c = 0; c < W * int(sizeof(T)); c += 64) __builtin_prefetch(src + (k + kPackAhead) * k_stride + c, 0, 3);
#pragma GCC unroll 32
          for (int j = 0; j < W; ++j) out[k * W + j] = p[j];
        }
        return;
      }
    }
    for (std::int64_t k = 0; k < kc; ++k) {
      convert_run(reinterpret_cast<const T*>(src + k * k_stride), out + k * W, lanes);
      zero_tail(out + k * W);
    }
    return;
  }
  if (k_stride == item) {
    const T* lane[W];
    for (std::int64_t j = 0; j < lanes; ++j) lane[j] = reinterpret_cast<const T*>(src + j * lane_stride);
    if (lanes == W) {
      std::int64_t k = 0;
#ifdef KCORE_REGISTER_TRANSPOSE
      k = pack_transposed<T, A, W>(lane, kc, out);
#endif
      for (; k < kc; ++k)
#pragma GCC unroll 32
        for (int j = 0; j < W; ++j) out[k * W + j] = convert_one<A>(lane[j][k]);
      return;
    }
    for (std::int64_t k = 0; k < kc; ++k) {
      for (std::int64_t j = 0; j < lanes; ++j) out[k * W + j] = convert_one<A>(lane[j][k]);
      zero_tail(out + k * W);
    }
    return;
  }
  for (std::int64_t k = 0; k < kc; ++k) {
    for (std::int64_t j = 0; j < lanes; ++j) {
      T x;
      std::memcpy(&x, src + j * lane_stride + k * k_stride, sizeof x);
      out[k * W + j] = convert_one<A>(x);
    }
    zero_tail(out + k * W);
  }
}

// Packs rows [m0, m0+mc) x cols [k0, k0+kc) of A into MR-row panels: panel[p][k][r].
template <class T, class A, int MR>
void pack_a(const GemmPlan& g, const char* a, std::int64_t m0, std::int64_t mc, std::int64_t k0, std::int64_t kc, A* out) {
  for (std::int64_t p = 0; p < mc; p += MR, out += kc * MR)
    pack_panel<T, A, MR>(a + (m0 + p) * g.a.row + k0 * g.a.col, g.a.row, g.a.col, std::min<std::int64_t>(MR, mc - p), kc, out);
}

// Packs an MR-row panel of A from its rows' starts (GemmRowsOfA) and the k block's runs:
// out[k * MR + r], widened to A. Rows past `lanes` repeat row 0 (their results are never stored).
template <class T, class A, int MR>
void pack_a_rows(const T* const* row, const GemmRun* runs, std::int64_t nruns, A* out) {
  for (std::int64_t u = 0; u < nruns; ++u) {
    const T* lane[MR];
    for (int r = 0; r < MR; ++r) lane[r] = row[r] + runs[u].offset;
    A* const dst = out + runs[u].col * MR;
    std::int64_t k = 0;
#ifdef KCORE_REGISTER_TRANSPOSE
    k = pack_transposed<T, A, MR>(lane, runs[u].len, dst);
#endif
    for (; k < runs[u].len; ++k)
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) dst[k * MR + r] = convert_one<A>(lane[r][k]);
  }
}

// Packs rows [k0, k0+kc) x cols [n0, n0+nc) of B into NR-column panels: panel[p][k][c].
template <class T, class A, int NR>
void pack_b(const GemmPlan& g, const char* b, std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, A* out) {
  for (std::int64_t p = 0; p < nc; p += NR, out += kc * NR)
    pack_panel<T, A, NR>(b + k0 * g.b.row + (n0 + p) * g.b.col, g.b.col, g.b.row, std::min<std::int64_t>(NR, nc - p), kc, out);
}

// One step k of a micro-tile: c[r] += a(r) * B's step k (NRV vectors at bk).
template <class A, int MR, int NRV, class AOf>
KCORE_INLINE void tile_step(vec<A> (&c)[MR][NRV], const A* bk, const AOf& a) {
  constexpr int L = kLanes<A>;
  vec<A> b[NRV];
#pragma GCC unroll 4
  for (int v = 0; v < NRV; ++v) b[v] = load(bk + v * L);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    const vec<A> ar = splat<A>(a(r));
#pragma GCC unroll 4
    for (int v = 0; v < NRV; ++v) c[r][v] = fmadd<A>(ar, b[v], c[r][v]);
  }
}

// out (MR x NR) = Apanel (kc x MR) . B (kc x NR, steps ldb apart: a packed panel's NR, or B's own
// row stride). The accumulators are locals whose address is never taken, so they live in
// registers for the whole k loop.
template <class A, int MR, int NRV>
inline void micro_kernel(const A* ap, const A* bp, std::int64_t ldb, std::int64_t kc, vec<A> (&out)[MR][NRV]) {
  vec<A> c[MR][NRV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NRV; ++v) c[r][v] = splat<A>(A(0));
  // Unrolled: the pointer and counter updates of a one-step loop compete with the FMAs for ports.
#pragma GCC unroll 4
  for (std::int64_t k = 0; k < kc; ++k) tile_step<A, MR, NRV>(c, bp + k * ldb, [&](int r) { return ap[k * MR + r]; });
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NRV; ++v) out[r][v] = c[r][v];
}

// micro_kernel with A read where it lies (GemmRowsOfA): row r's step k of run u is
// row[r][runs[u].offset + k]. The same multiply-adds in the same order as from a packed panel,
// so the bits do not depend on which of the two a tile takes.
template <class A, int MR, int NRV>
inline void micro_kernel_rows(const A* const* row, const GemmRun* runs, std::int64_t nruns, const A* bp,
                              std::int64_t ldb, vec<A> (&out)[MR][NRV]) {
  vec<A> c[MR][NRV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NRV; ++v) c[r][v] = splat<A>(A(0));
  for (std::int64_t u = 0; u < nruns; ++u) {
    const A* p[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) p[r] = row[r] + runs[u].offset;
    const std::int64_t len = runs[u].len;
#pragma GCC unroll 2
    for (std::int64_t k = 0; k < len; ++k) tile_step<A, MR, NRV>(c, bp + k * ldb, [&](int r) { return p[r][k]; });
    bp += len * ldb;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NRV; ++v) out[r][v] = c[r][v];
}

// The k block of B a column block's products read: packed NR panels at `pack`; or, with ld
// (B's row stride in elements), its whole panels where they lie from `data` (the block's first
// column) and only a last partial panel packed at `pack`.
template <class A>
struct BBlock {
  const A* data = nullptr;
  std::int64_t ld = 0;
  const A* pack = nullptr;
};

// Where a product's A comes from for one k block: a matrix, packed an MC block at a time into
// `apack`, or rows (GemmRowsOfA) with `rows` (MC + MR starts), `runs` (the block's columns) and
// `made` (MR x KC, for rows that are filled): each panel is read in place where it can be (flag
// in `own`; never for float16, which the micro-kernel reads widened), else packed.
template <class T>
struct ABlock {
  using A = widen_t<T>;
  A* apack = nullptr;
  const T** rows = nullptr;
  const GemmRun* runs = nullptr;
  std::int64_t nruns = 0;
  T* made = nullptr;
  bool* own = nullptr;
};

// Panels of rows [m0, m0 + mc) of A given by rows over the k block: read in place, packed from
// their starts, or filled and packed (the panel has a window in the padding).
template <class T, int MR>
void prepare_rows(const GemmPlan& g, std::int64_t m0, std::int64_t mc, std::int64_t k0, std::int64_t kc,
                  const ABlock<T>& src) {
  using A = widen_t<T>;
  constexpr std::int64_t item = sizeof(T);
  for (std::int64_t p = 0; p < mc; p += MR) {
    const std::int64_t lanes = std::min<std::int64_t>(MR, mc - p);
    const T** const rows = src.rows + p;
    A* const out = src.apack + p * kc;
    bool& own = src.own[p / MR];
    if (g.a_rows.starts(g.a_rows.ctx, m0 + p, lanes, reinterpret_cast<const char**>(rows))) {
      std::fill(rows + lanes, rows + MR, rows[0]);  // a short panel's missing rows
      own = std::is_same_v<T, A> && g.a_rows.in_place;
      if (!own) pack_a_rows<T, A, MR>(rows, src.runs, src.nruns, out);
    } else {
      own = false;
      g.a_rows.fill(g.a_rows.ctx, m0 + p, lanes, k0, kc, reinterpret_cast<char*>(src.made));
      pack_panel<T, A, MR>(reinterpret_cast<const char*>(src.made), kc * item, item, lanes, kc, out);
    }
  }
}

// C rows [m0, m1) (in MC blocks of whole MR panels) of one product over the k block
// [k0, k0 + kc) and a column block of nc columns, from a packed B block: for each NR panel of B
// (kept in L1), every MR panel of the A block (kept in L2). cw is the block's first row and
// column (row stride ldc). The first k block stores, the others add. Each C element is one
// chain of multiply-adds per k block, whatever tile or thread computes it, so neither the split
// nor the thread count changes a bit.
template <class T>
void gemm_rows(const GemmPlan& g, const char* a, const BBlock<widen_t<T>>& b, std::int64_t k0, std::int64_t kc,
               std::int64_t nc, std::int64_t m0, std::int64_t m1, const ABlock<T>& src, widen_t<T>* cw,
               std::int64_t ldc, std::int64_t col0) {
  using Tr = GemmTraits<T>;
  using A = typename Tr::A;
  constexpr int MR = Tr::MR, NR = Tr::NR, NRV = Tr::NRV, L = Tr::L;
  const std::int64_t N = ldc;
  const bool first = k0 == 0;
  for (std::int64_t mb = m0; mb < m1; mb += Tr::MC) {
    const std::int64_t mc = std::min(Tr::MC, m1 - mb);
    if (src.rows != nullptr) prepare_rows<T, MR>(g, mb, mc, k0, kc, src);
    else pack_a<T, A, MR>(g, a, mb, mc, k0, kc, src.apack);
    for (std::int64_t jp = 0; jp < nc; jp += NR) {
      const std::int64_t cols = std::min<std::int64_t>(NR, nc - jp);
      // Whole panels of B read in place step over B's rows; the rest are packed.
      const bool whole = b.ld != 0 && cols == NR;
      const A* const bp = whole ? b.data + jp : b.pack + (b.ld != 0 ? 0 : (jp / NR) * kc * NR);
      const std::int64_t ldb = whole ? b.ld : NR;
      for (std::int64_t ip = 0; ip < mc; ip += MR) {
        const std::int64_t rows = std::min<std::int64_t>(MR, mc - ip);
        vec<A> acc[MR][NRV];
        A* c0 = cw + (mb - m0 + ip) * N + jp;
        // The tile's rows of C, from memory for large C, arrive while the k loop runs.
        for (std::int64_t r = 0; r < rows; ++r)
          for (std::int64_t j = 0; j < cols; j += 64 / std::int64_t(sizeof(A))) __builtin_prefetch(c0 + r * N + j, 1, 3);
        bool own = false;
        if constexpr (std::is_same_v<T, A>) {
          own = src.rows != nullptr && src.own[ip / MR];
          if (own) micro_kernel_rows<A, MR, NRV>(src.rows + ip, src.runs, src.nruns, bp, ldb, acc);
        }
        if (!own) micro_kernel<A, MR, NRV>(src.apack + (ip / MR) * kc * MR, bp, ldb, kc, acc);
        if (cols == NR) {
          for (std::int64_t r = 0; r < rows; ++r)
            for (int v = 0; v < NRV; ++v) store(c0 + r * N + v * L, first ? acc[r][v] : load(c0 + r * N + v * L) + acc[r][v]);
        } else {
          A tile[MR][NR];
          std::memcpy(tile, acc, sizeof tile);
          for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t j = 0; j < cols; ++j) c0[r * N + j] = first ? tile[r][j] : c0[r * N + j] + tile[r][j];
        }
      }
    }
    // The MC block's rows are final after the last k block: the epilogue, while they are in L2.
    if (k0 + kc == g.K) g.epilogue(reinterpret_cast<char*>(cw + (mb - m0) * N), mc, nc, N, col0, mb);
  }
}

// How a batch of packed products is split into tasks: (item, row block, column block), blocks in
// whole micro-tiles, handed out one at a time. Each task packs its own A rows and B columns
// (packing shared by the threads ran slower here: they wait for each other), so an item is cut
// in as few blocks as the threads need (kTasksPerThread), in a grid whose blocks keep that
// packing small next to the multiply-adds: rows : columns about M : N. Two tasks per thread
// would let an early thread take over some of a late one's work, but the extra packing cost
// more (bench/NOTES.md). The split never changes a bit of C.
struct GemmTasks {
  std::int64_t rows, cols, row_blocks, col_blocks;
};

inline GemmTasks gemm_tasks(std::int64_t batch, std::int64_t M, std::int64_t N, int MR, int NR, int threads) {
  constexpr std::int64_t kMinRows = tuning::kGemmMinRows, kMinCols = tuning::kGemmMinCols;
  constexpr std::int64_t kTasksPerThread = tuning::kGemmTasksPerThread;
  const std::int64_t want = std::max<std::int64_t>(1, (kTasksPerThread * threads + batch - 1) / batch);
  const std::int64_t max_rb = std::max<std::int64_t>(1, M / kMinRows), max_cb = std::max<std::int64_t>(1, N / kMinCols);
  std::int64_t rb = std::clamp<std::int64_t>(std::llround(std::sqrt(double(want) * double(M) / double(N))), 1, max_rb);
  const std::int64_t cb = std::clamp<std::int64_t>((want + rb - 1) / rb, 1, max_cb);
  rb = std::clamp<std::int64_t>((want + cb - 1) / cb, rb, max_rb);
  const auto round_up = [](std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; };
  GemmTasks t{};
  t.rows = round_up((M + rb - 1) / rb, MR);
  t.cols = round_up((N + cb - 1) / cb, NR);
  t.row_blocks = (M + t.rows - 1) / t.rows;
  t.col_blocks = (N + t.cols - 1) / t.cols;
  return t;
}

// Packed products (blocked for the caches after BLIS/GotoBLAS), in the tasks of gemm_tasks.
// float16 accumulates over all of K in float32 and is rounded once, in passes of rows whose
// float32 results fit kWideBytes per task.
template <class T>
void gemm_typed(const GemmPlan& g) {
  using Tr = GemmTraits<T>;
  using A = typename Tr::A;
  constexpr int MR = Tr::MR, NR = Tr::NR;
  const std::int64_t M = g.M, N = g.N, K = g.K;
  if (M == 0 || N == 0 || g.batch == 0) return;
  constexpr bool kHalf = std::is_same_v<T, half>;
  constexpr std::int64_t kWideBytes = tuning::kGemmWideBytes;
  const GemmTasks tasks = gemm_tasks(g.batch, M, N, MR, NR, get_num_threads());
  const std::int64_t pass_rows =
      kHalf ? std::min(tasks.rows, std::max<std::int64_t>(MR, kWideBytes / (tasks.cols * std::int64_t(sizeof(A))) / MR * MR))
            : tasks.rows;
  const std::int64_t kc_max = std::min<std::int64_t>(Tr::KC, std::max<std::int64_t>(K, 1));
  const std::int64_t nc_max = std::min<std::int64_t>(Tr::NC, tasks.cols);
  const std::size_t apack_size = static_cast<std::size_t>(Tr::MC * kc_max);
  const std::size_t bpack_size = static_cast<std::size_t>(((nc_max + NR - 1) / NR) * NR * kc_max);
  const std::int64_t per_item = tasks.row_blocks * tasks.col_blocks;
  const std::int64_t task_work = std::max<std::int64_t>(tasks.rows * tasks.cols * std::max<std::int64_t>(K, 1) / 16, 1);
  // Few rows per task would use a packed panel of B too little to pay for packing it: whole
  // panels of a B with contiguous rows are then read where they lie (same bits).
  const bool b_in_place = !kHalf && g.b.col == std::int64_t(sizeof(T)) && g.b.row % std::int64_t(sizeof(T)) == 0 &&
                          tasks.rows <= tuning::kGemmBInPlaceRows && g.b.row % tuning::kGemmBInPlaceAliasBytes != 0;
  parallel_tasks(g.batch * per_item, task_work, [&](std::int64_t task) {
    const std::int64_t bi = task / per_item, rb = task % per_item / tasks.col_blocks, cb = task % tasks.col_blocks;
    const std::int64_t m_end = std::min(M, (rb + 1) * tasks.rows);
    const std::int64_t c0 = cb * tasks.cols, c1 = std::min(N, c0 + tasks.cols);
    const bool by_rows = g.a_rows.active();
    AlignedBuffer<A> apack(apack_size), bpack(bpack_size), wide;
    AlignedBuffer<const T*> rows(by_rows ? static_cast<std::size_t>(Tr::MC + MR) : 0);
    AlignedBuffer<T> made(by_rows ? static_cast<std::size_t>(MR * kc_max) : 0);
    AlignedBuffer<bool> own(by_rows ? static_cast<std::size_t>(Tr::MC / MR) : 0);
    ABlock<T> src{apack.get(), by_rows ? rows.get() : nullptr, nullptr, 0, made.get(), own.get()};
    if constexpr (kHalf) wide.reset(static_cast<std::size_t>(pass_rows * tasks.cols));
    T* const c_item = reinterpret_cast<T*>(g.c) + bi * M * N;
    for (std::int64_t r0 = rb * tasks.rows; r0 < m_end; r0 += pass_rows) {
      const std::int64_t r1 = std::min(m_end, r0 + pass_rows);
      // Rows [r0, r1) x columns [c0, c1) accumulate at cw (float16: the wide buffer; else C).
      A* cw;
      std::int64_t ldc;
      if constexpr (kHalf) cw = wide.get(), ldc = c1 - c0;
      else cw = c_item + r0 * N + c0, ldc = N;
      for (std::int64_t k0 = 0; k0 < K; k0 += Tr::KC) {
        const std::int64_t kc = std::min(Tr::KC, K - k0);
        if (by_rows) src.runs = g.a_rows.runs(g.a_rows.ctx, k0, kc, &src.nruns);
        for (std::int64_t n0 = c0; n0 < c1; n0 += Tr::NC) {
          const std::int64_t nc = std::min(Tr::NC, c1 - n0);
          BBlock<A> bb{nullptr, 0, bpack.get()};
          const char* const b0 = g.b.data + bi * g.b.item;
          if (b_in_place) {
            bb.data = reinterpret_cast<const A*>(b0 + k0 * g.b.row) + n0;
            bb.ld = g.b.row / std::int64_t(sizeof(A));
            const std::int64_t tail = nc % NR;
            if (tail != 0) pack_b<T, A, NR>(g, b0, k0, kc, n0 + nc - tail, tail, bpack.get());
          } else {
            pack_b<T, A, NR>(g, b0, k0, kc, n0, nc, bpack.get());
          }
          gemm_rows<T>(g, g.a.data + bi * g.a.item, bb, k0, kc, nc, r0, r1, src, cw + (n0 - c0), ldc, n0);
        }
      }
      if (K == 0) {
        for (std::int64_t r = r0; r < r1; ++r) std::fill(cw + (r - r0) * ldc, cw + (r - r0) * ldc + (c1 - c0), A(0));
        g.epilogue(reinterpret_cast<char*>(cw), r1 - r0, c1 - c0, ldc, c0, r0);
      }
      if constexpr (kHalf)
        for (std::int64_t r = r0; r < r1; ++r) convert_run(cw + (r - r0) * ldc, c_item + r * N + c0, c1 - c0);
    }
  });
}

// Stores R rows of NB-vector accumulators to C (row stride N; the last vector holds `tail`).
template <class T, int NB, int R>
inline void store_rows(const vec<widen_t<T>> (&acc)[R][NB], T* c, std::int64_t N, int tail) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    if constexpr (!std::is_same_v<T, half>) {
      T* crow = c + r * N;
#pragma GCC unroll 8
      for (int j = 0; j < NB - 1; ++j) store(crow + j * L, acc[r][j]);
      if (tail == L) store(crow + (NB - 1) * L, acc[r][NB - 1]);
      else store_partial(crow + (NB - 1) * L, acc[r][NB - 1], tail);
    } else {
      alignas(64) A row[NB * L];
#pragma GCC unroll 8
      for (int j = 0; j < NB; ++j) store(row + j * L, acc[r][j]);
      convert_run(row, c + r * N, N);
    }
  }
}

// Register accumulators the small kernels may use: 32 vector registers with AVX-512, 16 below.
constexpr int kAccRegs = kVecBytes == 64 ? 24 : 10;
// Independent FMA chains needed to cover FMA latency on two ports.
constexpr int kMinChains = 8;

// R rows of C at a time, NB vectors of columns each: R * NB register accumulators. B rows are
// read at bw + k * ldb; the last vector holds N - (NB - 1) * L columns (masked in and out).
// With few rows, K is split into S interleaved chains (k = s mod S) summed at the end, so the
// FMAs do not wait on each other. Out of line, so that the accumulators get the register file
// to themselves (inlined into the per-item loop, they were spilled).
template <class T, int NB, int R>
[[gnu::noinline]] void small_rows(const GemmPlan& g, const char* a, const widen_t<T>* bw, std::int64_t ldb,
                                  std::int64_t m0, T* c) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
  constexpr int S = R * NB >= kMinChains ? 1 : (2 * R * NB >= kMinChains ? 2 : 4);
  const std::int64_t N = g.N, K = g.K;
  const int tail = static_cast<int>(N - (NB - 1) * L);  // 1..L
  // The accumulators' address is never taken (stores go through by-value helpers), so they
  // stay in registers for the whole k loop.
  vec<A> acc[S][R][NB];
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s)
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int j = 0; j < NB; ++j) acc[s][r][j] = splat<A>(A(0));
  const char* arow = a + m0 * g.a.row;
  const A* brow = bw;
  auto step = [&](vec<A>(&ac)[R][NB]) __attribute__((always_inline)) {
    if constexpr (R == 1) {  // each B vector read once, straight into its multiply-add (an array of 8 spilled)
      T x;
      std::memcpy(&x, arow, sizeof x);
      const vec<A> av = splat<A>(convert_one<A>(x));
#pragma GCC unroll 8
      for (int j = 0; j < NB - 1; ++j) ac[0][j] = fmadd<A>(av, load(brow + j * L), ac[0][j]);
      ac[0][NB - 1] = fmadd<A>(av, tail == L ? load(brow + (NB - 1) * L) : load_partial(brow + (NB - 1) * L, tail), ac[0][NB - 1]);
      arow += g.a.col;
      brow += ldb;
      return;
    }
    vec<A> b[NB];
#pragma GCC unroll 8
    for (int j = 0; j < NB - 1; ++j) b[j] = load(brow + j * L);
    b[NB - 1] = tail == L ? load(brow + (NB - 1) * L) : load_partial(brow + (NB - 1) * L, tail);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      T x;
      std::memcpy(&x, arow + r * g.a.row, sizeof x);
      const vec<A> av = splat<A>(convert_one<A>(x));
#pragma GCC unroll 8
      for (int j = 0; j < NB; ++j) ac[r][j] = fmadd<A>(av, b[j], ac[r][j]);
    }
    arow += g.a.col;
    brow += ldb;
  };
  std::int64_t k = 0;
  for (; k + S <= K; k += S)
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) step(acc[s]);
  for (; k < K; ++k) step(acc[0]);
  if constexpr (S > 1) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int j = 0; j < NB; ++j) {
        if constexpr (S == 4) acc[0][r][j] = (acc[0][r][j] + acc[1][r][j]) + (acc[2][r][j] + acc[3][r][j]);
        else acc[0][r][j] = acc[0][r][j] + acc[1][r][j];
      }
  }
  store_rows<T, NB, R>(acc[0], c + m0 * N, N, tail);
}

// Rows [m, M) of one item, R rows at a time, then R/2, ..., 1 for the rest.
template <class T, int NB, int R>
inline void small_row_chunks(const GemmPlan& g, const char* a, const widen_t<T>* bw, std::int64_t ldb, std::int64_t m, T* c) {
  for (; m + R <= g.M; m += R) small_rows<T, NB, R>(g, a, bw, ldb, m, c);
  if constexpr (R > 1) small_row_chunks<T, NB, R / 2>(g, a, bw, ldb, m, c);
}

// One item with N <= NB * L: B widened into zero-padded rows of NB vectors.
template <class T, int NB>
inline void small_item(const GemmPlan& g, const char* a, const char* b, T* c, widen_t<T>* bw) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
  constexpr int R = kAccRegs / NB >= 16 ? 16 : (kAccRegs / NB >= 8 ? 8 : (kAccRegs / NB >= 4 ? 4 : (kAccRegs / NB >= 2 ? 2 : 1)));
  const std::int64_t N = g.N, K = g.K;
  if constexpr (!std::is_same_v<T, half>) {
    // B's rows are contiguous: read them in place (the last vector masked where the level can).
    if (g.b.col == static_cast<std::int64_t>(sizeof(T)) && (N == NB * L || kHasMaskedIo<T>) &&
        g.b.row % static_cast<std::int64_t>(sizeof(T)) == 0) {
      const A* bp = reinterpret_cast<const A*>(b);
      const std::int64_t ldb = g.b.row / static_cast<std::int64_t>(sizeof(T));
      small_row_chunks<T, NB, R>(g, a, bp, ldb, 0, c);
      return;
    }
  }
  for (std::int64_t k = 0; k < K; ++k) {
    A* dst = bw + k * NB * L;
    const char* row = b + k * g.b.row;
    if (g.b.col == static_cast<std::int64_t>(sizeof(T))) {
      convert_run(reinterpret_cast<const T*>(row), dst, N);
    } else {
      for (std::int64_t n = 0; n < N; ++n) {
        T x;
        std::memcpy(&x, row + n * g.b.col, sizeof x);
        dst[n] = convert_one<A>(x);
      }
    }
    for (std::int64_t n = N; n < NB * L; ++n) dst[n] = A(0);
  }
  small_row_chunks<T, NB, R>(g, a, bw, NB * L, 0, c);
}

// Tiny products (the common preprocessing case: many (1..32) x (1..32) matrices): no packing of
// A, no tiles; parallel over the batch only when there is enough work.
constexpr std::int64_t kSmallWork = tuning::kGemmSmallWork;

// Pairwise sum of a vector's lanes: lane j absorbs lane j + w for w = L/2, ..., 1, as
// whole-half vector adds (a lane-by-lane version round-trips through memory).
template <class A, int Bytes>
inline A lane_sum_bytes(typename vec_type<A, Bytes>::type v) {
  if constexpr (Bytes == static_cast<int>(sizeof(A))) {
    return v[0];
  } else {
    typename vec_type<A, Bytes / 2>::type lo, hi;
    std::memcpy(&lo, &v, sizeof lo);
    std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
    return lane_sum_bytes<A, Bytes / 2>(lo + hi);
  }
}

template <class A>
inline A lane_sum(vec<A> v) {
  return lane_sum_bytes<A, kVecBytes>(v);
}

// out[j] = sum_k a[k] * b[j][k] for J contiguous K-runs of B at once (J independent FMA chains).
template <class A, int J>
inline void dot_rows(const A* a, const A* const (&b)[J], std::int64_t K, A (&out)[J]) {
  constexpr int L = kLanes<A>;
  vec<A> acc[J];
#pragma GCC unroll 4
  for (int j = 0; j < J; ++j) acc[j] = splat<A>(A(0));
  std::int64_t k = 0;
  for (; k + L <= K; k += L) {
    const vec<A> av = load(a + k);
#pragma GCC unroll 4
    for (int j = 0; j < J; ++j) acc[j] = fmadd<A>(av, load(b[j] + k), acc[j]);
  }
  if (k < K) {  // the tail, zero-filled
    const int n = static_cast<int>(K - k);
    const vec<A> av = load_partial(a + k, n);
#pragma GCC unroll 4
    for (int j = 0; j < J; ++j) acc[j] = fmadd<A>(av, load_partial(b[j] + k, n), acc[j]);
  }
#pragma GCC unroll 4
  for (int j = 0; j < J; ++j) out[j] = lane_sum<A>(acc[j]);
}

// Inner-product form for B contiguous along K but strided along N (e.g. Keras's batch_dot docs
// layout): each C element is a dot product of two contiguous K-runs, four columns at a time.
template <class T>
void small_inner_item(const GemmPlan& g, const char* a, const char* b, T* c, widen_t<T>* abuf, widen_t<T>* bbuf) {
  using A = widen_t<T>;
  constexpr int J = 4;
  const std::int64_t K = g.K, N = g.N;
  // float16 columns are widened once per item into bbuf (N runs of K).
  if constexpr (std::is_same_v<T, half>)
    for (std::int64_t n = 0; n < N; ++n) widen_half(reinterpret_cast<const half*>(b + n * g.b.col), bbuf + n * K, K);
  auto column = [&](std::int64_t n) -> const A* {
    if constexpr (std::is_same_v<T, half>) return bbuf + n * K;
    else return reinterpret_cast<const A*>(b + n * g.b.col);
  };
  for (std::int64_t m = 0; m < g.M; ++m) {
    const A* ar;
    if (!std::is_same_v<T, half> && g.a.col == static_cast<std::int64_t>(sizeof(T))) {
      ar = reinterpret_cast<const A*>(a + m * g.a.row);
    } else {
      for (std::int64_t k = 0; k < K; ++k) {
        T x;
        std::memcpy(&x, a + m * g.a.row + k * g.a.col, sizeof x);
        abuf[k] = convert_one<A>(x);
      }
      ar = abuf;
    }
    T* crow = c + m * N;
    std::int64_t n = 0;
    for (; n + J <= N; n += J) {
      const A* const cols[J] = {column(n), column(n + 1), column(n + 2), column(n + 3)};
      A out[J];
      dot_rows<A, J>(ar, cols, K, out);
      for (int j = 0; j < J; ++j) crow[n + j] = narrow<T>(out[j]);
    }
    for (; n < N; ++n) {
      const A* const cols[1] = {column(n)};
      A out[1];
      dot_rows<A, 1>(ar, cols, K, out);
      crow[n] = narrow<T>(out[0]);
    }
  }
}

template <class T>
void gemm_small(const GemmPlan& g) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
  const std::int64_t nb = (g.N + L - 1) / L;
  const std::int64_t item = sizeof(T);
  // Items per thread: the grain counts multiply-adds, ~16 per element of work elsewhere.
  const std::int64_t grain = std::max<std::int64_t>(1, 16 * tuning::kGrain / std::max<std::int64_t>(g.M * g.N * g.K, 1));
  if (g.b.row == item && g.b.col != item && g.K >= L) {
    parallel_for(0, g.batch, grain, [&](std::int64_t b0, std::int64_t b1) {
      Scratch<A, 1024> abuf(g.K);
      Scratch<A, 4096> bbuf(std::is_same_v<T, half> ? g.K * g.N : 1);  // widened float16 columns
      for (std::int64_t bi = b0; bi < b1; ++bi)
        small_inner_item<T>(g, g.a.data + bi * g.a.item, g.b.data + bi * g.b.item, reinterpret_cast<T*>(g.c) + bi * g.M * g.N,
                            abuf.get(), bbuf.get());
    });
    return;
  }
  parallel_for(0, g.batch, grain, [&](std::int64_t b0, std::int64_t b1) {
    Scratch<A, 4096> rows(g.K * std::max<std::int64_t>(nb, 1) * L);  // B widened/padded, when not read in place
    A* const bw = rows.get();
    for (std::int64_t bi = b0; bi < b1; ++bi) {
      const char* a = g.a.data + bi * g.a.item;
      const char* b = g.b.data + bi * g.b.item;
      T* c = reinterpret_cast<T*>(g.c) + bi * g.M * g.N;
      switch (nb) {
        case 1: small_item<T, 1>(g, a, b, c, bw); break;
        case 2: small_item<T, 2>(g, a, b, c, bw); break;
        case 3: small_item<T, 3>(g, a, b, c, bw); break;
        case 4: small_item<T, 4>(g, a, b, c, bw); break;
        // Up to 8 vectors of columns: a row of accumulators still fits AVX2's 16 registers.
        case 5: small_item<T, 5>(g, a, b, c, bw); break;
        case 6: small_item<T, 6>(g, a, b, c, bw); break;
        case 7: small_item<T, 7>(g, a, b, c, bw); break;
        case 8: small_item<T, 8>(g, a, b, c, bw); break;
        default: {
          // Wide and short: accumulate C rows in memory (padded to whole vectors), a vector of a
          // B row at a time: read in place where its elements are contiguous, else first widened
          // into `wide` (the same multiply-adds whatever B's layout).
          const std::size_t padded = static_cast<std::size_t>(nb * L);
          std::unique_ptr<A[]> acc(new A[padded]), wide(new A[padded]());
          const bool in_place = !std::is_same_v<T, half> && g.b.col == item && g.b.row % item == 0;
          for (std::int64_t m = 0; m < g.M; ++m) {
            std::fill(acc.get(), acc.get() + padded, A(0));
            for (std::int64_t k = 0; k < g.K; ++k) {
              T x;
              std::memcpy(&x, a + m * g.a.row + k * g.a.col, sizeof x);
              const vec<A> av = splat<A>(convert_one<A>(x));
              const char* row = b + k * g.b.row;
              const A* br = wide.get();
              if (in_place) {
                br = reinterpret_cast<const A*>(row);
              } else {
                for (std::int64_t n = 0; n < g.N; ++n) {
                  T y;
                  std::memcpy(&y, row + n * g.b.col, sizeof y);
                  wide[n] = convert_one<A>(y);
                }
              }
              std::int64_t n = 0;
              for (; n + L <= g.N; n += L) store(acc.get() + n, fmadd<A>(av, load(br + n), load(acc.get() + n)));
              if (n < g.N) store(acc.get() + n, fmadd<A>(av, load_partial(br + n, static_cast<int>(g.N - n)), load(acc.get() + n)));
            }
            if constexpr (std::is_same_v<T, half>) convert_run(acc.get(), c + m * g.N, g.N);
            else std::memcpy(c + m * g.N, acc.get(), static_cast<std::size_t>(g.N) * sizeof(T));
          }
        }
      }
    }
  });
}

// Row-major BLAS view of a rows x cols operand with byte strides: NoTrans when its columns are
// contiguous, Trans when its rows are. False when neither (the native kernel packs those) or a
// size does not fit the library's 32-bit integers.
template <class T>
bool blas_operand(std::int64_t rows, std::int64_t cols, std::int64_t row_stride, std::int64_t col_stride, int& trans,
                  int& ld) {
  constexpr std::int64_t item = sizeof(T), kMax = std::numeric_limits<int>::max();
  if (rows > kMax || cols > kMax) return false;
  auto leading = [&](std::int64_t stride, std::int64_t at_least) {
    if (stride <= 0 || stride % item != 0 || stride / item < at_least || stride / item > kMax) return false;
    ld = static_cast<int>(stride / item);
    return true;
  };
  if (cols == 1 || col_stride == item) {
    trans = kCblasNoTrans;
    if (rows > 1) return leading(row_stride, std::max<std::int64_t>(cols, 1));
    ld = static_cast<int>(std::max<std::int64_t>(cols, 1));
    return true;
  }
  if (rows == 1 || row_stride == item) {
    trans = kCblasTrans;
    return leading(col_stride, std::max<std::int64_t>(rows, 1));
  }
  return false;
}

// The largest float32/float64 products (every dimension over blas_min_dim()) on the external BLAS
// (see kcore/blas.hpp), when one is loaded and the operands have a BLAS layout: OpenBLAS's
// blocking pulls ahead there (below, and on thin shapes, the packed kernel is as fast or faster;
// bench/NOTES.md). Each call is single-threaded; kcore runs a set of (item, row block, column
// block) tasks whose blocks depend on the shape and the machine's core count only, so results do
// not depend on the thread count. Blocks stay large: every call repacks its A and B and has a
// fixed cost. About one task per core; a batch of that many items is not split.
constexpr std::int64_t kBlasMinRows = tuning::kBlasMinRows, kBlasMinCols = tuning::kBlasMinCols;

template <class T>
bool gemm_blas(const GemmPlan& g) {
  const Blas* blas = kcore::blas();
  if (blas == nullptr) return false;
  constexpr std::int64_t item = sizeof(T);
  int trans_a = 0, trans_b = 0, lda = 0, ldb = 0;
  if (!blas_operand<T>(g.M, g.K, g.a.row, g.a.col, trans_a, lda) || !blas_operand<T>(g.K, g.N, g.b.row, g.b.col, trans_b, ldb))
    return false;
  const auto misaligned = [](const char* p, std::int64_t batch_stride) {
    return reinterpret_cast<std::uintptr_t>(p) % alignof(T) != 0 || batch_stride % item != 0;
  };
  if (misaligned(g.a.data, g.a.item) || misaligned(g.b.data, g.b.item)) return false;
  const std::int64_t M = g.M, N = g.N, K = g.K;
  const std::int64_t tasks = std::min<std::int64_t>(machine_cores(), tuning::kBlasMaxTasks);
  const std::int64_t blocks_wanted = std::max<std::int64_t>(1, (tasks + g.batch - 1) / g.batch);
  const std::int64_t want = std::max((M + blocks_wanted - 1) / blocks_wanted, kBlasMinRows);
  const std::int64_t rows_per_block = std::min(M, (want + 15) / 16 * 16);
  const std::int64_t blocks = (M + rows_per_block - 1) / rows_per_block;
  // Few rows (a batch-1 layer: M = 49, N = 512): column blocks too, or one thread does it all.
  const std::int64_t col_wanted = std::max<std::int64_t>(1, (blocks_wanted + blocks - 1) / blocks);
  const std::int64_t col_want = std::max((N + col_wanted - 1) / col_wanted, kBlasMinCols);
  const std::int64_t cols_per_block = std::min(N, (col_want + 15) / 16 * 16);
  const std::int64_t col_blocks = (N + cols_per_block - 1) / cols_per_block;
  const std::int64_t per_item = blocks * col_blocks;
  // Work in tuning::kGrain's units (elements touched): ~16 multiply-adds each.
  const std::int64_t block_work = std::max<std::int64_t>(rows_per_block * cols_per_block * K / 16, 1);
  count_blas_product();
  blas->keep_single_threaded();
  parallel_tasks(g.batch * per_item, block_work, [&](std::int64_t t) {
    const std::int64_t bi = t / per_item, r0 = (t % per_item / col_blocks) * rows_per_block;
    const std::int64_t n0 = (t % col_blocks) * cols_per_block;
    const int rows = static_cast<int>(std::min(rows_per_block, M - r0));
    const int cols = static_cast<int>(std::min(cols_per_block, N - n0));
    const T* a = reinterpret_cast<const T*>(g.a.data + bi * g.a.item + (M > 1 ? r0 * g.a.row : 0));
    const T* b = reinterpret_cast<const T*>(g.b.data + bi * g.b.item + (N > 1 ? n0 * g.b.col : 0));
    T* c = reinterpret_cast<T*>(g.c) + (bi * M + r0) * N + n0;
    if constexpr (std::is_same_v<T, float>)
      blas->sgemm(kCblasRowMajor, trans_a, trans_b, rows, cols, static_cast<int>(K), 1.0f, a, lda, b, ldb, 0.0f, c,
                  static_cast<int>(N));
    else
      blas->dgemm(kCblasRowMajor, trans_a, trans_b, rows, cols, static_cast<int>(K), 1.0, a, lda, b, ldb, 0.0, c,
                  static_cast<int>(N));
  });
  return true;
}

}  // namespace KCORE_ISA
}  // namespace kcore
