// Memory for large results, kept for reuse after they are freed.
//
// A fresh array from the C allocator is fresh memory from the kernel: for results of 32 MB and up
// glibc maps new pages on every call, and the kernel faults in and zeroes each of them on first
// write. On a 4096x4096 transpose or cast that costs as much time as the copy itself. glibc
// already keeps freed blocks below 32 MB in its heap for reuse; this cache extends the same policy
// to larger blocks, bounded: at most kMaxBlocks free blocks and `limit` bytes are kept, the
// smallest (then the least recently freed) go back to the kernel first, as a large block serves
// any request a smaller one does, and a limit of 0 turns keeping off. A request takes
// the smallest free block that holds it, split when larger (a model's results shrink as it goes
// deeper: the blocks of its first layers serve the later ones without fresh pages), and a freed
// block joins the free blocks next to it in memory (the pieces are whole again for the next
// pass's first layers).
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace kcore {

class BlockCache {
 public:
  static constexpr std::size_t kMinBytes = std::size_t(4) << 20;   // smaller results: malloc
  static constexpr std::size_t kAlign = std::size_t(2) << 20;      // a transparent huge page
  static constexpr std::size_t kMaxBlocks = 16;
  static constexpr std::size_t kDefaultLimit = std::size_t(512) << 20;

  BlockCache() = default;
  // Blocks of min_bytes and up, in multiples of `align` (a power of two, a page or more).
  BlockCache(std::size_t min_bytes, std::size_t align, std::size_t limit)
      : min_bytes_(min_bytes), align_(align), limit_(limit) {}

  // A block of at least `bytes` (min_bytes() and up), `align` aligned; nullptr when out of
  // memory. `zeroed` asks for zero-filled memory (calloc).
  void* acquire(std::size_t bytes, bool zeroed);
  // Gives back a block from acquire(); returns false (and does nothing) for any other pointer.
  bool release(void* p);
  // Capacity of a block from acquire() that is still in use, else 0.
  std::size_t capacity(void* p);

  void set_limit(std::size_t bytes);
  std::size_t limit();
  std::size_t cached_bytes();
  void clear();  // returns every free block to the kernel
  std::size_t min_bytes() const { return min_bytes_; }

  // Held across fork() (pthread_atfork, block_cache.cpp): a child copies a consistent cache.
  void lock_for_fork() { mu_.lock(); }
  void unlock_after_fork() { mu_.unlock(); }

 private:
  struct Block {
    void* p;
    std::size_t capacity;
  };
  Block joined_locked(Block b);  // b with its free neighbours in memory (taken out of free_)
  void trim_locked();

  const std::size_t min_bytes_ = kMinBytes, align_ = kAlign;
  std::mutex mu_;
  std::size_t limit_ = kDefaultLimit;
  std::size_t cached_ = 0;
  std::vector<Block> free_;                          // most recently freed last
  std::unordered_map<void*, std::size_t> in_use_;    // pointer -> capacity
};

BlockCache& result_blocks();
// Kernels' own large scratch buffers (kernels/scratch.hpp's AlignedBuffer): fresh pages on each
// call otherwise (glibc returns freed megabytes to the kernel), faulted in and zeroed again.
BlockCache& scratch_blocks();

}  // namespace kcore
