// The one reduction engine: every reduction runs through reduce_run with an op from
// reduce_ops.hpp. See reduce_plan.hpp for the two loop shapes.
//
// Determinism: a horizontal output is always the fixed-order tree combination of its leaves,
// whether the leaves were computed by one thread or many; a vertical block is folded in row
// order, in row chunks fixed by the shape whose partial states are combined in order. So results
// are bitwise identical for every thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <type_traits>

#include "kcore/kernels/parallel.hpp"
#include "kcore/kernels/reduce_ops.hpp"
#include "kcore/kernels/scratch.hpp"
#include "kcore/kernels/walk.hpp"
#include "kcore/reduce_plan.hpp"
#include "kcore/tuning.hpp"

namespace kcore {
namespace KCORE_ISA {

// Whether an op reduces several short rows at once (kRows, rows_at_once, leaf_rows).
template <class Op, class = void>
struct has_leaf_rows : std::false_type {};
template <class Op>
struct has_leaf_rows<Op, std::void_t<decltype(Op::kRows)>> : std::true_type {};

// Order-preserving pairwise combination: s[i] absorbs s[i + w] for doubling w.
template <class Op>
typename Op::state tree_combine(const Op& op, typename Op::state* s, std::int64_t n) {
  for (std::int64_t w = 1; w < n; w *= 2)
    for (std::int64_t i = 0; i + w < n; i += 2 * w) op.combine(s[i], s[i + w]);
  return s[0];
}

template <class T, class Op>
void reduce_horizontal(const Op& op, const ReducePlan& p) {
  using state = typename Op::state;
  using out_t = typename Op::out_t;
  const LoopDim* const red = p.red();
  const LoopDim& leaf_dim = red[p.n_red - 1];
  const std::int64_t n0 = leaf_dim.size;
  const std::int64_t s0 = leaf_dim.stride[kIn];
  const std::int64_t chunks = (n0 + tuning::kLeaf - 1) / tuning::kLeaf;
  std::int64_t nseg = 1;
  for (int k = 0; k + 1 < p.n_red; ++k) nseg *= red[k].size;
  const std::int64_t nleaves = nseg * chunks;

  // Where leaf `leaf` of every output lies: its byte offset from the output's base, its length
  // and the index of its first element along the reduced dims.
  struct LeafAt {
    std::int64_t off, len, index_base;
  };
  auto leaf_at = [&](std::int64_t leaf) -> LeafAt {
    const std::int64_t seg = leaf / chunks;
    const std::int64_t c = leaf % chunks;
    std::int64_t seg_off[kIn + 1];
    offsets_of(seg, red, p.n_red - 1, seg_off);
    return {seg_off[kIn] + c * tuning::kLeaf * s0, std::min(tuning::kLeaf, n0 - c * tuning::kLeaf), seg * n0 + c * tuning::kLeaf};
  };
  auto leaf_of = [&](const char* base, const LeafAt& at) -> state {
    const char* ptr = base + at.off;
    if (s0 == static_cast<std::int64_t>(sizeof(T)))
      return op.leaf(reinterpret_cast<const T*>(ptr), at.len, at.index_base);
    alignas(64) T buf[tuning::kLeaf];  // strided run: gather it first
    for (std::int64_t i = 0; i < at.len; ++i) std::memcpy(&buf[i], ptr + i * s0, sizeof(T));
    return op.leaf(buf, at.len, at.index_base);
  };
  auto leaf_state = [&](const char* base, std::int64_t leaf) -> state { return leaf_of(base, leaf_at(leaf)); };

  auto reduce_output = [&](const char* base, bool threaded) -> state {
    if (nleaves == 1) return leaf_state(base, 0);
    constexpr std::int64_t kInline = tuning::kInlineLeafStates;
    state inline_states[kInline]{};
    std::unique_ptr<state[]> heap_states;
    state* states = inline_states;
    if (nleaves > kInline) {
      heap_states.reset(new state[static_cast<std::size_t>(nleaves)]);
      states = heap_states.get();
    }
    auto fill = [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t l = b; l < e; ++l) states[l] = leaf_state(base, l);
    };
    if (threaded) parallel_for(0, nleaves, std::max<std::int64_t>(1, tuning::kGrain / tuning::kLeaf), fill);
    else fill(0, nleaves);
    return tree_combine(op, states, nleaves);
  };

  auto write = [&](std::int64_t out_off, const state& s) {
    const out_t v = op.project(s, p.count);
    std::memcpy(p.out + out_off, &v, sizeof v);
  };

