// Every tuned constant of the kernels, each with the reason for it in a line. The measurements
// behind them are in bench/NOTES.md. None of them makes a result depend on the thread count:
// blocks and tasks are fixed by the shape and combined in a fixed order (see each engine). Some
// fix the order of additions or pick a kernel, so changing them can change roundings.
#pragma once
#include <cstdint>

namespace kcore {
namespace tuning {

// --- threads (kcore/threading.hpp, kernels/parallel.hpp) ---
// Elements of work per extra thread: waking a sleeping core costs ~a thread's worth of this.
constexpr std::int64_t kGrain = std::int64_t(1) << 19;
// A call within this long of the previous call's end finds the workers still spinning...
constexpr std::int64_t kWarmWindowNs = 10000;
// ...and then needs this much less work per extra thread.
constexpr std::int64_t kWarmGrainDivisor = 16;

// A softmax element costs about this many elements of kGrain's work (an exp, three passes)...
constexpr std::int64_t kSoftmaxWork = 8;
// ...and a row as many more as this many vectors (its horizontal max, sum and reciprocal).
constexpr std::int64_t kSoftmaxRowVecs = 4;
// Sums over a batch (batch-norm and depthwise kernel gradients) go in this many chunks of rows,
// fixed by the shape: enough tasks for the threads, few float64 partials to add in order.
constexpr std::int64_t kSumChunks = 32;

// --- memory traffic (kernels/stream.hpp) ---
// The streaming-store threshold: the last-level cache one core sees, within [4, 64] MiB
// (KCORE_STREAM_BYTES overrides it), against what a kernel reads and writes in full
// (stream_writes below, elementwise.cpp). Below it the result stays in that cache for whatever
// reads it next, so ordinary stores serve it better (dispatch.cpp)...
std::int64_t stream_bytes();
// ...but on Intel, this: a VM there reports the package's whole L3 (300 MiB), and results of
// 16-32 MiB written with ordinary stores ran 1.2-5x slower than streamed ones (bench/NOTES.md).
constexpr std::int64_t kStreamBytesIntel = std::int64_t(8) << 20;
// Whether a scan or transpose, which reads `bytes` and writes as many, streams its result: where
// the threshold is the LLC, once input and result together fill it (the result cannot stay there,
// and ordinary stores read each line first, evicting input still to be read); on Intel, results
// from kStreamBytesIntel, as measured there (dispatch.cpp)...
bool stream_writes(std::int64_t bytes);
// ...while a cast goes by its result alone (`written` bytes) everywhere: it writes in sequence, and
// int32 -> float32 of 19 MiB each way ran slower streamed on AMD.
bool stream_cast(std::int64_t written);
// The last-level cache one core sees (sysfs), 0 where the OS does not say.
std::int64_t last_level_cache_bytes();
// Software prefetch distance for streaming reads: on Intel the hardware prefetchers alone kept
// too few lines in flight on one core...
constexpr int kPrefetchBytes = 2048;
// ...while on AMD Zen 4 the prefetches only took load slots: streaming reads prefetch where this
// is set, by vendor (not on AMD), KCORE_PREFETCH=0/1 overriding (dispatch.cpp).
extern const bool prefetch_reads;

// --- reductions (kernels/reduce_engine.hpp, reduce_ops.hpp) ---
// Elements in one horizontal leaf, the unit of the fixed combination order: a strided leaf is
// gathered into a copy of this many elements, which stays in L1-L2.
constexpr std::int64_t kLeaf = 8192;
// What a float32 sum adds in float32 before it meets its float64 totals: runs of 256-byte blocks
// along rows (8 float32 roundings at most per term: 7 in its lane, 1 pairing the block's two
// halves), of rows down columns (a pairwise tree: 3); shorter runs cost more conversions.
constexpr std::int64_t kSumRun = 8;
// Rows of at most this many 256-byte blocks, the last one partial, are reduced many at once
// (the lanes' last steps of 8 or 16 rows in one shuffle network): it paid for rows ending in a
// partial block and cost rows of whole blocks (Zen 4, bench/NOTES.md).
constexpr std::int64_t kRowsAtOnceBlocks = 2;
// Most columns one vertical block holds (the ops' shared row buffers).
constexpr std::int64_t kColBlock = 2048;
// Rows folded into a per-block temporary before merging into the running state.
constexpr std::int64_t kRowChunk = 128;
// Vertical blocks per op: wide, for long prefetch-friendly row segments, while the op's state
// and temporaries stay in L1 (float64 state for float32 sums; argmax keeps value and index).
constexpr std::int64_t kColsSum = 2048, kColsMinMax = 2048, kColsArg = 512, kColsVar = 256;
constexpr std::int64_t kColsAnyAll = 1024, kColsAnyAllHalf = 2048;  // float16: twice, same bytes
// Tall vertical reductions split into row chunks of this many rows (from this many bytes), so
// threads can share a reduction that has a single column block.
constexpr std::int64_t kSplitRows = 256;
constexpr std::int64_t kSplitBytes = std::int64_t(1) << 20;
// Narrowest column block when blocks are narrowed for the threads to share them.
constexpr std::int64_t kMinCols = 64;
// Leaf states kept per block of outputs when outputs have several leaves: memory is then read
// in order across neighbouring outputs.
constexpr std::int64_t kBlockLeaves = 4096;
// Leaf states of one output kept on the stack (more go to the heap).
constexpr std::int64_t kInlineLeafStates = 64;
// argmax/argmin find the extreme chunk by chunk, then search only its chunk for the first index.
constexpr std::int64_t kArgChunkBytes = 2048;

// --- scans (kernels/scan_engine.hpp) ---
// Elements scanned sequentially from one start value: long lines split across threads.
constexpr std::int64_t kSegment = 4096;
// Columns per vertical block.
constexpr std::int64_t kScanCols = 1024;
// Lines up to this long are scanned one at a time: grouped set-up costs more than the scan.
constexpr std::int64_t kShortLine = 32;
// Rows of a vertical product stepped in registers at once (one subnormal-range test per block).
constexpr int kProductRows = 4;
// Bytes of results per vertical product block (kProductRows rows), kept in L1.
constexpr std::int64_t kProductBlockBytes = std::int64_t(16) << 10;
// Segments scanned together as independent dependency chains.
constexpr int kScanChains = 4;
// Elements of all chains' segments scanned per piece (their buffers stay in L1).
constexpr std::int64_t kScanPieceElems = 2048;
// Bytes of results per piece when blocks of lines are scanned across in registers.
constexpr std::int64_t kScanAcrossBytes = std::int64_t(16) << 10;
// Column blocks when the columns are not contiguous on both sides: narrow, so the lines of every
// block column stay in cache while the rows advance.
constexpr std::int64_t kScanNarrowCols = 32;

// --- copies and elementwise (kernels/elementwise_engine.hpp) ---
// Contiguous runs are cut into chunks of this many elements so threads can share long lines.
constexpr std::int64_t kCopyChunk = std::int64_t(1) << 16;
// Square tiles of a converting transpose (fit L1 with both types).
constexpr std::int64_t kCopyTile = 64;
// A transposing copy with at most this many source or destination columns (image channels) copies
// at a stride directly, in runs of this many elements of the long dim per task.
constexpr std::int64_t kFewRows = 8;
constexpr std::int64_t kFewRowsRun = 2048;
// Elements of a strided or broadcast input gathered at a time (into L1).
constexpr std::int64_t kGatherElems = 256;
// Bytes of source rows per register-transpose task.
constexpr std::int64_t kTransposeSpanBytes = 4096;
// Streamed conversions: a piece of results written behind while the next converts, a step
// converted between two writes, the source prefetched this many steps ahead.
constexpr std::int64_t kStreamPieceBytes = 4096, kStreamStepBytes = 512;
constexpr int kStreamAheadSteps = 4;

// --- matrix products (kernels/gemm.hpp, kcore/blas.hpp) ---
// A KC x NR panel of B stays in L1.
constexpr std::int64_t kGemmKC = 256;
// An MC x KC block of A (this many micro-tile rows) stays in L2.
constexpr int kGemmMCTiles = 12;
// A KC x NC block of B (this many micro-tile columns) is packed once per task.
constexpr int kGemmNCTiles = 64;
// Tasks of at most this many rows read B's whole panels in place instead of packing them.
constexpr std::int64_t kGemmBInPlaceRows = 1024;
// ... unless B's rows lie a multiple of this many bytes apart: a panel's rows then share a few
// cache sets and evict each other (Zen 3's 8-way L2 holds 128 lines 4 KiB apart, 256 lines 2 KiB
// apart: both ran faster packed) and are packed.
constexpr std::int64_t kGemmBInPlaceAliasBytes = 2048;
// B rows prefetched this many steps ahead while packing (each is a page or more apart).
constexpr std::int64_t kGemmPackAhead = 8;
// Smallest row and column blocks of a task, and tasks per thread (fewer pack less).
constexpr std::int64_t kGemmMinRows = 64, kGemmMinCols = 64, kGemmTasksPerThread = 1;
// float16 products accumulate a task's rows in float32 in passes of at most this many bytes.
constexpr std::int64_t kGemmWideBytes = std::int64_t(4) << 20;
// Products of at most this many multiply-adds per item skip packing (register-blocked kernel).
constexpr std::int64_t kGemmSmallWork = 32 * 32 * 32;
// Float32/float64 products go to the external BLAS when M, N and K all exceed this: on AMD (Zen 4,
// AVX-512 on 256-bit units) and on Intel (Emerald Rapids) OpenBLAS matches NumPy on every product
// the small-product kernel does not take, where the packed kernel fell behind on batched mid-size
// products at one thread (bench/NOTES.md). KCORE_BLAS_MIN_DIM overrides.
constexpr std::int64_t kBlasMinDim = 0;
// BLAS calls: row blocks of at least this many rows, about one task per core (at most
// kBlasMaxTasks); when the rows make fewer blocks than that, column blocks of at least kBlasMinCols.
constexpr std::int64_t kBlasMinRows = 256, kBlasMinCols = 128, kBlasMaxTasks = 64;

// --- convolutions and pooling (kernels/conv.cpp) ---
// Transposed convolutions run their product over groups of batch items whose float32 columns
// (every upstream position's taps) fit this many bytes.
constexpr std::int64_t kConvWholeBytes = std::int64_t(8) << 20;
// Transposed convolutions of unit dilation run one convolution per residue class of the output
// positions modulo the strides: one class after another, each threaded, when each has at least
// this many positions; else the classes side by side, one thread each.
constexpr std::int64_t kConvPhaseRows = 4096;
// float32/float64 convolutions with at most this many filters read their windows in place (a
// packed panel would serve at most two column panels of the product); more filters pack them.
constexpr std::int64_t kConvInPlaceFilters = 64;
// 3x3 convolutions of unit strides go by Winograd F(2x2, 3x3) from this many channels and 2x2
// output tiles per batch item (fewer: the transforms and the weights' transform cost more than
// they save).
constexpr std::int64_t kWinogradMinChannels = 16, kWinogradMinTiles = 36;
// ... and whose kernel's transform (16 x channels x filters) takes at most this many bytes.
constexpr std::int64_t kWinogradMaxWeightBytes = std::int64_t(64) << 20;
// A block of tiles' transformed inputs (16 x tiles x channels) stays in L2, but has at least
// this many micro-tile panels of tiles (each panel of the transformed weights serves them all).
constexpr std::int64_t kWinogradBlockBytes = std::int64_t(256) << 10, kWinogradMinPanels = 4;
// Depthwise convolutions copy input lines whose positions are a multiple of 256 bytes and at
// least this many bytes apart (at unit stride), one vector further apart (L1 set conflicts).
constexpr std::int64_t kDwPadMinBytes = 2048;
// Depthwise convolutions write y with streaming stores from a smaller size than elementwise ops
// (x and y over this, or over stream_bytes() if smaller): their ordinary stores push out the input
// lines the next output lines read again (8x56x56x128 float32, 13 MB in all, ran ~1.3x faster
// streamed on AMD); at a quarter of Intel's stream_bytes(), 2 MiB, MobileNet predicts lost ~15%.
constexpr std::int64_t kDwStreamBytes = std::int64_t(8) << 20;

// Average pools over windows of more positions than this sum float16/float32 in float64 (float32
// sums of 1e6 equal values drifted ~1%); smaller windows sum in float32.
constexpr std::int64_t kPoolWideWindow = 256;

// --- the bench's bandwidth probes (kernels/probe.cpp) ---
// Words per read block; bytes per copy block and per piece copied with streaming stores.
constexpr std::int64_t kProbeReadBlock = std::int64_t(1) << 16;
constexpr std::int64_t kProbeCopyBlock = std::int64_t(1) << 18, kProbeCopyPiece = 4096;

}  // namespace tuning
}  // namespace kcore
