// The strided copy engine: transpose, permute_dimensions, cast and make-contiguous all run here.
// Three loop shapes (see copy_plan.hpp): contiguous source runs, cache-blocked 2-D tiles for real
// transposes, and a generic strided walk.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "kcore/copy_plan.hpp"
#include "kcore/kernels/convert.hpp"
#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/simd.hpp"

namespace kcore {
namespace KCORE_ISA {

// One element, exactly as NumPy's astype converts it.
template <class D, class S>
inline D convert_one(S x) {
  if constexpr (std::is_same_v<S, D>) {
    return x;
  } else if constexpr (std::is_same_v<S, half>) {
    if constexpr (std::is_same_v<D, float>) return half_to_float(x);
    else return half_to_double(x);
  } else if constexpr (std::is_same_v<D, half>) {
    if constexpr (std::is_same_v<S, float>) return float_to_half(x);
    else return double_to_half(x);
  } else {
    return static_cast<D>(x);
  }
}

namespace detail {
typedef std::uint16_t u16x16 __attribute__((vector_size(32)));

// True if any of 16 halves is a NaN (hardware quiets signalling NaNs; NumPy does not).
inline bool any_half_nan(const half* s) {
  u16x16 h;
  std::memcpy(&h, s, sizeof h);
  const u16x16 nan = (h & 0x7fffu) > 0x7c00u;
  std::uint64_t w[4];
  std::memcpy(w, &nan, sizeof w);
  return (w[0] | w[1] | w[2] | w[3]) != 0;
}
}  // namespace detail

// Contiguous run: s[0, n) -> d[0, n).
template <class S, class D>
inline void convert_run(const S* s, D* d, std::int64_t n) {
  std::int64_t i = 0;
  if constexpr (std::is_same_v<S, D>) {
    std::memcpy(d, s, static_cast<std::size_t>(n) * sizeof(S));
    return;
  } else if constexpr (std::is_same_v<S, half>) {
#if defined(__AVX512F__) || defined(__F16C__)
    alignas(64) float buf[16];
    for (; i + 16 <= n; i += 16) {
      if (detail::any_half_nan(s + i)) {
        for (int l = 0; l < 16; ++l) d[i + l] = convert_one<D>(s[i + l]);
        continue;
      }
#if defined(__AVX512F__)
      const __m512 f = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
      if constexpr (std::is_same_v<D, float>) {
        _mm512_storeu_ps(d + i, f);
      } else {
        _mm512_storeu_pd(d + i, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
        _mm512_storeu_pd(d + i + 8, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
      }
#else
      for (int h = 0; h < 16; h += 8) {
        const __m256 f = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + h)));
        if constexpr (std::is_same_v<D, float>) {
          _mm256_storeu_ps(d + i + h, f);
        } else {
          _mm256_storeu_pd(d + i + h, _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
          _mm256_storeu_pd(d + i + h + 4, _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
        }
      }
#endif
    }
    (void)buf;
#endif
  } else if constexpr (std::is_same_v<D, half>) {
    // float32 -> float16 rounds to nearest even in hardware. float64 -> float16 goes through
    // float32 rounded to odd (truncate, then set the last bit if inexact): with 13 spare bits the
    // second rounding is then exact, so there is no double rounding. Blocks holding a NaN take
    // the software path, which keeps NaN payloads as NumPy does (hardware quiets them).
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
      __m512 f;
      if constexpr (std::is_same_v<S, float>) {
        f = _mm512_loadu_ps(s + i);
        if (_mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q)) {
          for (int l = 0; l < 16; ++l) d[i + l] = convert_one<half>(s[i + l]);
          continue;
        }
      } else {
        const __m512d lo = _mm512_loadu_pd(s + i), hi = _mm512_loadu_pd(s + i + 8);
        if (_mm512_cmp_pd_mask(lo, lo, _CMP_UNORD_Q) | _mm512_cmp_pd_mask(hi, hi, _CMP_UNORD_Q)) {
          for (int l = 0; l < 16; ++l) d[i + l] = convert_one<half>(s[i + l]);
          continue;
        }
        const auto to_odd = [](__m512d x) {
          const __m256 t = _mm512_cvt_roundpd_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
          const __mmask8 inexact = _mm512_cmp_pd_mask(_mm512_cvtps_pd(t), x, _CMP_NEQ_UQ);
          return _mm256_mask_or_epi32(_mm256_castps_si256(t), inexact, _mm256_castps_si256(t), _mm256_set1_epi32(1));
        };
        f = _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castsi256_si512(to_odd(lo)), to_odd(hi), 1));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), _mm512_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
#elif defined(__F16C__)
    for (; i + 8 <= n; i += 8) {
      __m256 f;
      if constexpr (std::is_same_v<S, float>) {
        f = _mm256_loadu_ps(s + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(f, f, _CMP_UNORD_Q))) {
          for (int l = 0; l < 8; ++l) d[i + l] = convert_one<half>(s[i + l]);
          continue;
        }
      } else {
        const __m256d lo = _mm256_loadu_pd(s + i), hi = _mm256_loadu_pd(s + i + 4);
        if (_mm256_movemask_pd(_mm256_or_pd(_mm256_cmp_pd(lo, lo, _CMP_UNORD_Q), _mm256_cmp_pd(hi, hi, _CMP_UNORD_Q)))) {
          for (int l = 0; l < 8; ++l) d[i + l] = convert_one<half>(s[i + l]);
          continue;
        }
        // Round to nearest, step one ulp towards zero where that went away from zero, then set
        // the last bit where inexact: the float rounded to odd.
        const __m256d sign = _mm256_set1_pd(-0.0);
        const auto to_odd = [sign](__m256d x) {
          const __m128 r = _mm256_cvtpd_ps(x);
          const __m256d back = _mm256_cvtps_pd(r);
          const __m256d away = _mm256_cmp_pd(_mm256_andnot_pd(sign, back), _mm256_andnot_pd(sign, x), _CMP_GT_OQ);
          const __m256d inexact = _mm256_cmp_pd(back, x, _CMP_NEQ_UQ);
          __m128i bits = _mm_castps_si128(r);
          bits = _mm_add_epi32(bits, _mm256_cvtpd_epi32(_mm256_and_pd(away, _mm256_set1_pd(-1.0))));
          return _mm_or_si128(bits, _mm_and_si128(_mm256_cvtpd_epi32(_mm256_and_pd(inexact, _mm256_set1_pd(1.0))), _mm_set1_epi32(1)));
        };
        f = _mm256_castsi256_ps(_mm256_set_m128i(to_odd(hi), to_odd(lo)));
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
    }
#endif
  } else {
    // float32 <-> float64: the vector conversion is what the C cast (and NumPy) does.
    constexpr int L = kLanes<double>;
    typedef S sv __attribute__((vector_size(L * sizeof(S))));
    typedef D dv __attribute__((vector_size(L * sizeof(D))));
    for (; i + L <= n; i += L) {
      sv x;
      std::memcpy(&x, s + i, sizeof x);
      const dv y = __builtin_convertvector(x, dv);
      std::memcpy(d + i, &y, sizeof y);
    }
  }
  for (; i < n; ++i) d[i] = convert_one<D>(s[i]);
}