  // Few outputs: split each output's leaves across threads. Many: split the outputs.
  if (p.noutputs < 2 * static_cast<std::int64_t>(get_num_threads()) && nleaves > 1) {
    for (std::int64_t o = 0; o < p.noutputs; ++o) {
      std::int64_t off[kIn + 1];
      offsets_of(o, p.outer(), p.n_outer, off);
      write(off[kOut], reduce_output(p.in + off[kIn], true));
    }
    return;
  }
  const std::int64_t grain = std::max<std::int64_t>(1, tuning::kGrain / std::max<std::int64_t>(p.count, 1));
  // Many short contiguous rows (e.g. axis=-1 of a matrix) go straight to the op's leaf, kRows
  // at a time where the op reduces very short rows together (leaf_rows: leaf's bits).
  const bool plain_rows = nleaves == 1 && s0 == static_cast<std::int64_t>(sizeof(T));
  if (plain_rows) {
    parallel_for(0, p.noutputs, grain, [&](std::int64_t b, std::int64_t e) {
      if constexpr (has_leaf_rows<Op>::value) {
        if (Op::rows_at_once(n0)) {
          constexpr int R = Op::kRows;
          const T* rows[R];
          std::int64_t outs[R];
          int k = 0;
          for_each_offset<kIn + 1>(p.outer(), p.n_outer, b, e, [&](const std::array<std::int64_t, kIn + 1> off) {
            rows[k] = reinterpret_cast<const T*>(p.in + off[kIn]);
            outs[k] = off[kOut];
            if (++k < R) return;
            state st[R];
            op.leaf_rows(rows, n0, st);
            for (int r = 0; r < R; ++r) write(outs[r], st[r]);
            k = 0;
          });
          for (int r = 0; r < k; ++r) write(outs[r], op.leaf(rows[r], n0, 0));
          return;
        }
      }
      for_each_offset<kIn + 1>(p.outer(), p.n_outer, b, e, [&](const std::array<std::int64_t, kIn + 1> off) {
        write(off[kOut], op.leaf(reinterpret_cast<const T*>(p.in + off[kIn]), n0, 0));
      });
    });
    return;
  }
  // Outputs of several leaves in one contiguous run each (long rows): each output's leaves in
  // memory order, then combined in the fixed tree order.
  if (nseg == 1 && s0 == static_cast<std::int64_t>(sizeof(T))) {
    parallel_for(0, p.noutputs, grain, [&](std::int64_t b, std::int64_t e) {
      std::unique_ptr<state[]> states(new state[static_cast<std::size_t>(nleaves)]);
      for_each_offset<kIn + 1>(p.outer(), p.n_outer, b, e, [&](const std::array<std::int64_t, kIn + 1> off) {
        const T* row = reinterpret_cast<const T*>(p.in + off[kIn]);
        for (std::int64_t l = 0; l < nleaves; ++l)
          states[l] = op.leaf(row + l * tuning::kLeaf, std::min(tuning::kLeaf, n0 - l * tuning::kLeaf), l * tuning::kLeaf);
        write(off[kOut], tree_combine(op, states.get(), nleaves));
      });
    });
    return;
  }
  // Outputs of several leaves (axis (0, 2) of a 3-D array): a block of outputs at a time, leaf by
  // leaf across the block, so that memory is read in order (leaf l of neighbouring outputs
  // usually neighbours) rather than jumping between one output's leaves; then each output
  // combines its own leaves in the fixed tree order, as reduce_output does.
  const std::int64_t block = std::max<std::int64_t>(1, tuning::kBlockLeaves / nleaves);
  parallel_for(0, p.noutputs, grain, [&](std::int64_t b, std::int64_t e) {
    const std::int64_t most = std::min(block, e - b);
    std::unique_ptr<state[]> states(new state[static_cast<std::size_t>(most * nleaves)]);
    std::unique_ptr<std::int64_t[]> offs(new std::int64_t[static_cast<std::size_t>(2 * most)]);
    for (std::int64_t o0 = b; o0 < e; o0 += block) {
      const std::int64_t n = std::min(block, e - o0);
      std::int64_t k = 0;
      for_each_offset<kIn + 1>(p.outer(), p.n_outer, o0, o0 + n, [&](const std::array<std::int64_t, kIn + 1> off) {
        offs[2 * k] = off[kIn];
        offs[2 * k + 1] = off[kOut];
        ++k;
      });
      for (std::int64_t l = 0; l < nleaves; ++l) {
        const LeafAt at = leaf_at(l);
        for (k = 0; k < n; ++k) states[k * nleaves + l] = leaf_of(p.in + offs[2 * k], at);
      }
      for (k = 0; k < n; ++k) write(offs[2 * k + 1], tree_combine(op, &states[k * nleaves], nleaves));
    }
  });
}

// Tall vertical reductions are also split by rows, in chunks fixed by the shape (never by the
// thread count), whose per-column partial states are combined in row order afterwards. Blocks
// then keep their full width, so every row segment read is long, and threads still share a
// reduction with a single block (axis 0 of a 2048x2048 matrix).

template <class T, class Op>
void reduce_vertical(const Op& op, const ReducePlan& p) {
  using state = typename Op::state;
  using out_t = typename Op::out_t;
  const LoopDim* const red = p.red();
  const LoopDim* const outer = p.outer();
  const LoopDim& row_dim = red[p.n_red - 1];
  const std::int64_t nr = row_dim.size;
  const std::int64_t srow = row_dim.stride[kIn];
  std::int64_t nseg = 1;
  for (int k = 0; k + 1 < p.n_red; ++k) nseg *= red[k].size;
  const std::int64_t m = p.col.size;
  const std::int64_t scol = p.col.stride[kIn];
  const bool contiguous_cols = scol == static_cast<std::int64_t>(sizeof(T));
  constexpr std::int64_t kCols = Op::kCols;
  static_assert(kCols <= tuning::kColBlock, "an op's vertical block must fit the shared buffers");
  std::int64_t nouter = 1;
  for (int k = 0; k < p.n_outer; ++k) nouter *= outer[k].size;
  const bool split = nseg == 1 && nr >= 2 * tuning::kSplitRows &&
                     nr * m * static_cast<std::int64_t>(sizeof(T)) >= tuning::kSplitBytes;
  const std::int64_t nchunks = split ? (nr + tuning::kSplitRows - 1) / tuning::kSplitRows : 1;
  const std::int64_t chunk_rows = split ? tuning::kSplitRows : nr;
  // Still fewer tasks than twice the threads: narrower blocks, so that threads can share them. A
  // column's result does not depend on its block, so neither does it on the thread count.
  constexpr std::int64_t kMinCols = tuning::kMinCols;
  const std::int64_t want_blocks = 2 * static_cast<std::int64_t>(get_num_threads());
  std::int64_t cols = kCols;
  if (nouter * nchunks * ((m + kCols - 1) / kCols) < want_blocks) {
    const std::int64_t want_cols = (m * nchunks + want_blocks - 1) / want_blocks;
    cols = std::min(kCols, std::max(kMinCols, (want_cols + kMinCols - 1) / kMinCols * kMinCols));
  }
  const std::int64_t nblocks = (m + cols - 1) / cols;
  const std::int64_t block_work = std::min(chunk_rows * nseg, p.count) * std::min(m, cols);
  const std::int64_t grain = std::max<std::int64_t>(1, tuning::kGrain / std::max<std::int64_t>(block_work, 1));
  // Partial states, [outer][chunk][column], when split.
  std::unique_ptr<state[]> partial(split ? new state[static_cast<std::size_t>(nouter * nchunks * m)] : nullptr);

  parallel_for(0, nouter * nblocks * nchunks, grain, [&](std::int64_t b, std::int64_t e) {
    AlignedBuffer<T> gathered;
    if (!contiguous_cols) gathered.reset(tuning::kRowChunk * kCols);
    alignas(64) state st[kCols];  // (vector loads and stores of whole lines)
    for (std::int64_t t = b; t < e; ++t) {
      const std::int64_t chunk = t % nchunks;
      const std::int64_t o = t / nchunks / nblocks;
      const std::int64_t j0 = (t / nchunks % nblocks) * cols;
      const std::int64_t w = std::min(cols, m - j0);
      const std::int64_t r_begin = chunk * chunk_rows, r_end = std::min(nr, r_begin + chunk_rows);
      std::int64_t off[kIn + 1];
      offsets_of(o, outer, p.n_outer, off);
      const std::int64_t in_off = off[kIn], out_off = off[kOut];
      for (std::int64_t j = 0; j < w; ++j) st[j] = op.identity();
      for (std::int64_t seg = 0; seg < nseg; ++seg) {
        std::int64_t seg_offs[kIn + 1];
        offsets_of(seg, red, p.n_red - 1, seg_offs);
        const std::int64_t seg_off = seg_offs[kIn];
        for (std::int64_t r0 = r_begin; r0 < r_end; r0 += tuning::kRowChunk) {
          const std::int64_t rows = std::min(tuning::kRowChunk, r_end - r0);
          const char* ptr = p.in + in_off + seg_off + r0 * srow + j0 * scol;
          const std::int64_t index_base = seg * nr + r0;
          if (contiguous_cols) {
            op.col_rows(st, ptr, srow, rows, w, index_base);
            continue;
          }
          T* g = gathered.get();
          for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t j = 0; j < w; ++j)
              std::memcpy(&g[r * w + j], ptr + r * srow + j * scol, sizeof(T));
          op.col_rows(st, reinterpret_cast<const char*>(g), w * static_cast<std::int64_t>(sizeof(T)),
                      rows, w, index_base);
        }
      }
      if (split) {
        std::copy(st, st + w, &partial[static_cast<std::size_t>((o * nchunks + chunk) * m + j0)]);
        continue;
      }
      for (std::int64_t j = 0; j < w; ++j) {
        const out_t v = op.project(st[j], p.count);
        std::memcpy(p.out + out_off + (j0 + j) * p.col.stride[kOut], &v, sizeof v);
      }
    }
  });
  if (!split) return;
  parallel_for(0, nouter * m, std::max<std::int64_t>(1, tuning::kGrain / nchunks), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const std::int64_t o = i / m, j = i % m;
      state s = partial[static_cast<std::size_t>(o * nchunks * m + j)];
      for (std::int64_t c = 1; c < nchunks; ++c) op.combine(s, partial[static_cast<std::size_t>((o * nchunks + c) * m + j)]);
      std::int64_t off[kIn + 1];
      offsets_of(o, outer, p.n_outer, off);
      const out_t v = op.project(s, p.count);
      std::memcpy(p.out + off[kOut] + j * p.col.stride[kOut], &v, sizeof v);
    }
  });
}

