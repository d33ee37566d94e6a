// Shared helpers of gnnkit's CPU kernels: accumulation types, nnz-balanced row blocks and a
// deterministic parallel loop over those blocks.
//
// Determinism: every kernel writes each output element from exactly one thread and reduces in
// a fixed order (CSR order within a row), so results are bit-identical run after run; the
// parallel schedule only decides *which* thread computes a block, never the order of a sum.
#pragma once

#ifdef GNNKIT_FORCE_BUILD_FAILURE
// Used by the tests of the fallback path (GNNKIT_CPU_BUILD_FAIL=1): fail before any include so
// the forced failure costs no compile time.
#error "gnnkit: build failure forced by GNNKIT_CPU_BUILD_FAIL=1"
#endif

// Light headers only (not ATen/ATen.h): they halve the compile time of each kernel file.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace gnnkit {

// Half and bfloat16 accumulate in float32; float and double in themselves.
template <typename scalar_t>
using acc_type = at::opmath_type<scalar_t>;

template <typename scalar_t>
inline acc_type<scalar_t> load(const scalar_t& value) {
  return static_cast<acc_type<scalar_t>>(value);
}

// Work (in multiply-adds) below which a kernel runs on the calling thread (~30-60 us on one
// core): waking the pool costs microseconds on an idle machine and up to a scheduler time
// slice (milliseconds) on a busy one.
constexpr int64_t kSerialWork = 1 << 17;
// Blocks per thread: more than one so that a thread slowed down by another process does not
// hold everybody up (blocks are handed out dynamically).
constexpr int64_t kBlocksPerThread = 8;

inline int64_t num_threads() {
  return at::in_parallel_region() ? 1 : std::max<int64_t>(1, at::get_num_threads());
}

// Row boundaries of blocks with about equal cost, where a row costs
// `row_cost + edge_cost * nnz(row)`: balancing by nnz rather than by rows keeps a thread that
// owns a hub row from finishing long after the others. Returns num_blocks + 1 boundaries.
template <typename index_t>
std::vector<int64_t> balanced_row_blocks(const index_t* rowptr, int64_t num_rows,
                                         int64_t edge_cost, int64_t row_cost) {
  const int64_t nnz = static_cast<int64_t>(rowptr[num_rows]);
  const int64_t total = nnz * edge_cost + num_rows * row_cost;
  int64_t num_blocks = 1;
  const int64_t threads = num_threads();
  if (threads > 1 && total >= kSerialWork) {
    num_blocks = std::min<int64_t>({threads * kBlocksPerThread, num_rows,
                                    std::max<int64_t>(1, total / (kSerialWork / 4))});
  }
  std::vector<int64_t> bounds(num_blocks + 1, num_rows);
  bounds[0] = 0;
  auto cost_before = [&](int64_t row) {
    return static_cast<int64_t>(rowptr[row]) * edge_cost + row * row_cost;
  };
  for (int64_t b = 1; b < num_blocks; ++b) {
    const int64_t target = total / num_blocks * b + (total % num_blocks) * b / num_blocks;
    // First row whose prefix cost reaches the target (prefix cost is non-decreasing).
    int64_t lo = bounds[b - 1], hi = num_rows;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (cost_before(mid) < target) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    bounds[b] = lo;
  }
  return bounds;
}

// Equal-size blocks of [0, n) for kernels whose items all cost `item_cost`.
inline std::vector<int64_t> uniform_blocks(int64_t n, int64_t item_cost) {
  int64_t num_blocks = 1;
  const int64_t threads = num_threads();
  if (threads > 1 && n * item_cost >= kSerialWork) {
    num_blocks = std::min<int64_t>({threads * kBlocksPerThread, n,
                                    std::max<int64_t>(1, n * item_cost / (kSerialWork / 4))});
  }
  std::vector<int64_t> bounds(num_blocks + 1);
  for (int64_t b = 0; b <= num_blocks; ++b) {
    bounds[b] = n / num_blocks * b + (n % num_blocks) * b / num_blocks;
  }
  return bounds;
}