// Writes a piece of results (n rows of `bytes`, at out + r * out_stride, to dst[r]) while the
// next piece is computed, `budget` bytes at a time. Written in one burst after their piece,
// large results held up the core while they drained to memory; spread over the next piece, they
// drain while it computes. Chunks end on lines of the destination, so only a row's ends take
// ordinary stores.
class WriteBehind {
 public:
  static constexpr int kMaxRows = 16;
  explicit WriteBehind(bool stream) : stream_(stream) {}
  // A new piece of n <= kMaxRows rows (the caller keeps `out` until the next start or finish);
  // what is left of the previous piece is written first.
  void start(const char* out, std::int64_t out_stride, char* const* dst, int n, std::int64_t bytes) {
    finish();
    out_ = out, out_stride_ = out_stride, n_ = n, bytes_ = bytes, row_ = 0, at_ = 0;
    for (int r = 0; r < n; ++r) dst_[r] = dst[r];
  }
  std::int64_t pending() const { return row_ < n_ ? (n_ - row_) * bytes_ - at_ : 0; }
  // At least `budget` bytes (to the end of a destination line), or what is left.
  void write(std::int64_t budget) {
    while (budget > 0 && row_ < n_) {
      char* const base = dst_[row_];
      const std::uintptr_t stop = (reinterpret_cast<std::uintptr_t>(base + at_) + static_cast<std::uintptr_t>(budget) +
                                   kLineBytes - 1) & ~std::uintptr_t(kLineBytes - 1);
      const std::int64_t end = std::min(bytes_, static_cast<std::int64_t>(stop - reinterpret_cast<std::uintptr_t>(base)));
      const char* const from = out_ + row_ * out_stride_ + at_;
      if (stream_) stream_bytes(base + at_, from, end - at_);
      else std::memcpy(base + at_, from, static_cast<std::size_t>(end - at_));
      budget -= end - at_;
      at_ = end;
      if (at_ == bytes_) ++row_, at_ = 0;
    }
  }
  void finish() { write(pending()); }

