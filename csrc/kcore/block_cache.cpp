#include "kcore/block_cache.hpp"

#include <cstring>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <sys/mman.h>
#define KCORE_HAVE_MMAP 1
#else
#include <cstdlib>
#endif

namespace kcore {

namespace {

#ifdef KCORE_HAVE_MMAP
constexpr bool kCanSplit = true;
#else
constexpr bool kCanSplit = false;
#endif

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Fresh zeroed pages, aligned (2 MiB: the kernel can back them with huge pages).
void* map_block(std::size_t capacity, std::size_t align) {
#ifdef KCORE_HAVE_MMAP
  const std::size_t span = capacity + align;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto base = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = round_up(base, align);
  if (aligned > base) munmap(raw, aligned - base);
  const std::uintptr_t end = aligned + capacity;
  if (base + span > end) munmap(reinterpret_cast<void*>(end), base + span - end);
  void* p = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
  madvise(p, capacity, MADV_HUGEPAGE);  // advice only: failure leaves normal pages
#endif
  return p;
#else
  (void)align;
  return std::calloc(1, capacity);
#endif
}

void unmap_block(void* p, std::size_t capacity) {
#ifdef KCORE_HAVE_MMAP
  munmap(p, capacity);
#else
  (void)capacity;
  std::free(p);
#endif
}

}  // namespace

void* BlockCache::acquire(std::size_t bytes, bool zeroed) {
  const std::size_t want = round_up(bytes < min_bytes_ ? min_bytes_ : bytes, align_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Split (the policy: block_cache.hpp): the head, already faulted in, to the result; the tail
    // stays free in the block's place, or unmapped when too small to keep. calloc'd blocks
    // cannot be split, so there a block at most 1.5x the request is taken whole.
    std::size_t best = free_.size();
    for (std::size_t i = 0; i < free_.size(); ++i) {
      const std::size_t c = free_[i].capacity;
      if (c >= want && (kCanSplit || c <= want + want / 2) && (best == free_.size() || c < free_[best].capacity)) best = i;
    }
    if (best != free_.size()) {
      Block b = free_[best];
      const std::size_t rest = b.capacity - want;
      if (kCanSplit && rest >= min_bytes_) {
        free_[best] = Block{static_cast<char*>(b.p) + want, rest};
        cached_ -= want;
        b.capacity = want;
      } else {
        free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
        cached_ -= b.capacity;
        if (kCanSplit && rest != 0) {
          unmap_block(static_cast<char*>(b.p) + want, rest);
          b.capacity = want;
        }
      }
      in_use_.emplace(b.p, b.capacity);
      if (zeroed) std::memset(b.p, 0, bytes);
      return b.p;
    }
  }
  void* p = map_block(want, align_);  // outside the lock: mapping is a system call
  if (p == nullptr) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  in_use_.emplace(p, want);
  return p;
}

bool BlockCache::release(void* p) {
  std::size_t capacity;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = in_use_.find(p);
    if (it == in_use_.end()) return false;
    capacity = it->second;
    in_use_.erase(it);
    if (capacity <= limit_) {
      free_.push_back(kCanSplit ? joined_locked({p, capacity}) : Block{p, capacity});
      cached_ += free_.back().capacity;
      trim_locked();
      return true;
    }
  }
  unmap_block(p, capacity);
  return true;
}

std::size_t BlockCache::capacity(void* p) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = in_use_.find(p);
  return it == in_use_.end() ? 0 : it->second;
}

BlockCache::Block BlockCache::joined_locked(Block b) {
  for (bool joined = true; joined;) {
    joined = false;
    for (std::size_t i = 0; i < free_.size() && !joined; ++i) {
      const Block f = free_[i];
      if (static_cast<char*>(f.p) + f.capacity == b.p) b = {f.p, f.capacity + b.capacity};
      else if (static_cast<char*>(b.p) + b.capacity == f.p) b.capacity += f.capacity;
      else continue;
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
      cached_ -= f.capacity;
      joined = true;
    }
  }
  return b;
}

void BlockCache::trim_locked() {
  while (!free_.empty() && (cached_ > limit_ || free_.size() > kMaxBlocks)) {
    std::size_t smallest = 0;  // the oldest of the smallest
    for (std::size_t i = 1; i < free_.size(); ++i)
      if (free_[i].capacity < free_[smallest].capacity) smallest = i;
    const Block b = free_[smallest];
    free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(smallest));
    cached_ -= b.capacity;
    unmap_block(b.p, b.capacity);
  }
}

void BlockCache::set_limit(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  limit_ = bytes;
  trim_locked();
}

std::size_t BlockCache::limit() {
  std::lock_guard<std::mutex> lock(mu_);
  return limit_;
}

std::size_t BlockCache::cached_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_;
}

void BlockCache::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  const std::size_t keep = limit_;
  limit_ = 0;
  trim_locked();
  limit_ = keep;
}

BlockCache& result_blocks() {
  static BlockCache* cache = new BlockCache();  // never destroyed: arrays may outlive exit hooks
  return *cache;
}

BlockCache& scratch_blocks() {
  // From 256 KiB (below, glibc keeps freed memory), at most 64 MiB kept; never destroyed:
  // daemon threads may still be in kernels at exit.
  static BlockCache* cache = new BlockCache(std::size_t(256) << 10, std::size_t(64) << 10, std::size_t(64) << 20);
  return *cache;
}

#ifdef KCORE_HAVE_MMAP
namespace {
// A thread inside a cache while another forks would leave the child's copy locked forever.
void lock_caches() {
  result_blocks().lock_for_fork();
  scratch_blocks().lock_for_fork();
}
void unlock_caches() {
  scratch_blocks().unlock_after_fork();
  result_blocks().unlock_after_fork();
}
const int g_fork_handlers = pthread_atfork(lock_caches, unlock_caches, unlock_caches);
}  // namespace
#endif

}  // namespace kcore