// Runs body(begin, end) for every block [bounds[b], bounds[b+1]); blocks are independent.
template <typename Body>
void for_each_block(const std::vector<int64_t>& bounds, const Body& body) {
  const int64_t num_blocks = static_cast<int64_t>(bounds.size()) - 1;
  if (num_blocks <= 1) {
    if (num_blocks == 1) body(bounds[0], bounds[1]);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t b = 0; b < num_blocks; ++b) {
    body(bounds[b], bounds[b + 1]);
  }
#else
  at::parallel_for(0, num_blocks, 1, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) body(bounds[b], bounds[b + 1]);
  });
#endif
}

// Whether large outputs should be backed by transparent huge pages (opt-in with the
// environment variable GNNKIT_CPU_HUGE_PAGES=1, read once). Huge pages cut the first-touch
// page faults of a fresh output (on the benchmark machine: sum at F = 256, 100k nodes, 128 ->
// 99 ms) but made max at F = 256 slower (289 -> 481 ms: with THP "madvise" defrag the kernel
// may compact memory synchronously at each fault), so they are off by default, as in torch's
// allocator (THP_MEM_ALLOC_ENABLE).
inline bool huge_pages_requested() {
  static const bool requested = [] {
    const char* value = std::getenv("GNNKIT_CPU_HUGE_PAGES");
    return value != nullptr && value[0] != '\0' && value[0] != '0';
  }();
  return requested;
}

// A fresh output tensor for the kernel to fill (see huge_pages_requested). Values unaffected.
inline at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  at::Tensor out = at::empty(sizes, options);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr int64_t kHugePage = int64_t(1) << 21;
  const int64_t bytes = out.numel() * static_cast<int64_t>(out.element_size());
  if (bytes >= 4 * kHugePage && huge_pages_requested()) {
    const auto begin = reinterpret_cast<uintptr_t>(out.data_ptr());
    const uintptr_t first = (begin + kHugePage - 1) & ~static_cast<uintptr_t>(kHugePage - 1);
    const uintptr_t last = (begin + bytes) & ~static_cast<uintptr_t>(kHugePage - 1);
    if (last > first) {
      madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);  // advisory only
    }
  }
#endif
  return out;
}

// Prefetches the cache line holding `address` into L2. Inline assembly on x86 because GCC's
// dead-code elimination deletes __builtin_prefetch calls in some loop shapes (observed with
// GCC 12: a loop of prefetches over the lines of a row vanished entirely at -O2).
inline void prefetch(const void* address) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht1 %0" : : "m"(*static_cast<const char*>(address)));
#else
  __builtin_prefetch(address, 0, 2);
#endif
}

// Prefetches the cache lines of [address, address + bytes), at most kMaxLines of them (the
// hardware streamer picks up longer runs by itself once they have started).
inline void prefetch_bytes(const void* address, int64_t bytes) {
  constexpr int64_t kLine = 64, kMaxLines = 8;
  const char* p = static_cast<const char*>(address);
  const int64_t end = std::min(bytes, kLine * kMaxLines);
  for (int64_t offset = 0; offset < end; offset += kLine) prefetch(p + offset);
}

// 64-byte vectors of the accumulation type (GCC/Clang vector extensions: they compile to
// AVX-512, AVX2 or SSE as available), with winner offsets in integers of the same width.
template <typename acc_t>
struct Lanes {
  static constexpr int64_t kCount = 64 / static_cast<int64_t>(sizeof(acc_t));
  using offset_scalar = std::conditional_t<sizeof(acc_t) == 4, int32_t, int64_t>;
  typedef acc_t value __attribute__((vector_size(64)));
  typedef offset_scalar offset __attribute__((vector_size(64)));
};

template <typename scalar_t>
inline typename Lanes<acc_type<scalar_t>>::value load_lanes(const scalar_t* __restrict p) {
  using acc_t = acc_type<scalar_t>;
  typename Lanes<acc_t>::value v;
  if constexpr (std::is_same_v<scalar_t, acc_t>) {
    std::memcpy(&v, p, sizeof(v));
  } else {
    for (int64_t t = 0; t < Lanes<acc_t>::kCount; ++t) v[t] = load(p[t]);
  }
  return v;
}

}  // namespace gnnkit