 private:
  bool stream_;
  const char* out_ = nullptr;
  std::int64_t out_stride_ = 0, bytes_ = 0, at_ = 0;
  int n_ = 0, row_ = 0;
  char* dst_[kMaxRows] = {};
};

// convert_run for results much larger than the caches: converted in L1 a step at a time, a
// piece (4 KB) of results written behind with streaming stores while the next converts
// (WriteBehind; 4096x4096 on 2 threads, time with/without: 0.85-0.98, float64 -> float32
// 1.02-1.06), the source prefetched four steps ahead (the hardware prefetchers alone kept too
// few lines in flight: float64 -> float16 21-22 GB/s without, 34-37 with; a piece's worth at
// once reached 30; float32 -> float16 +7%, the others within 2%). Pieces after the first start
// on a line of d.
template <class S, class D>
inline void convert_streamed(const S* s, D* d, std::int64_t n) {
  constexpr std::int64_t kPiece = 4096 / sizeof(D);
  constexpr std::int64_t kStep = 512 / sizeof(D);  // converted between two writes
  constexpr std::int64_t kAhead = 4 * kStep;
  alignas(64) D buf[2][kPiece];
  const std::int64_t misaligned = static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(d) % kLineBytes);
  std::int64_t len = misaligned % static_cast<std::int64_t>(sizeof(D)) == 0 ? kPiece - misaligned / static_cast<std::int64_t>(sizeof(D)) : kPiece;
  WriteBehind writer(true);
  int cur = 0;
  for (std::int64_t i = 0; i < n; i += len, len = kPiece, cur ^= 1) {
    len = std::min(len, n - i);
    const std::int64_t per_step = writer.pending() / ((len + kStep - 1) / kStep) + 1;
    for (std::int64_t j = 0; j < len; j += kStep) {
      const std::int64_t ahead = i + j + kAhead;
      if (ahead < n) prefetch_range(s + ahead, std::min(kStep, n - ahead) * static_cast<std::int64_t>(sizeof(S)));
      convert_run(s + i + j, buf[cur] + j, std::min(kStep, len - j));
      writer.write(per_step);
    }
    char* const dst = reinterpret_cast<char*>(d + i);
    writer.start(reinterpret_cast<const char*>(buf[cur]), 0, &dst, 1, len * static_cast<std::int64_t>(sizeof(D)));
  }
  writer.finish();
}

template <class S, class D>
inline void convert_strided(const char* s, std::int64_t stride, D* d, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    S x;
    std::memcpy(&x, s + i * stride, sizeof x);
    d[i] = convert_one<D>(x);
  }
}

// Byte offsets of row-major index `linear` over the first nd dims of the plan, leaving out `skip`.
inline void copy_offsets(const CopyPlan& p, int nd, std::int64_t linear, std::int64_t& so, std::int64_t& dof,
                         int skip = -1) {
  so = 0;
  dof = 0;
  for (int k = nd - 1; k >= 0; --k) {
    if (k == skip) continue;
    const std::int64_t i = linear % p.shape[k];
    linear /= p.shape[k];
    so += i * p.src_strides[k];
    dof += i * p.dst_strides[k];
  }
}

#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define KCORE_REGISTER_TRANSPOSE 1
#endif
#endif

#ifdef KCORE_REGISTER_TRANSPOSE
namespace detail {

// N x N blocks of U (N = kVecBytes / sizeof(U): one vector per row) transposed in registers.
// Stage B swaps bit B of the row index with bit B of the column index (the off-diagonal B x B
// blocks of every 2B x 2B block); the log2(N) stages together are the transpose.
template <class U>
struct RegisterTranspose {
  static constexpr int N = kVecBytes / static_cast<int>(sizeof(U));
  typedef U V __attribute__((vector_size(kVecBytes)));

