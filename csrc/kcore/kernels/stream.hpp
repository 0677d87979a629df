// Memory traffic: software prefetches, streaming stores and writing results behind the
// computation. Shared by every engine that reads or writes large arrays.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kcore/kernels/simd.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {

// Streaming stores: they bypass the caches and skip the read for ownership an ordinary store does
// on a line it does not hold, so a large result costs one write of memory instead of a read and a
// write. Only for results much larger than the caches (they are not in cache afterwards), and
// only of whole lines: a line written in parts costs a read at the memory. A thread calls
// stream_fence() after its streaming stores, before another thread may read the data.
// Which results are written this way: tuning::stream_writes and stream_cast, and elementwise.cpp's rule.
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

// Prefetches the `bytes` (a multiple of 64, or less than 64) that lie tuning::kPrefetchBytes past
// p, into every cache level (the non-temporal hint was slower), where tuning::prefetch_reads says
// so. Prefetches never fault, so reading ahead of the end is harmless.
template <int Bytes>
inline void prefetch_ahead(const void* p) {
  if (!tuning::prefetch_reads) return;
#pragma GCC unroll 4
  for (int c = 0; c < Bytes; c += 64)
    __builtin_prefetch(static_cast<const char*>(p) + tuning::kPrefetchBytes + c, 0, 3);
}

// Prefetches every line of [p, p + bytes) (nothing when bytes <= 0).
inline void prefetch_range(const void* p, std::int64_t bytes) {
  const char* const c = static_cast<const char*>(p);
  for (std::int64_t b = 0; b < bytes; b += kLineBytes) __builtin_prefetch(c + b, 0, 3);
}

// Writes a piece of results (n rows of `bytes`, at out + r * out_stride, to dst[r]) while the
// next piece is computed, `budget` bytes at a time: written in one burst after their piece,
// large results hold up the core while they drain to memory. Chunks end on lines of the
// destination, so only a row's ends take ordinary stores.
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

}  // namespace KCORE_ISA
}  // namespace kcore
