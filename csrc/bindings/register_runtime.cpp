// Threads, CPU level and build facts.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/without_gil.hpp"
#include "kcore/blas.hpp"
#include "kcore/block_cache.hpp"
#include "kcore/dispatch.hpp"
#include "kcore/threading.hpp"
#include "kcore/tuning.hpp"

namespace py = pybind11;

namespace kcore_py {

void register_runtime(py::module_& m) {
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("set_num_threads: n must be a positive integer, got " + std::to_string(n));
    kcore::set_num_threads(n);
  }, py::arg("n"));
  m.def("get_num_threads", &kcore::get_num_threads);
  m.def("machine_cores", &kcore::machine_cores,
        "The CPUs this process could use when kcore loaded: the default thread count, and what BLAS products split by.");
  m.def("effective_num_threads", [] { return kcore::threads_for(std::int64_t(1) << 40, 1); },
        "Threads a large kernel would use from this calling thread (after threadpoolctl limits).");
  m.def("select_cpu_level", [](const std::string& cap) { kcore::select_level(cap); }, py::arg("cap"),
        "Choose the best kernel level the CPU supports, capped at `cap` ('' for no cap).");
  m.def("cpu_level", [] { return std::string(kcore::kernels().level); });
  m.def("supported_cpu_levels", &kcore::supported_levels);
  m.def("close_kernels", &close_kernels, py::arg("timeout_s"),
        "At interpreter exit: other threads park instead of starting kernels; waits (at most timeout_s) until none "
        "runs one. Returns whether none does.");
  m.def("stream_read", [](const py::array& a) {
    if (!(a.flags() & py::array::c_style) || a.itemsize() != 8)
      throw py::type_error("stream_read: expects a C-contiguous array of 8-byte elements");
    const auto* p = static_cast<const std::uint64_t*>(a.data());
    const auto n = static_cast<std::int64_t>(a.size());
    return without_gil([&] { return kcore::probes().stream_read(p, n); });
  }, "Bandwidth probe: XOR of all 64-bit words, read with the kernels' threads.");
  m.def("stream_copy", [](py::array& dst, const py::array& src) {
    if (!(dst.flags() & py::array::c_style) || !(src.flags() & py::array::c_style) ||
        dst.nbytes() != src.nbytes() || !dst.writeable())
      throw py::type_error("stream_copy: expects two C-contiguous arrays of equal size, dst writeable");
    auto* d = static_cast<char*>(dst.mutable_data());
    const auto* s = static_cast<const char*>(src.data());
    const auto n = static_cast<std::int64_t>(src.nbytes());
    without_gil([&] { kcore::probes().stream_copy(d, s, n); });
  }, "Bandwidth probe: copy src into dst with the kernels' threads.");
  m.def("load_blas", [](const std::string& path, const std::string& prefix) {
    try {
      kcore::load_blas(path, prefix);
    } catch (const std::runtime_error& e) {
      throw py::value_error(e.what());
    }
  }, py::arg("path"), py::arg("prefix"),
        "Open an OpenBLAS library for large float32/float64 products (kept single-threaded).");
  m.def("set_blas_enabled", &kcore::set_blas_enabled, py::arg("enabled"),
        "Route large float32/float64 products to the loaded BLAS (True) or the native kernel.");
  m.def("set_blas_min_dim", [](long long n) {
    if (n < 0) throw py::value_error("set_blas_min_dim: n must be >= 0, got " + std::to_string(n));
    kcore::set_blas_min_dim(n);
  }, py::arg("n"), "Send a float32/float64 product to the BLAS only when M, N and K all exceed n.");
  m.def("blas_min_dim", &kcore::blas_min_dim, "See set_blas_min_dim.");
  m.def("default_blas_min_dim", &kcore::default_blas_min_dim, "This CPU's blas_min_dim when none is set.");
  m.def("cpu_vendor", &kcore::cpu_vendor, "'amd', 'intel' or 'other'.");
  m.def("blas_products", &kcore::blas_products, "Products the BLAS has computed since the process started.");
  m.def("blas_path", [] {
    return kcore::blas() != nullptr ? py::object(py::str(kcore::blas_path())) : py::object(py::none());
  }, "Path of the BLAS in use, or None.");
  m.def("set_result_cache_limit", [](long long bytes) {
    if (bytes < 0) throw py::value_error("set_result_cache_limit: bytes must be >= 0, got " + std::to_string(bytes));
    kcore::result_blocks().set_limit(static_cast<std::size_t>(bytes));
  }, py::arg("bytes"), "Keep at most this many bytes of freed large results for reuse (0: keep none).");
  m.def("result_cache_info", [] {
    auto& c = kcore::result_blocks();
    py::dict d;
    d["limit"] = c.limit();
    d["cached"] = c.cached_bytes();
    d["min_bytes"] = kcore::BlockCache::kMinBytes;
    d["max_blocks"] = kcore::BlockCache::kMaxBlocks;
    return d;
  }, "The result block cache: limit, bytes kept now, smallest result served, most free blocks kept.");
  m.def("clear_result_cache", [] { kcore::result_blocks().clear(); },
        "Return every kept block of freed results to the operating system.");
  m.def("scratch_cache_info", [] {
    auto& c = kcore::scratch_blocks();
    py::dict d;
    d["limit"] = c.limit();
    d["cached"] = c.cached_bytes();
    d["min_bytes"] = c.min_bytes();
    d["max_blocks"] = kcore::BlockCache::kMaxBlocks;
    return d;
  }, "The kernels' scratch block cache: limit, bytes kept now, smallest buffer served, most free blocks kept.");
  m.def("clear_scratch_cache", [] { kcore::scratch_blocks().clear(); },
        "Return every kept block of the kernels' freed scratch buffers to the operating system.");
  m.def("tuning", [] {
    namespace t = kcore::tuning;
    py::dict d;
    d["grain"] = t::kGrain;
    d["stream_bytes"] = t::stream_bytes();
    d["cache_bytes"] = t::last_level_cache_bytes();
    d["prefetch_reads"] = t::prefetch_reads;
    d["leaf"] = t::kLeaf;
    d["split_rows"] = t::kSplitRows;
    d["split_bytes"] = t::kSplitBytes;
    d["row_chunk"] = t::kRowChunk;
    d["block_leaves"] = t::kBlockLeaves;
    d["segment"] = t::kSegment;
    d["short_line"] = t::kShortLine;
    d["scan_cols"] = t::kScanCols;
    d["product_rows"] = t::kProductRows;
    d["copy_chunk"] = t::kCopyChunk;
    d["copy_tile"] = t::kCopyTile;
    d["gemm_kc"] = t::kGemmKC;
    d["gemm_small_work"] = t::kGemmSmallWork;
    d["gemm_wide_bytes"] = t::kGemmWideBytes;
    d["blas_min_dim"] = kcore::default_blas_min_dim();
    return d;
  }, "The kernels' size thresholds (kcore/tuning.hpp), for tests that probe both sides of them.");
  m.def("build_info", [] {
    py::dict d;
    d["version"] = KCORE_VERSION;
    d["compiler"] = KCORE_CXX_COMPILER;
    d["build_flags"] = KCORE_BUILD_FLAGS;
    d["openmp"] = kcore::have_openmp();
    d["openmp_runtime"] = kcore::openmp_runtime();
#if KCORE_HAVE_X86_LEVELS
    d["compiled_levels"] = "baseline,avx2,avx512";
#else
    d["compiled_levels"] = "baseline";
#endif
    return d;
  });
}

}  // namespace kcore_py