  template <int B, std::size_t... I>
  static V upper(V a, V b, std::index_sequence<I...>) {  // row with bit B clear
    return __builtin_shufflevector(a, b, ((I & B) ? N + static_cast<int>(I) - B : static_cast<int>(I))...);
  }
  template <int B, std::size_t... I>
  static V lower(V a, V b, std::index_sequence<I...>) {  // row with bit B set
    return __builtin_shufflevector(a, b, ((I & B) ? N + static_cast<int>(I) : static_cast<int>(I) + B)...);
  }
  template <int B>
  static void stage(V* r) {
    if constexpr (B >= 1) {
#pragma GCC unroll 32
      for (int i = 0; i < N; ++i) {
        if (i & B) continue;
        const V a = r[i], b = r[i + B];
        r[i] = upper<B>(a, b, std::make_index_sequence<N>{});
        r[i + B] = lower<B>(a, b, std::make_index_sequence<N>{});
      }
      stage<B / 2>(r);
    }
  }
  static void transpose(V* r) { stage<N / 2>(r); }
  // dst row i (byte stride ds) = src column i (src rows at byte stride ss).
  template <bool Stream>
  static void block(const char* s, std::int64_t ss, char* d, std::int64_t ds) {
    V r[N];
#pragma GCC unroll 32
    for (int i = 0; i < N; ++i) std::memcpy(&r[i], s + i * ss, sizeof(V));
    transpose(r);
#pragma GCC unroll 32
    for (int i = 0; i < N; ++i) {
      if constexpr (Stream) stream_store(d + i * ds, r[i]);
      else std::memcpy(d + i * ds, &r[i], sizeof(V));
    }
  }
};

template <std::size_t Size> struct bits_of;
template <> struct bits_of<2> { using type = std::uint16_t; };
template <> struct bits_of<4> { using type = std::uint32_t; };
template <> struct bits_of<8> { using type = std::uint64_t; };

}  // namespace detail