template <class T, class Op>
void reduce_run(const Op& op, const ReducePlan& p) {
  using out_t = typename Op::out_t;
  if (p.noutputs == 0) return;
  if (p.count == 0) {  // empty reduced axes: the identity, projected
    const out_t v = op.project(op.identity(), 0);
    for (std::int64_t o = 0; o < p.noutputs; ++o) std::memcpy(p.out + o * sizeof(out_t), &v, sizeof v);
    return;
  }
  if (p.vertical) reduce_vertical<T>(op, p);
  else reduce_horizontal<T>(op, p);
}

template <class T>
void reduce_typed(const ReducePlan& p) {
  switch (p.kind) {
    case ReduceKind::sum:
      // (the plan's result dtype is x's or, for a wide sum, the accumulator's: make_reduce_plan)
      if (p.out_dtype != p.in_dtype) {
        constexpr DType in = std::is_same_v<T, half> ? DType::f16 : sizeof(T) == 4 ? DType::f32 : DType::f64;
        static_assert(sizeof(sum_acc_t<T>) == itemsize(sum_accumulator(in)), "sum_accumulator names Acc<T>::sum");
        return reduce_run<T>(SumOp<T, Fold::add, false, true>{}, p);
      }
      return reduce_run<T>(SumOp<T, Fold::add, false>{}, p);
    case ReduceKind::mean: return reduce_run<T>(SumOp<T, Fold::add, true>{}, p);
    case ReduceKind::prod: return reduce_run<T>(SumOp<T, Fold::mul, false>{}, p);
    case ReduceKind::max: return reduce_run<T>(MinMaxOp<T, true>{}, p);
    case ReduceKind::min: return reduce_run<T>(MinMaxOp<T, false>{}, p);
    case ReduceKind::argmax: return reduce_run<T>(ArgOp<T, true>{}, p);
    case ReduceKind::argmin: return reduce_run<T>(ArgOp<T, false>{}, p);
    case ReduceKind::var: return reduce_run<T>(VarOp<T, false>{}, p);
    case ReduceKind::std_: return reduce_run<T>(VarOp<T, true>{}, p);
    case ReduceKind::any: return reduce_run<T>(AnyAllOp<T, true>{}, p);
    case ReduceKind::all: return reduce_run<T>(AnyAllOp<T, false>{}, p);
  }
}

}  // namespace KCORE_ISA
}  // namespace kcore
