// Portable SIMD through GCC/Clang vector extensions. The compiler lowers `vec<T>` to the native
// registers of the level being compiled (xmm, ymm or zmm).
//
// Accumulating loops keep a fixed 256-byte block of accumulators (kBlockBytes), split into as many
// native vectors as the level needs. Logical lane j always sees elements j, j+B, j+2B, ..., so the
// order of floating-point operations, and therefore every result bit, is the same on every level.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__AVX__) || defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kcore/kernels/isa.hpp"

namespace kcore {
namespace KCORE_ISA {

constexpr int kVecBytes = KCORE_VEC_BYTES;
constexpr int kBlockBytes = 256;

template <class T, int Bytes>
struct vec_type {
  typedef T type __attribute__((vector_size(Bytes)));
};
template <class T>
using vec = typename vec_type<T, kVecBytes>::type;
template <class T>
constexpr int kLanes = kVecBytes / static_cast<int>(sizeof(T));
template <class T>
constexpr int kBlockLanes = kBlockBytes / static_cast<int>(sizeof(T));
constexpr int kBlockVecs = kBlockBytes / kVecBytes;

// Same-width integer, for comparison masks and lane indices.
template <class T>
using int_of = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;

template <class T>
inline vec<T> load(const T* p) {
  vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Takes v by value: callers store register accumulators without taking their address (which
// would make GCC keep the whole accumulator array in memory).
template <class T>
inline void store(T* p, vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}

// A broadcast, as one instruction. (Not `vec<T>{} + x`: without fast-math that is a real addition
// that also turns -0.0 into +0.0; and GCC turns a lane-by-lane fill into masked inserts.)
template <class T>
inline vec<T> splat(T x) {
  vec<T> v;
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    if constexpr (std::is_same_v<T, float>) { const __m512 r = _mm512_set1_ps(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (std::is_same_v<T, double>) { const __m512d r = _mm512_set1_pd(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 4) { const __m512i r = _mm512_set1_epi32(static_cast<int>(x)); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 8) { const __m512i r = _mm512_set1_epi64(static_cast<long long>(x)); std::memcpy(&v, &r, sizeof v); return v; }
  }
#endif
#if defined(__AVX__)
  if constexpr (kVecBytes == 32) {
    if constexpr (std::is_same_v<T, float>) { const __m256 r = _mm256_set1_ps(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (std::is_same_v<T, double>) { const __m256d r = _mm256_set1_pd(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 4) { const __m256i r = _mm256_set1_epi32(static_cast<int>(x)); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 8) { const __m256i r = _mm256_set1_epi64x(static_cast<long long>(x)); std::memcpy(&v, &r, sizeof v); return v; }
  }
#endif
#if defined(__SSE2__)
  if constexpr (kVecBytes == 16) {
    if constexpr (std::is_same_v<T, float>) { const __m128 r = _mm_set1_ps(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (std::is_same_v<T, double>) { const __m128d r = _mm_set1_pd(x); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 4) { const __m128i r = _mm_set1_epi32(static_cast<int>(x)); std::memcpy(&v, &r, sizeof v); return v; }
    if constexpr (sizeof(T) == 8) { const __m128i r = _mm_set1_epi64x(static_cast<long long>(x)); std::memcpy(&v, &r, sizeof v); return v; }
  }
#endif
  for (int l = 0; l < kLanes<T>; ++l) v[l] = x;
  return v;
}

// Loads kLanes<A> elements of W and widens them to A (float -> double).
template <class A, class W>
inline vec<A> load_as(const W* p) {
  if constexpr (std::is_same_v<A, W>) {
    return load(p);
#if defined(__AVX512F__)
  } else if constexpr (std::is_same_v<A, double> && std::is_same_v<W, float> && kVecBytes == 64) {
    // GCC splits the generic conversion into two halves; one vcvtps2pd does it.
    const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(p));
    vec<A> r;
    std::memcpy(&r, &v, sizeof r);
    return r;
#endif
#if defined(__AVX__)
  } else if constexpr (std::is_same_v<A, double> && std::is_same_v<W, float> && kVecBytes == 32) {
    const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(p));
    vec<A> r;
    std::memcpy(&r, &v, sizeof r);
    return r;
#endif
  } else {
    typedef W narrow __attribute__((vector_size(kLanes<A> * sizeof(W))));
    narrow x;
    std::memcpy(&x, p, sizeof x);
    return __builtin_convertvector(x, vec<A>);
  }
}

// Streaming stores: they bypass the caches and skip the read for ownership an ordinary store does
// on a line it does not hold, so a large result costs one write of memory instead of a read and a
// write. Only for results much larger than the caches (they are not in cache afterwards), and
// only of whole lines: a line written in parts costs a read at the memory. A thread calls
// stream_fence() after its streaming stores, before another thread may read the data.
constexpr std::int64_t kStreamBytes = std::int64_t(512) << 10;  // results from here (measured)
constexpr std::int64_t kLineBytes = 64;

template <class V>
inline void stream_store(char* p, V v) {  // p is sizeof(V)-aligned
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) {
    __m512i r;
    std::memcpy(&r, &v, sizeof r);
    _mm512_stream_si512(reinterpret_cast<__m512i*>(p), r);
    return;
  }
#endif
#if defined(__AVX__)
  if constexpr (sizeof(V) == 32) {
    __m256i r;
    std::memcpy(&r, &v, sizeof r);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(p), r);
    return;
  }
#endif
#if defined(__SSE2__)
  if constexpr (sizeof(V) == 16) {
    __m128i r;
    std::memcpy(&r, &v, sizeof r);
    _mm_stream_si128(reinterpret_cast<__m128i*>(p), r);
    return;
  }
#endif
  std::memcpy(p, &v, sizeof v);
}

inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// Copies n bytes from s (typically a buffer in L1) to d: the whole 64-byte lines of d with
// streaming stores, the partial lines at either end with ordinary ones.
inline void stream_bytes(char* d, const char* s, std::int64_t n) {
  typedef char line_vec __attribute__((vector_size(kVecBytes)));
  std::int64_t head = (kLineBytes - static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(d) % kLineBytes)) % kLineBytes;
  if (head > n) head = n;
  std::memcpy(d, s, static_cast<std::size_t>(head));
  std::int64_t i = head;
  for (; i + kLineBytes <= n; i += kLineBytes) {
#pragma GCC unroll 4
    for (int k = 0; k < kLineBytes; k += kVecBytes) {
      line_vec v;
      std::memcpy(&v, s + i + k, sizeof v);
      stream_store(d + i + k, v);
    }
  }
  std::memcpy(d + i, s + i, static_cast<std::size_t>(n - i));
}

// Software prefetch distance for streaming reads. The hardware prefetchers alone left one core
// at 12-19 GB/s on a 64 MB array here; prefetching 2 KB ahead (into all cache levels: the
// non-temporal hint halved the speed) reaches 27 GB/s. Prefetches never fault, so reading
// ahead of the end is harmless.
constexpr int kPrefetchBytes = 2048;

// Prefetches the `bytes` (a multiple of 64, or less than 64) that lie kPrefetchBytes past p.
template <int Bytes>
inline void prefetch_ahead(const void* p) {
#pragma GCC unroll 4
  for (int c = 0; c < Bytes; c += 64) __builtin_prefetch(static_cast<const char*>(p) + kPrefetchBytes + c, 0, 3);
}

// Prefetches every line of [p, p + bytes) (nothing when bytes <= 0).
inline void prefetch_range(const void* p, std::int64_t bytes) {
  const char* const c = static_cast<const char*>(p);
  for (std::int64_t b = 0; b < bytes; b += kLineBytes) __builtin_prefetch(c + b, 0, 3);
}

// Calls step(k, x, offset) for each native vector x of the whole blocks of p[0, n), where k is
// the vector's slot in the block (which accumulator it feeds); returns how many were consumed.
template <class A, class W, class Step>
inline std::int64_t fold_blocks(const W* p, std::int64_t n, Step step) {
  constexpr int L = kLanes<A>;
  constexpr int B = kBlockLanes<A>;
  std::int64_t i = 0;
  for (; i + B <= n; i += B) {
    prefetch_ahead<static_cast<int>(B * sizeof(W))>(p + i);
#pragma GCC unroll 16
    for (int k = 0; k < kBlockVecs; ++k) step(k, load_as<A>(p + i + k * L), i + k * L);
  }
  return i;
}

// True if any lane of a comparison mask is set (a single test instruction where there is one).
template <class Mask>
inline bool any_lane(Mask m) {
  static_assert(sizeof(Mask) == kVecBytes, "expects one native vector");
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    __m512i v;
    std::memcpy(&v, &m, sizeof v);
    return _mm512_test_epi64_mask(v, v) != 0;
  }
#endif
#if defined(__AVX__)
  if constexpr (kVecBytes == 32) {
    __m256i v;
    std::memcpy(&v, &m, sizeof v);
    return !_mm256_testz_si256(v, v);
  }
#endif
#if defined(__SSE2__)
  if constexpr (kVecBytes == 16) {
    __m128i v;
    std::memcpy(&v, &m, sizeof v);
    return _mm_movemask_epi8(v) != 0;
  }
#endif
  std::uint64_t w[kVecBytes / 8];
  std::memcpy(w, &m, sizeof w);
  std::uint64_t r = 0;
  for (std::uint64_t v : w) r |= v;
  return r != 0;
}

// Index of the first set lane of a comparison mask whose lanes are sizeof(I) wide, or -1.
template <class I, class Mask>
inline int first_set_lane(Mask m) {
  static_assert(sizeof(Mask) == kVecBytes, "expects one native vector");
  unsigned bits = 0;
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64) {
    __m512i v;
    std::memcpy(&v, &m, sizeof v);
    bits = sizeof(I) == 4 ? static_cast<unsigned>(_mm512_movepi32_mask(v))
                          : static_cast<unsigned>(_mm512_movepi64_mask(v));
    return bits ? __builtin_ctz(bits) : -1;
  }
#endif
#if defined(__AVX__)
  if constexpr (kVecBytes == 32) {
    __m256i v;
    std::memcpy(&v, &m, sizeof v);
    bits = static_cast<unsigned>(sizeof(I) == 4 ? _mm256_movemask_ps(_mm256_castsi256_ps(v))
                                                : _mm256_movemask_pd(_mm256_castsi256_pd(v)));
    return bits ? __builtin_ctz(bits) : -1;
  }
#endif
#if defined(__SSE2__)
  if constexpr (kVecBytes == 16) {
    __m128i v;
    std::memcpy(&v, &m, sizeof v);
    bits = static_cast<unsigned>(sizeof(I) == 4 ? _mm_movemask_ps(_mm_castsi128_ps(v))
                                                : _mm_movemask_pd(_mm_castsi128_pd(v)));
    return bits ? __builtin_ctz(bits) : -1;
  }
#endif
  I lanes[kVecBytes / sizeof(I)];
  std::memcpy(lanes, &m, sizeof lanes);
  for (int l = 0; l < static_cast<int>(kVecBytes / sizeof(I)); ++l)
    if (lanes[l]) return l;
  return -1;
}

// The first n (< kLanes) elements of p, the other lanes zero; and the matching partial store.
// True when the level has masked loads/stores for T (otherwise callers copy through a buffer).
template <class T>
constexpr bool kHasMaskedIo =
#if defined(__AVX512F__)
    kVecBytes == 64 && (std::is_same_v<T, float> || std::is_same_v<T, double>);
#elif defined(__AVX2__)
    kVecBytes == 32 && (std::is_same_v<T, float> || std::is_same_v<T, double>);
#else
    false;
#endif

template <class T>
inline vec<T> load_partial(const T* p, int n) {
  vec<T> v;
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64 && std::is_same_v<T, float>) {
    const __m512 r = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
    std::memcpy(&v, &r, sizeof v);
    return v;
  } else if constexpr (kVecBytes == 64 && std::is_same_v<T, double>) {
    const __m512d r = _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1), p);
    std::memcpy(&v, &r, sizeof v);
    return v;
  }
#elif defined(__AVX2__)
  if constexpr (kVecBytes == 32 && (std::is_same_v<T, float> || std::is_same_v<T, double>)) {
    alignas(32) std::int64_t m64[4];
    alignas(32) std::int32_t m32[8];
    if constexpr (std::is_same_v<T, float>) {
      for (int l = 0; l < 8; ++l) m32[l] = l < n ? -1 : 0;
      const __m256 r = _mm256_maskload_ps(p, _mm256_load_si256(reinterpret_cast<const __m256i*>(m32)));
      std::memcpy(&v, &r, sizeof v);
    } else {
      for (int l = 0; l < 4; ++l) m64[l] = l < n ? -1 : 0;
      const __m256d r = _mm256_maskload_pd(p, _mm256_load_si256(reinterpret_cast<const __m256i*>(m64)));
      std::memcpy(&v, &r, sizeof v);
    }
    return v;
  }
#endif
  T tmp[kLanes<T>] = {};
  std::memcpy(tmp, p, static_cast<std::size_t>(n) * sizeof(T));
  std::memcpy(&v, tmp, sizeof v);
  return v;
}

template <class T>
inline void store_partial(T* p, vec<T> v, int n) {
#if defined(__AVX512F__)
  if constexpr (kVecBytes == 64 && std::is_same_v<T, float>) {
    __m512 r;
    std::memcpy(&r, &v, sizeof r);
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), r);
    return;
  } else if constexpr (kVecBytes == 64 && std::is_same_v<T, double>) {
    __m512d r;
    std::memcpy(&r, &v, sizeof r);
    _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1), r);
    return;
  }