// A transpose without conversion where dim t is unit-stride in the source (and the last dim in
// the destination). A task is one 64-byte line of destination columns (64/E source rows, read as
// sequential streams) across a span of t, transposed in N x N register blocks. Results larger
// than the caches are written with streaming stores of whole lines: a transpose writes each line
// in a different place, and ordinary stores would first read every line they write.
template <class T>
void transpose_blocks(const CopyPlan& p) {
  using U = typename detail::bits_of<sizeof(T)>::type;
  using RT = detail::RegisterTranspose<U>;
  constexpr std::int64_t E = sizeof(T), N = RT::N, kLine = kLineBytes, JB = kLine / E;
  constexpr std::int64_t kSpan = 4096 / E;  // t values per task: 64/E source rows of 4 KB each
  const int nd = p.ndim, t = p.src_inner;
  const std::int64_t nt = p.shape[t], inner = p.shape[nd - 1];
  const std::int64_t ss_j = p.src_strides[nd - 1], ds_t = p.dst_strides[t];
  const std::int64_t outer = p.size / (nt * inner);
  const std::int64_t jblocks = (inner + JB - 1) / JB, spans = (nt + kSpan - 1) / kSpan;
  const bool stream = p.size * E >= kStreamBytes && ds_t % kLine == 0 &&
                      reinterpret_cast<std::uintptr_t>(p.dst) % kLine == 0;
  parallel_for(0, outer * jblocks * spans, std::max<std::int64_t>(1, kGrain / (JB * kSpan)), [&](std::int64_t b,
                                                                                                   std::int64_t e) {
    for (std::int64_t task = b; task < e; ++task) {
      const std::int64_t o = task / (jblocks * spans), rest = task % (jblocks * spans);
      const std::int64_t j0 = (rest / spans) * JB, i0 = (rest % spans) * kSpan;
      const std::int64_t nj = std::min(JB, inner - j0), ni = std::min(kSpan, nt - i0);
      std::int64_t so, dof;
      copy_offsets(p, nd - 1, o, so, dof, t);
      const char* src = p.src + so + j0 * ss_j + i0 * E;
      char* dst = p.dst + dof + i0 * ds_t + j0 * E;
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

template <class S, class D>
void copy_typed(const CopyPlan& p) {
  if (p.size == 0) return;
  const int nd = p.ndim;
  const std::int64_t inner = p.shape[nd - 1];
  const std::int64_t s_inner = p.src_strides[nd - 1];

  if (p.src_inner < 0) {
    // Contiguous (or generic strided) source runs along the dst-inner dim.
    // Long lines (a whole contiguous array coalesces into one) are cut into chunks so that
    // threads can share them; a copy is exact, so the partition does not show in the result.
    constexpr std::int64_t kChunk = 1 << 16;
    const std::int64_t lines = p.size / inner;
    const std::int64_t chunk = std::min(inner, kChunk);
    const std::int64_t per_line = (inner + chunk - 1) / chunk;
    const bool contiguous = s_inner == static_cast<std::int64_t>(sizeof(S));
    // (A plain copy is memcpy, which picks its own stores.)
    const bool stream = !std::is_same_v<S, D> && p.size * static_cast<std::int64_t>(sizeof(D)) >= kStreamBytes;
    parallel_for(0, lines * per_line, std::max<std::int64_t>(1, kGrain / chunk), [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t task = b; task < e; ++task) {
        const std::int64_t l = task / per_line, i0 = (task % per_line) * chunk;
        const std::int64_t n = std::min(chunk, inner - i0);
        std::int64_t so, dof;
        copy_offsets(p, nd - 1, l, so, dof);
        D* d = reinterpret_cast<D*>(p.dst + dof) + i0;
        if (contiguous && stream) convert_streamed(reinterpret_cast<const S*>(p.src + so) + i0, d, n);
        else if (contiguous) convert_run(reinterpret_cast<const S*>(p.src + so) + i0, d, n);
        else convert_strided<S>(p.src + so + i0 * s_inner, s_inner, d, n);
      }
      if (stream) stream_fence();
    });
    return;
  }

#ifdef KCORE_REGISTER_TRANSPOSE
  if constexpr (std::is_same_v<S, D>) {
    // (Thin arrays, under one line of columns or one block of rows, keep the tiles below.)
    constexpr std::int64_t kLineElems = 64 / sizeof(S);
    if (p.src_strides[p.src_inner] == static_cast<std::int64_t>(sizeof(S)) && p.shape[p.ndim - 1] >= kLineElems &&
        p.shape[p.src_inner] >= detail::RegisterTranspose<typename detail::bits_of<sizeof(S)>::type>::N)
      return transpose_blocks<S>(p);
  }
#endif
  // A real transpose: dim t is contiguous in the source, the last dim in the destination.
  // Copy square tiles that fit in L1, reading source columns and writing destination rows.
  constexpr std::int64_t kTile = 64;
  const int t = p.src_inner;
  const std::int64_t nt = p.shape[t];
  const std::int64_t ss_t = p.src_strides[t], ds_t = p.dst_strides[t];
  const std::int64_t tiles_t = (nt + kTile - 1) / kTile, tiles_j = (inner + kTile - 1) / kTile;
  const std::int64_t outer = p.size / (nt * inner);
  const std::int64_t tasks = outer * tiles_t * tiles_j;
  parallel_for(0, tasks, std::max<std::int64_t>(1, kGrain / (kTile * kTile)), [&](std::int64_t b, std::int64_t e) {
    alignas(64) D tile[kTile * kTile];
    for (std::int64_t task = b; task < e; ++task) {
      const std::int64_t o = task / (tiles_t * tiles_j);
      const std::int64_t rest = task % (tiles_t * tiles_j);
      const std::int64_t i0 = (rest / tiles_j) * kTile, j0 = (rest % tiles_j) * kTile;
      const std::int64_t ni = std::min(kTile, nt - i0), nj = std::min(kTile, inner - j0);
      std::int64_t so, dof;
      copy_offsets(p, nd - 1, o, so, dof, t);  // every dim except t and the last
      const char* src = p.src + so + i0 * ss_t + j0 * s_inner;
      // Read each source column (contiguous along t) into a tile row, converted...
      for (std::int64_t j = 0; j < nj; ++j) {
        if (ss_t == static_cast<std::int64_t>(sizeof(S)))
          convert_run(reinterpret_cast<const S*>(src + j * s_inner), tile + j * kTile, ni);
        else
          convert_strided<S>(src + j * s_inner, ss_t, tile + j * kTile, ni);
      }
      // ...then write destination rows (contiguous along the last dim) from tile columns.
      char* dst = p.dst + dof + i0 * ds_t + j0 * static_cast<std::int64_t>(sizeof(D));
      for (std::int64_t i = 0; i < ni; ++i) {
        D* row = reinterpret_cast<D*>(dst + i * ds_t);
        for (std::int64_t j = 0; j < nj; ++j) row[j] = tile[j * kTile + i];
      }
    }
  });
}

inline void copy(const CopyPlan& p) {
  visit_float(p.src_dtype, "copy", [&](auto s) {
    visit_float(p.dst_dtype, "copy", [&](auto d) { copy_typed<decltype(s), decltype(d)>(p); });
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
