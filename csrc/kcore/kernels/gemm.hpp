// Batched GEMM. Operands are packed into cache-sized panels (which also handles any strides and
// the float16 -> float32 widening), then an MR x NR register-blocked micro-kernel with fused
// multiply-adds computes each tile. float16 accumulates in float32 over the whole K and is
// rounded once. Threads split (batch, row block) pairs; each C element is computed by one
// thread in a fixed order, so results do not depend on the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "kcore/gemm_plan.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/copy_engine.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/simd.hpp"

namespace kcore {
namespace KCORE_ISA {

template <class A>
inline vec<A> fmadd(vec<A> a, vec<A> b, vec<A> c) {
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    if constexpr (std::is_same_v<A, float>) {
      __m512 r = _mm512_fmadd_ps(reinterpret_cast<__m512&>(a), reinterpret_cast<__m512&>(b), reinterpret_cast<__m512&>(c));
      return reinterpret_cast<vec<A>&>(r);
    } else {
      __m512d r = _mm512_fmadd_pd(reinterpret_cast<__m512d&>(a), reinterpret_cast<__m512d&>(b), reinterpret_cast<__m512d&>(c));
      return reinterpret_cast<vec<A>&>(r);
    }
  }
#endif
#if defined(__FMA__)
  if constexpr (kVecBytes == 32) {
    if constexpr (std::is_same_v<A, float>) {
      __m256 r = _mm256_fmadd_ps(reinterpret_cast<__m256&>(a), reinterpret_cast<__m256&>(b), reinterpret_cast<__m256&>(c));
      return reinterpret_cast<vec<A>&>(r);
    } else {
      __m256d r = _mm256_fmadd_pd(reinterpret_cast<__m256d&>(a), reinterpret_cast<__m256d&>(b), reinterpret_cast<__m256d&>(c));
      return reinterpret_cast<vec<A>&>(r);
    }
  }
#endif
  return a * b + c;
}

template <class T>
struct GemmTraits {
  using A = widen_t<T>;  // float16 computes in float32
  static constexpr int L = kLanes<A>;
  static constexpr int NRV = 2;  // vectors per micro-tile row
  static constexpr int NR = NRV * L;
  static constexpr int MR = kVecBytes == 16 ? 4 : 6;
  static constexpr std::int64_t KC = 256;
  static constexpr std::int64_t MC = MR * 16;
  static constexpr std::int64_t NC = NR * 64;
};

// Packs rows [m0, m0+mc) x cols [k0, k0+kc) of A into MR-row panels: panel[p][k][r].
template <class T, class A, int MR>
void pack_a(const GemmPlan& g, const char* a, std::int64_t m0, std::int64_t mc, std::int64_t k0, std::int64_t kc, A* out) {
  alignas(64) A row[GemmTraits<T>::KC];
  for (std::int64_t p = 0; p < mc; p += MR) {
    const std::int64_t rows = std::min<std::int64_t>(MR, mc - p);
    if (g.a_k == static_cast<std::int64_t>(sizeof(T))) {  // rows contiguous along k
      for (std::int64_t r = 0; r < rows; ++r) {
        convert_run(reinterpret_cast<const T*>(a + (m0 + p + r) * g.a_m + k0 * g.a_k), row, kc);
        for (std::int64_t k = 0; k < kc; ++k) out[k * MR + r] = row[k];
      }
      for (std::int64_t r = rows; r < MR; ++r)
        for (std::int64_t k = 0; k < kc; ++k) out[k * MR + r] = A(0);
      out += kc * MR;
      continue;
    }
    for (std::int64_t k = 0; k < kc; ++k) {
      for (std::int64_t r = 0; r < rows; ++r) {
        T x;
        std::memcpy(&x, a + (m0 + p + r) * g.a_m + (k0 + k) * g.a_k, sizeof x);
        out[k * MR + r] = convert_one<A>(x);
      }
      for (std::int64_t r = rows; r < MR; ++r) out[k * MR + r] = A(0);
    }
    out += kc * MR;
  }
}

// Packs rows [k0, k0+kc) x cols [n0, n0+nc) of B into NR-column panels: panel[p][k][c].
template <class T, class A, int NR>
void pack_b(const GemmPlan& g, const char* b, std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, A* out) {
  const bool unit = g.b_n == static_cast<std::int64_t>(sizeof(T));
  for (std::int64_t p = 0; p < nc; p += NR) {
    const std::int64_t cols = std::min<std::int64_t>(NR, nc - p);
    for (std::int64_t k = 0; k < kc; ++k) {
      const char* row = b + (k0 + k) * g.b_k + (n0 + p) * g.b_n;
      A* dst = out + k * NR;
      if (unit) {
        convert_run(reinterpret_cast<const T*>(row), dst, cols);
      } else {
        for (std::int64_t c = 0; c < cols; ++c) {
          T x;
          std::memcpy(&x, row + c * g.b_n, sizeof x);
          dst[c] = convert_one<A>(x);
        }
      }
      for (std::int64_t c = cols; c < NR; ++c) dst[c] = A(0);
    }
    out += kc * NR;
  }
}

// out (MR x NR) = Apanel (kc x MR) . Bpanel (kc x NR). The accumulators are locals whose address
// is never taken, so they live in registers for the whole k loop.
template <class A, int MR, int NRV>
inline void micro_kernel(const A* ap, const A* bp, std::int64_t kc, vec<A> (&out)[MR][NRV]) {
  constexpr int L = kLanes<A>;
  vec<A> c[MR][NRV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NRV; ++v) c[r][v] = splat<A>(A(0));
  for (std::int64_t k = 0; k < kc; ++k) {
    vec<A> b[NRV];
#pragma GCC unroll 4
    for (int v = 0; v < NRV; ++v) b[v] = load(bp + k * NRV * L + v * L);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const vec<A> a = splat<A>(ap[k * MR + r]);
#pragma GCC unroll 4
      for (int v = 0; v < NRV; ++v) c[r][v] = fmadd<A>(a, b[v], c[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NRV; ++v) out[r][v] = c[r][v];
}

template <class T>
void gemm_typed(const GemmPlan& g) {
  using Tr = GemmTraits<T>;
  using A = typename Tr::A;
  constexpr int MR = Tr::MR, NR = Tr::NR, NRV = Tr::NRV, L = Tr::L;
  const std::int64_t M = g.M, N = g.N, K = g.K;
  if (M == 0 || N == 0 || g.batch == 0) return;
  // A task is (batch item, a group of row blocks): it packs each B panel once and reuses it for
  // all its rows. Items are split into groups only when there are too few to keep threads busy.
  const std::int64_t mblocks = (M + Tr::MC - 1) / Tr::MC;
  const std::int64_t want = 4 * static_cast<std::int64_t>(get_num_threads());
  const std::int64_t groups = g.batch >= want ? 1 : std::min(mblocks, (want + g.batch - 1) / g.batch);
  const std::int64_t rows_per_group = ((mblocks + groups - 1) / groups) * Tr::MC;
  const std::int64_t tasks = g.batch * groups;
  const std::int64_t macs = M * N * std::max<std::int64_t>(K, 1);
  const std::int64_t grain = std::max<std::int64_t>(1, 16 * kGrain * groups / std::max<std::int64_t>(macs, 1));
  parallel_for(0, tasks, grain, [&](std::int64_t tb, std::int64_t te) {
    const std::int64_t kc_max = std::min<std::int64_t>(Tr::KC, std::max<std::int64_t>(K, 1));
    const std::int64_t nc_max = std::min<std::int64_t>(Tr::NC, N);
    std::unique_ptr<A[]> apack(new A[static_cast<std::size_t>(((Tr::MC + MR - 1) / MR) * MR * kc_max)]);
    std::unique_ptr<A[]> bpack(new A[static_cast<std::size_t>(((nc_max + NR - 1) / NR) * NR * kc_max)]);
    // float16 results accumulate over all of K in float32 and are rounded once at the end.
    std::unique_ptr<A[]> wide;
    if constexpr (std::is_same_v<T, half>) wide.reset(new A[static_cast<std::size_t>(rows_per_group * N)]);
    for (std::int64_t t = tb; t < te; ++t) {
      const std::int64_t bi = t / groups;
      const std::int64_t r0 = (t % groups) * rows_per_group;
      const std::int64_t r1 = std::min(M, r0 + rows_per_group);
      if (r0 >= r1) continue;
      const char* a = g.a + bi * g.a_b;
      const char* b = g.b + bi * g.b_b;
      T* c = reinterpret_cast<T*>(g.c) + (bi * M + r0) * N;
      A* cw;  // where this task's rows accumulate (row stride N)
      if constexpr (std::is_same_v<T, half>) cw = wide.get();
      else cw = c;
      std::fill(cw, cw + (r1 - r0) * N, A(0));
      for (std::int64_t k0 = 0; k0 < K; k0 += Tr::KC) {
        const std::int64_t kc = std::min(Tr::KC, K - k0);
        for (std::int64_t n0 = 0; n0 < N; n0 += Tr::NC) {
          const std::int64_t nc = std::min(Tr::NC, N - n0);
          pack_b<T, A, NR>(g, b, k0, kc, n0, nc, bpack.get());
          for (std::int64_t m0 = r0; m0 < r1; m0 += Tr::MC) {
            const std::int64_t mc = std::min(Tr::MC, r1 - m0);
            pack_a<T, A, MR>(g, a, m0, mc, k0, kc, apack.get());
            for (std::int64_t jp = 0; jp < nc; jp += NR) {
              const std::int64_t cols = std::min<std::int64_t>(NR, nc - jp);
              const A* bp = bpack.get() + (jp / NR) * kc * NR;
              for (std::int64_t ip = 0; ip < mc; ip += MR) {
                const std::int64_t rows = std::min<std::int64_t>(MR, mc - ip);
                vec<A> acc[MR][NRV];
                micro_kernel<A, MR, NRV>(apack.get() + (ip / MR) * kc * MR, bp, kc, acc);
                A* c0 = cw + (m0 - r0 + ip) * N + n0 + jp;
                if (cols == NR) {
                  for (std::int64_t r = 0; r < rows; ++r)
                    for (int v = 0; v < NRV; ++v) {
                      vec<A> cv = load(c0 + r * N + v * L);
                      cv += acc[r][v];
                      std::memcpy(c0 + r * N + v * L, &cv, sizeof cv);
                    }
                } else {
                  A tile[MR][NR];
                  std::memcpy(tile, acc, sizeof tile);
                  for (std::int64_t r = 0; r < rows; ++r)
                    for (std::int64_t j = 0; j < cols; ++j) c0[r * N + j] += tile[r][j];
                }
              }
            }
          }
        }
      }
      if constexpr (std::is_same_v<T, half>) convert_run(cw, c, (r1 - r0) * N);
    }
  });
}

// R rows of C at a time, NB vectors of columns each: R * NB register accumulators. B rows are
// read at bw + k * ldb; the last vector holds N - (NB - 1) * L columns (masked in and out).
template <class T, int NB, int R>
inline void small_rows(const GemmPlan& g, const char* a, const widen_t<T>* bw, std::int64_t ldb, std::int64_t m0, T* c) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
  const std::int64_t N = g.N, K = g.K;
  const int tail = static_cast<int>(N - (NB - 1) * L);  // 1..L
  vec<A> acc[R][NB];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NB; ++j) acc[r][j] = splat<A>(A(0));
  for (std::int64_t k = 0; k < K; ++k) {
    vec<A> b[NB];
    const A* brow = bw + k * ldb;
    for (int j = 0; j < NB - 1; ++j) b[j] = load(brow + j * L);
    b[NB - 1] = tail == L ? load(brow + (NB - 1) * L) : load_partial(brow + (NB - 1) * L, tail);
    for (int r = 0; r < R; ++r) {
      T x;
      std::memcpy(&x, a + (m0 + r) * g.a_m + k * g.a_k, sizeof x);
      const vec<A> av = splat<A>(convert_one<A>(x));
      for (int j = 0; j < NB; ++j) acc[r][j] = fmadd<A>(av, b[j], acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r) {
    if constexpr (!std::is_same_v<T, half>) {
      T* crow = c + (m0 + r) * N;
      for (int j = 0; j < NB - 1; ++j) std::memcpy(crow + j * L, &acc[r][j], sizeof(vec<A>));
      if (tail == L) std::memcpy(crow + (NB - 1) * L, &acc[r][NB - 1], sizeof(vec<A>));
      else store_partial(crow + (NB - 1) * L, acc[r][NB - 1], tail);
    } else {
      alignas(64) A row[NB * L];
      std::memcpy(row, acc[r], sizeof row);
      convert_run(row, c + (m0 + r) * N, N);
    }
  }
}

// One item with N <= NB * L: B widened into zero-padded rows of NB vectors.
template <class T, int NB>
inline void small_item(const GemmPlan& g, const char* a, const char* b, T* c, widen_t<T>* bw) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
  constexpr int R = NB >= 8 ? 1 : 8 / NB;  // enough independent accumulators to hide FMA latency
  const std::int64_t N = g.N, K = g.K, M = g.M;
  if constexpr (!std::is_same_v<T, half>) {
    // B's rows are contiguous: read them in place (the last vector masked where the level can).
    if (g.b_n == static_cast<std::int64_t>(sizeof(T)) && (N == NB * L || kHasMaskedIo<T>) &&
        g.b_k % static_cast<std::int64_t>(sizeof(T)) == 0) {
      const A* bp = reinterpret_cast<const A*>(b);
      const std::int64_t ldb = g.b_k / static_cast<std::int64_t>(sizeof(T));
      std::int64_t m = 0;
      for (; m + R <= M; m += R) small_rows<T, NB, R>(g, a, bp, ldb, m, c);
      for (; m < M; ++m) small_rows<T, NB, 1>(g, a, bp, ldb, m, c);
      return;
    }
  }
  for (std::int64_t k = 0; k < K; ++k) {
    A* dst = bw + k * NB * L;
    const char* row = b + k * g.b_k;
    if (g.b_n == static_cast<std::int64_t>(sizeof(T))) {
      convert_run(reinterpret_cast<const T*>(row), dst, N);
    } else {
      for (std::int64_t n = 0; n < N; ++n) {
        T x;
        std::memcpy(&x, row + n * g.b_n, sizeof x);
        dst[n] = convert_one<A>(x);
      }
    }
    for (std::int64_t n = N; n < NB * L; ++n) dst[n] = A(0);
  }
  std::int64_t m = 0;
  for (; m + R <= M; m += R) small_rows<T, NB, R>(g, a, bw, NB * L, m, c);
  for (; m < M; ++m) small_rows<T, NB, 1>(g, a, bw, NB * L, m, c);
}

// Tiny products (the common preprocessing case: many (1..32) x (1..32) matrices): no packing of
// A, no tiles; parallel over the batch only when there is enough work.
constexpr std::int64_t kSmallWork = 32 * 32 * 32;

// Inner-product form for B contiguous along K but strided along N (e.g. Keras's batch_dot docs
// layout): each C element is a dot product of two contiguous K-runs.
template <class T>
void small_inner_item(const GemmPlan& g, const char* a, const char* b, T* c, widen_t<T>* abuf, widen_t<T>* bbuf) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
  const std::int64_t K = g.K;
  for (std::int64_t m = 0; m < g.M; ++m) {
    const A* ar;
    if (!std::is_same_v<T, half> && g.a_k == static_cast<std::int64_t>(sizeof(T))) {
      ar = reinterpret_cast<const A*>(a + m * g.a_m);
    } else {
      for (std::int64_t k = 0; k < K; ++k) {
        T x;
        std::memcpy(&x, a + m * g.a_m + k * g.a_k, sizeof x);
        abuf[k] = convert_one<A>(x);
      }
      ar = abuf;
    }
    for (std::int64_t n = 0; n < g.N; ++n) {
      const A* br;
      if constexpr (std::is_same_v<T, half>) {
        widen_half(reinterpret_cast<const half*>(b + n * g.b_n), bbuf, K);
        br = bbuf;
      } else {
        br = reinterpret_cast<const A*>(b + n * g.b_n);
      }
      vec<A> acc = splat<A>(A(0));
      std::int64_t k = 0;
      for (; k + L <= K; k += L) acc = fmadd<A>(load(ar + k), load(br + k), acc);
      A lanes[L];
      std::memcpy(lanes, &acc, sizeof lanes);
      A sum = 0;
      for (int l = 0; l < L; ++l) sum += lanes[l];
      for (; k < K; ++k) sum += ar[k] * br[k];
      if constexpr (std::is_same_v<T, half>) c[m * g.N + n] = narrow<half>(sum);
      else c[m * g.N + n] = sum;
    }
  }
}

template <class T>
void gemm_small(const GemmPlan& g) {
  using A = widen_t<T>;
  constexpr int L = kLanes<A>;
  const std::int64_t nb = (g.N + L - 1) / L;
  const std::int64_t item = sizeof(T);
  if (g.b_k == item && g.b_n != item && g.K >= L) {
    const std::int64_t per_item = std::max<std::int64_t>(g.M * g.N * g.K, 1);
    parallel_for(0, g.batch, std::max<std::int64_t>(1, 16 * kGrain / per_item), [&](std::int64_t b0, std::int64_t b1) {
      std::unique_ptr<A[]> abuf(new A[static_cast<std::size_t>(g.K)]), bbuf(new A[static_cast<std::size_t>(g.K)]);
      for (std::int64_t bi = b0; bi < b1; ++bi)
        small_inner_item<T>(g, g.a + bi * g.a_b, g.b + bi * g.b_b, reinterpret_cast<T*>(g.c) + bi * g.M * g.N,
                            abuf.get(), bbuf.get());
    });
    return;
  }
  const std::int64_t per_item = std::max<std::int64_t>(g.M * g.N * g.K, 1);
  // The grain counts multiply-adds: ~16 per element of work elsewhere.
  parallel_for(0, g.batch, std::max<std::int64_t>(1, 16 * kGrain / per_item), [&](std::int64_t b0, std::int64_t b1) {
    std::unique_ptr<A[]> bw(new A[static_cast<std::size_t>(std::max<std::int64_t>(g.K * std::max<std::int64_t>(nb, 1) * L, 1))]);
    for (std::int64_t bi = b0; bi < b1; ++bi) {
      const char* a = g.a + bi * g.a_b;
      const char* b = g.b + bi * g.b_b;
      T* c = reinterpret_cast<T*>(g.c) + bi * g.M * g.N;
      switch (nb) {
        case 1: small_item<T, 1>(g, a, b, c, bw.get()); break;
        case 2: small_item<T, 2>(g, a, b, c, bw.get()); break;
        case 3: small_item<T, 3>(g, a, b, c, bw.get()); break;
        case 4: small_item<T, 4>(g, a, b, c, bw.get()); break;
        default: {
          // Wide and short: accumulate C rows in memory, a column block at a time.
          std::unique_ptr<A[]> acc(new A[static_cast<std::size_t>(g.N)]);
          for (std::int64_t m = 0; m < g.M; ++m) {
            std::fill(acc.get(), acc.get() + g.N, A(0));
            for (std::int64_t k = 0; k < g.K; ++k) {
              T x;
              std::memcpy(&x, a + m * g.a_m + k * g.a_k, sizeof x);
              const A av = convert_one<A>(x);
              const char* row = b + k * g.b_k;
              for (std::int64_t n = 0; n < g.N; ++n) {
                T y;
                std::memcpy(&y, row + n * g.b_n, sizeof y);
                acc[n] += av * convert_one<A>(y);
              }
            }
            if constexpr (std::is_same_v<T, half>) convert_run(acc.get(), c + m * g.N, g.N);
            else std::memcpy(c + m * g.N, acc.get(), static_cast<std::size_t>(g.N) * sizeof(T));
          }
        }
      }
    }
  });
}

inline void gemm(const GemmPlan& g) {
  visit_float(g.dtype, "gemm", [&](auto t) {
    using T = decltype(t);
    if (g.M * g.N * g.K <= kSmallWork) gemm_small<T>(g);
    else gemm_typed<T>(g);
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