#endif
  T tmp[kLanes<T>];
  std::memcpy(tmp, &v, sizeof tmp);
  std::memcpy(p, tmp, static_cast<std::size_t>(n) * sizeof(T));
}

// Index of the first q[j] == value in [begin, end), or -1. Compare masks stay in mask registers
// (the generic vector form round-trips them through a vector register).
template <class W>
inline std::int64_t find_first_equal(const W* q, std::int64_t begin, std::int64_t end, W value) {
  std::int64_t j = begin;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<W, float>) {
    const __m512 t = _mm512_set1_ps(value);
    for (; j + 16 <= end; j += 16) {
      const unsigned m = _mm512_cmp_ps_mask(_mm512_loadu_ps(q + j), t, _CMP_EQ_OQ);
      if (m) return j + __builtin_ctz(m);
    }
  } else if constexpr (std::is_same_v<W, double>) {
    const __m512d t = _mm512_set1_pd(value);
    for (; j + 8 <= end; j += 8) {
      const unsigned m = _mm512_cmp_pd_mask(_mm512_loadu_pd(q + j), t, _CMP_EQ_OQ);
      if (m) return j + __builtin_ctz(m);
    }
  }
#elif defined(__AVX__)
  if constexpr (std::is_same_v<W, float>) {
    const __m256 t = _mm256_set1_ps(value);
    for (; j + 8 <= end; j += 8) {
      const int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(q + j), t, _CMP_EQ_OQ));
      if (m) return j + __builtin_ctz(static_cast<unsigned>(m));
    }
  } else if constexpr (std::is_same_v<W, double>) {
    const __m256d t = _mm256_set1_pd(value);
    for (; j + 4 <= end; j += 4) {
      const int m = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(q + j), t, _CMP_EQ_OQ));
      if (m) return j + __builtin_ctz(static_cast<unsigned>(m));
    }
  }
#endif
  for (; j < end; ++j)
    if (q[j] == value) return j;
  return -1;
}

// Pairwise combination of a block of accumulators in a fixed order: logical lane j absorbs lane
// j + w for w = B/2, B/4, ..., 1. Steps with w >= the native lane count pair whole vectors, so
// they run as vector ops; the same pairs are formed on every level, so the bits agree.
template <class A, class V, class F>
inline A tree_block(V* acc, F f) {
  constexpr int L = kLanes<A>;
  for (int w = kBlockVecs / 2; w >= 1; w /= 2)
    for (int k = 0; k < w; ++k) acc[k] = f(acc[k], acc[k + w]);
  A lanes[L];
  std::memcpy(lanes, &acc[0], sizeof lanes);
  for (int w = L / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) lanes[j] = f(lanes[j], lanes[j + w]);
  return lanes[0];
}

}  // namespace KCORE_ISA
}  // namespace kcore
