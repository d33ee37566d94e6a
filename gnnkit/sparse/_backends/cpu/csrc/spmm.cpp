// Sparse-dense products (spmm) and segment reductions over CSR rows, and the backward of the
// max/min reductions.
//
// Layout contract (the Python wrapper reshapes to it): x is (N, H, F) contiguous; values are
// absent, (E, H) contiguous (scalar values are H = 1) or (E, P, Q) contiguous blocks with x
// (N, Q, F). Outputs are in the accumulation dtype (float32 for half types); the wrapper casts.
//
// Each output row is computed by one thread, edges in CSR order, so sums are deterministic.
// The max/min winners (arg) are int32 when the sentinel nnz fits in it, else int64: the caller
// (the Python wrapper, reference.arg_dtype) chooses, and every arg kernel is a template on it.
#include "common.h"

#include <c10/util/accumulate.h>

#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>

namespace gnnkit {
namespace {

// How far ahead (in edges) source rows are prefetched. Gathers from x at random rows are
// latency bound and the hardware prefetcher cannot guess the next column index; measured on
// the 100k-node / 1M-edge uniform graph, prefetching makes the F = 64 sum 4-5x faster;
// distances 8, 16 and 32 measured within noise of each other (16 marginally best at F = 16).
// Overridable at build time for tuning (-DGNNKIT_PREFETCH_DISTANCE=...).
#ifndef GNNKIT_PREFETCH_DISTANCE
#define GNNKIT_PREFETCH_DISTANCE 16
#endif
constexpr int64_t kPrefetchDistance = GNNKIT_PREFETCH_DISTANCE;

// Prefetches `bytes` bytes of the source row read by entry `e` (if it exists).
template <bool kGather, typename scalar_t, typename index_t>
inline void prefetch_source(const scalar_t* x, const index_t* col, int64_t e, int64_t limit,
                            int64_t row_elems, int64_t offset, int64_t bytes) {
  if constexpr (kGather) {
    if (e < limit) {
      prefetch_bytes(x + static_cast<int64_t>(col[e]) * row_elems + offset, bytes);
    }
  }
}

// ---------------------------------------------------------------------------------- sum/mean
// Vectors per wide sum tile (then single-vector tiles, then a remainder). 8 was measured no
// faster than 4 at F = 256 (ogbl-ddi, uniform graph) and slower at F = 64, where the feature
// row no longer fills a wide tile; 4 also fits AVX2's 16 registers without spilling.
#ifndef GNNKIT_WIDE_TILE
#define GNNKIT_WIDE_TILE 4
#endif
constexpr int64_t kWideTile = GNNKIT_WIDE_TILE;

// One tile of V vectors (V * 64 bytes of accumulators) of one row, H == 1: the accumulators
// live in vector registers across the whole edge loop. Explicit vectors, because GCC's SLP
// vectoriser split an unrolled 16-float loop into 8 + 4 + 2 + 1 + 1 lanes.
template <int64_t V, bool kGather, bool kValues, typename scalar_t, typename index_t>
inline void sum_tile(acc_type<scalar_t>* __restrict out, const scalar_t* __restrict x,
                     int64_t K, const index_t* __restrict col, const scalar_t* __restrict vals,
                     int64_t start, int64_t end, int64_t limit, int64_t f0) {
  using acc_t = acc_type<scalar_t>;
  using L = Lanes<acc_t>;
  constexpr int64_t kBytes = V * L::kCount * static_cast<int64_t>(sizeof(scalar_t));
  typename L::value r[V];
  for (int64_t v = 0; v < V; ++v) r[v] = typename L::value{};
  for (int64_t e = start; e < end; ++e) {
    prefetch_source<kGather>(x, col, e + kPrefetchDistance, limit, K, f0, kBytes);
    const int64_t c = kGather ? static_cast<int64_t>(col[e]) : e;
    const scalar_t* __restrict xr = x + c * K + f0;
    if constexpr (kValues) {
      const acc_t w = load(vals[e]);
      for (int64_t v = 0; v < V; ++v) r[v] += load_lanes(xr + v * L::kCount) * w;
    } else {
      for (int64_t v = 0; v < V; ++v) r[v] += load_lanes(xr + v * L::kCount);
    }
  }
  std::memcpy(out + f0, r, sizeof(r));
}

// The last `width` (< one vector) features of a row, accumulated in the output row itself.
template <bool kGather, bool kValues, typename scalar_t, typename index_t>
inline void sum_remainder(acc_type<scalar_t>* __restrict out, const scalar_t* __restrict x,
                          int64_t K, const index_t* __restrict col,
                          const scalar_t* __restrict vals, int64_t start, int64_t end,
                          int64_t limit, int64_t f0) {
  using acc_t = acc_type<scalar_t>;
  const int64_t width = K - f0;
  const int64_t bytes = width * static_cast<int64_t>(sizeof(scalar_t));
  for (int64_t t = 0; t < width; ++t) out[f0 + t] = acc_t(0);
  for (int64_t e = start; e < end; ++e) {
    if (f0 == 0) prefetch_source<kGather>(x, col, e + kPrefetchDistance, limit, K, f0, bytes);
    const int64_t c = kGather ? static_cast<int64_t>(col[e]) : e;
    const scalar_t* __restrict xr = x + c * K + f0;
    const acc_t w = kValues ? load(vals[e]) : acc_t(1);
    for (int64_t t = 0; t < width; ++t) out[f0 + t] += w * load(xr[t]);
  }
}

// Rows [row_begin, row_end), every feature. Feature panels (one pass over the edges per 64
// features, so that the gathered slice of x stays in cache) were measured slower in place:
// 381-393 ms against 293-305 ms at F = 256 on the 100k-node uniform graph, 1 thread, although
// compact copies of the same panels were faster; strided 256-byte slices of 1 KB rows cost TLB
// reach, and the streamer prefetches lines of the other panels.
template <bool kGather, bool kValues, typename scalar_t, typename index_t>
void sum_rows_single_head(const index_t* rowptr, const index_t* col, const scalar_t* vals,
                          const scalar_t* x, acc_type<scalar_t>* out, int64_t K, bool mean,
                          int64_t row_begin, int64_t row_end) {
  using acc_t = acc_type<scalar_t>;
  const int64_t limit = static_cast<int64_t>(rowptr[row_end]);
  for (int64_t i = row_begin; i < row_end; ++i) {
    const int64_t start = rowptr[i], end = rowptr[i + 1];
    acc_t* o = out + i * K;
    int64_t f0 = 0;
    constexpr int64_t kLanes = Lanes<acc_t>::kCount;
    for (; f0 + kWideTile * kLanes <= K; f0 += kWideTile * kLanes) {
      sum_tile<kWideTile, kGather, kValues>(o, x, K, col, vals, start, end, limit, f0);
    }
    for (; f0 + kLanes <= K; f0 += kLanes) {
      sum_tile<1, kGather, kValues>(o, x, K, col, vals, start, end, limit, f0);
    }
    if (f0 < K) sum_remainder<kGather, kValues>(o, x, K, col, vals, start, end, limit, f0);
    if (mean && end > start) {
      const acc_t count = static_cast<acc_t>(end - start);
      for (int64_t k = 0; k < K; ++k) o[k] /= count;
    }
  }
}

// H > 1 heads, values (E, H): the output row (H * F accumulators) stays in L1 while the edges
// stream by; F == 1 (elementwise weights, e.g. the backward of sddmm "mul") vectorises over H.
template <typename scalar_t, typename index_t>
void sum_rows_heads(const index_t* rowptr, const index_t* col, const scalar_t* vals,
                    const scalar_t* x, acc_type<scalar_t>* out, int64_t H, int64_t F, bool mean,
                    int64_t row_begin, int64_t row_end) {
  using acc_t = acc_type<scalar_t>;
  const int64_t K = H * F;
  const int64_t limit = static_cast<int64_t>(rowptr[row_end]);
  const int64_t bytes = K * static_cast<int64_t>(sizeof(scalar_t));
  for (int64_t i = row_begin; i < row_end; ++i) {
    const int64_t start = rowptr[i], end = rowptr[i + 1];
    acc_t* __restrict o = out + i * K;
    for (int64_t k = 0; k < K; ++k) o[k] = acc_t(0);
    for (int64_t e = start; e < end; ++e) {
      prefetch_source<true>(x, col, e + kPrefetchDistance, limit, K, 0, bytes);
      const scalar_t* __restrict xr = x + static_cast<int64_t>(col[e]) * K;
      const scalar_t* __restrict w = vals + e * H;
      if (F == 1) {
        for (int64_t h = 0; h < H; ++h) o[h] += load(w[h]) * load(xr[h]);
      } else {
        for (int64_t h = 0; h < H; ++h) {
          const acc_t wh = load(w[h]);
          for (int64_t f = 0; f < F; ++f) o[h * F + f] += wh * load(xr[h * F + f]);
        }
      }
    }
    if (mean && end > start) {
      const acc_t count = static_cast<acc_t>(end - start);
      for (int64_t k = 0; k < K; ++k) o[k] /= count;
    }
  }
}

// Block values (E, P, Q), x (N, Q, F): out[i, p, :] = Σ_e Σ_q B[e, p, q] x[col[e], q, :].
template <typename scalar_t, typename index_t>
void sum_rows_block(const index_t* rowptr, const index_t* col, const scalar_t* vals,
                    const scalar_t* x, acc_type<scalar_t>* out, int64_t P, int64_t Q,
                    int64_t F, bool mean, int64_t row_begin, int64_t row_end) {
  using acc_t = acc_type<scalar_t>;
  const int64_t limit = static_cast<int64_t>(rowptr[row_end]);
  const int64_t bytes = Q * F * static_cast<int64_t>(sizeof(scalar_t));
  for (int64_t i = row_begin; i < row_end; ++i) {
    const int64_t start = rowptr[i], end = rowptr[i + 1];
    acc_t* __restrict o = out + i * P * F;
    for (int64_t k = 0; k < P * F; ++k) o[k] = acc_t(0);
    for (int64_t e = start; e < end; ++e) {
      prefetch_source<true>(x, col, e + kPrefetchDistance, limit, Q * F, 0, bytes);
      const scalar_t* __restrict xr = x + static_cast<int64_t>(col[e]) * Q * F;
      const scalar_t* __restrict block = vals + e * P * Q;
      for (int64_t p = 0; p < P; ++p) {
        acc_t* __restrict op = o + p * F;
        for (int64_t q = 0; q < Q; ++q) {
          const acc_t w = load(block[p * Q + q]);
          const scalar_t* __restrict xq = xr + q * F;
          for (int64_t f = 0; f < F; ++f) op[f] += w * load(xq[f]);
        }
      }
    }
    if (mean && end > start) {
      const acc_t count = static_cast<acc_t>(end - start);
      for (int64_t k = 0; k < P * F; ++k) o[k] /= count;
    }
  }
}

// ---------------------------------------------------------------------------------- max/min
// Running extremum and winner per output element, initialised from the row's first entry;
// a later entry wins only if strictly better, so ties go to the first entry in CSR order.
// A NaN message makes the output NaN (like torch's amax/amin) and its arg E.
template <bool kMax, typename acc_t>
inline bool replaces(acc_t candidate, acc_t current) {
  // Bitwise | rather than ||: no branch, so the compiler can turn the update into a blend.
  const bool better = kMax ? (candidate > current) : (candidate < current);
  return better | (candidate != candidate);
}

// One tile of V vectors of one non-empty row, H == 1: extremum and winner offset (within the
// row) stay in vector registers, updated with compare + blend, never a branch. Written with
// explicit vectors because GCC unrolls the equivalent scalar loop into compare-and-jump code.
// arg_t (int32 or int64) is only the stored winners' type; offsets are as wide as the values.
template <int64_t V, bool kMax, bool kArg, bool kGather, bool kValues, typename scalar_t,
          typename index_t, typename arg_t>
inline void extreme_tile(acc_type<scalar_t>* __restrict out, arg_t* __restrict arg,
                         const scalar_t* __restrict x, int64_t K,
                         const index_t* __restrict col, const scalar_t* __restrict vals,
                         int64_t start, int64_t end, int64_t limit, int64_t nnz, int64_t f0) {
  using acc_t = acc_type<scalar_t>;
  using L = Lanes<acc_t>;
  constexpr int64_t kBytes = V * L::kCount * static_cast<int64_t>(sizeof(scalar_t));
  typename L::value r[V];
  typename L::offset a[V];
  {
    const int64_t c = kGather ? static_cast<int64_t>(col[start]) : start;
    const acc_t w = kValues ? load(vals[start]) : acc_t(1);
    const scalar_t* __restrict xr = x + c * K + f0;
    for (int64_t v = 0; v < V; ++v) {
      r[v] = load_lanes(xr + v * L::kCount) * w;
      a[v] = typename L::offset{};
    }
  }
  for (int64_t e = start + 1; e < end; ++e) {
    prefetch_source<kGather>(x, col, e + kPrefetchDistance, limit, K, f0, kBytes);
    const int64_t c = kGather ? static_cast<int64_t>(col[e]) : e;
    const acc_t w = kValues ? load(vals[e]) : acc_t(1);
    const typename L::offset offset =
        typename L::offset{} + static_cast<typename L::offset_scalar>(e - start);
    const scalar_t* __restrict xr = x + c * K + f0;
    for (int64_t v = 0; v < V; ++v) {
      const typename L::value m = load_lanes(xr + v * L::kCount) * w;
      const auto take = (kMax ? (m > r[v]) : (m < r[v])) | (m != m);  // NaN propagates
      r[v] = take ? m : r[v];
      if constexpr (kArg) a[v] = take ? offset : a[v];
    }
  }
  std::memcpy(out + f0, r, sizeof(r));
  if constexpr (kArg) {
    for (int64_t v = 0; v < V; ++v) {
      for (int64_t t = 0; t < L::kCount; ++t) {
        const acc_t value = r[v][t];
        arg[f0 + v * L::kCount + t] =
            static_cast<arg_t>(value != value ? nnz : start + static_cast<int64_t>(a[v][t]));
      }
    }
  }
}

// Generic path (any H, any width from f0 on): extremum and winner rows kept in memory (L1).
template <bool kMax, bool kArg, bool kGather, bool kValues, typename scalar_t,
          typename index_t, typename arg_t>
inline void extreme_generic(acc_type<scalar_t>* __restrict o, arg_t* __restrict a,
                            const scalar_t* __restrict x, int64_t H, int64_t F, int64_t f0,
                            const index_t* __restrict col, const scalar_t* __restrict vals,
                            int64_t start, int64_t end, int64_t limit, int64_t nnz) {
  using acc_t = acc_type<scalar_t>;
  const int64_t K = H * F;
  const int64_t bytes = (K - f0) * static_cast<int64_t>(sizeof(scalar_t));
  for (int64_t e = start; e < end; ++e) {
    prefetch_source<kGather>(x, col, e + kPrefetchDistance, limit, K, f0, bytes);
    const int64_t c = kGather ? static_cast<int64_t>(col[e]) : e;
    const scalar_t* __restrict xr = x + c * K;
    for (int64_t h = 0; h < H; ++h) {
      const acc_t w = kValues ? load(vals[e * H + h]) : acc_t(1);
      const int64_t first = h * F + (H == 1 ? f0 : 0);
      const int64_t last = (h + 1) * F;
      if (e == start) {
        for (int64_t k = first; k < last; ++k) {
          o[k] = w * load(xr[k]);
          if constexpr (kArg) a[k] = static_cast<arg_t>(e);
        }
      } else {
        for (int64_t k = first; k < last; ++k) {
          const acc_t m = w * load(xr[k]);
          const bool take = replaces<kMax>(m, o[k]);
          o[k] = take ? m : o[k];
          if constexpr (kArg) a[k] = take ? static_cast<arg_t>(e) : a[k];
        }
      }
    }
  }
  if constexpr (kArg) {
    for (int64_t k = (H == 1 ? f0 : 0); k < K; ++k) {
      if (o[k] != o[k]) a[k] = static_cast<arg_t>(nnz);
    }
  }
}

// kArg false: the winners are not recorded (no gradient needed), arg may be null.
template <bool kMax, bool kArg, bool kGather, bool kValues, typename scalar_t, typename index_t,
          typename arg_t>
void extreme_rows(const index_t* rowptr, const index_t* col, const scalar_t* vals,
                  const scalar_t* x, acc_type<scalar_t>* out, arg_t* arg, int64_t H,
                  int64_t F, int64_t nnz, int64_t row_begin, int64_t row_end) {
  using acc_t = acc_type<scalar_t>;
  const int64_t K = H * F;
  const int64_t limit = static_cast<int64_t>(rowptr[row_end]);
  for (int64_t i = row_begin; i < row_end; ++i) {
    const int64_t start = rowptr[i], end = rowptr[i + 1];
    acc_t* __restrict o = out + i * K;
    arg_t* __restrict a = kArg ? arg + i * K : nullptr;
    if (start == end) {
      for (int64_t k = 0; k < K; ++k) o[k] = acc_t(0);
      if constexpr (kArg) {
        for (int64_t k = 0; k < K; ++k) a[k] = static_cast<arg_t>(nnz);
      }
      continue;
    }
    int64_t f0 = 0;
    // Row offsets must fit the int32 winner offsets of the float tiles.
    if (H == 1 && end - start <= std::numeric_limits<int32_t>::max()) {
      constexpr int64_t kLanes = Lanes<acc_t>::kCount;
      for (; f0 + 4 * kLanes <= K; f0 += 4 * kLanes) {
        extreme_tile<4, kMax, kArg, kGather, kValues>(o, a, x, K, col, vals, start, end, limit, nnz,
                                                f0);
      }
      for (; f0 + kLanes <= K; f0 += kLanes) {
        extreme_tile<1, kMax, kArg, kGather, kValues>(o, a, x, K, col, vals, start, end, limit, nnz,
                                                f0);
      }
      if (f0 == K) continue;
    }
    extreme_generic<kMax, kArg, kGather, kValues>(o, a, x, H, F, f0, col, vals, start, end, limit,
                                            nnz);
  }
}

// arg null: no winners (the kArg = false rows are instantiated once, not per arg type).
template <bool kGather, bool kValues, typename scalar_t, typename index_t, typename arg_t>
void extreme_dispatch(bool is_max, const index_t* rowptr, const index_t* col,
                      const scalar_t* vals, const scalar_t* x, acc_type<scalar_t>* out,
                      arg_t* arg, int64_t H, int64_t F, int64_t nnz, int64_t row_begin,
                      int64_t row_end) {
  int32_t* const no_arg = nullptr;
  const bool with_arg = arg != nullptr;
  if (is_max && with_arg) {
    extreme_rows<true, true, kGather, kValues>(rowptr, col, vals, x, out, arg, H, F, nnz,
                                               row_begin, row_end);
  } else if (is_max) {
    extreme_rows<true, false, kGather, kValues>(rowptr, col, vals, x, out, no_arg, H, F, nnz,
                                                row_begin, row_end);
  } else if (with_arg) {
    extreme_rows<false, true, kGather, kValues>(rowptr, col, vals, x, out, arg, H, F, nnz,
                                                row_begin, row_end);
  } else {
    extreme_rows<false, false, kGather, kValues>(rowptr, col, vals, x, out, no_arg, H, F, nnz,
                                                 row_begin, row_end);
  }
}

// Calls body(pointer) with arg's data as int32_t* or int64_t* (its dtype is one of the two).
template <typename Body>
void with_arg_pointer(const at::Tensor& arg, const Body& body) {
  if (arg.scalar_type() == at::kInt) {
    body(arg.data_ptr<int32_t>());
  } else {
    body(arg.data_ptr<int64_t>());
  }
}

inline void check_arg_dtype(at::ScalarType arg_dtype, int64_t nnz, const char* op) {
  TORCH_CHECK(arg_dtype == at::kInt || arg_dtype == at::kLong, op,
              ": arg must be int32 or int64, got ", arg_dtype);
  TORCH_CHECK(arg_dtype == at::kLong || nnz <= std::numeric_limits<int32_t>::max(), op,
              ": an int32 arg cannot hold the sentinel nnz = ", nnz);
}

enum class Reduce { kSum, kMean, kMax, kMin };

Reduce parse_reduce(const std::string& reduce) {
  if (reduce == "sum") return Reduce::kSum;
  if (reduce == "mean") return Reduce::kMean;
  if (reduce == "max") return Reduce::kMax;
  if (reduce == "min") return Reduce::kMin;
  TORCH_CHECK_VALUE(false, "reduce must be one of sum, mean, max, min; got '", reduce, "'");
}

// out (M, H|P, F) in the accumulation dtype, arg (M, H, F) of arg_dtype (int32 or int64) for
// max/min with_arg, else empty (of arg_dtype). x is (N, H, F) contiguous, values absent, (E, H)
// or (E, P, Q) contiguous. col undefined: segment reduction, entry e of the row reads x[e] (x
// has H = 1).
std::tuple<at::Tensor, at::Tensor> spmm_kernel(const at::Tensor& rowptr,
                                               const c10::optional<at::Tensor>& col_opt,
                                               const c10::optional<at::Tensor>& values_opt,
                                               const at::Tensor& x, Reduce op, bool with_arg,
                                               at::ScalarType arg_dtype) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "spmm: x must be a contiguous (N, H, F) tensor");
  const bool gather = col_opt.has_value() && col_opt->defined();
  const bool has_values = values_opt.has_value() && values_opt->defined();
  const bool block = has_values && values_opt->dim() == 3;
  const int64_t num_rows = rowptr.numel() - 1;
  const int64_t nnz = gather ? col_opt->numel() : x.size(0);
  const int64_t H = x.size(1), F = x.size(2);
  const int64_t out_heads = block ? values_opt->size(1) : H;
  TORCH_CHECK(!block || op == Reduce::kSum || op == Reduce::kMean,
              "spmm: block values support sum and mean only");
  TORCH_CHECK(gather || !has_values, "spmm: segment reductions take no values");
  TORCH_CHECK(block || !has_values || values_opt->size(1) == H,
              "spmm: values (E, H) must match x (N, H, F)");
  check_arg_dtype(arg_dtype, nnz, "spmm");

  const auto acc_dtype = at::toOpMathType(x.scalar_type());
  at::Tensor out = empty_output({num_rows, out_heads, F}, x.options().dtype(acc_dtype));
  const bool extreme = op == Reduce::kMax || op == Reduce::kMin;
  // Without a gradient the winners are not needed: skipping them saves an integer tensor of
  // the output's shape and its first-touch page faults. With them, int32 (whenever nnz fits)
  // halves that tensor and its writes against int64.
  const auto arg_options = x.options().dtype(arg_dtype);
  at::Tensor arg = extreme && with_arg ? empty_output({num_rows, H, F}, arg_options)
                                       : at::empty({0}, arg_options);
  if (num_rows == 0 || out.numel() == 0) return {out, arg};

  AT_DISPATCH_INDEX_TYPES(rowptr.scalar_type(), "gnnkit_spmm", [&] {
    const index_t* rp = rowptr.data_ptr<index_t>();
    const index_t* cp = gather ? col_opt->data_ptr<index_t>() : nullptr;
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "gnnkit_spmm", [&] {
      using acc_t = acc_type<scalar_t>;
      const scalar_t* xp = x.data_ptr<scalar_t>();
      const scalar_t* vp = has_values ? values_opt->data_ptr<scalar_t>() : nullptr;
      acc_t* outp = out.data_ptr<acc_t>();
      const bool mean = op == Reduce::kMean;
      const int64_t K = H * F;
      const int64_t per_edge = block ? values_opt->size(1) * values_opt->size(2) * F : K;
      const auto bounds = balanced_row_blocks(rp, num_rows, std::max<int64_t>(per_edge, 1),
                                              std::max<int64_t>(out_heads * F, 1));
      if (extreme) {
        const bool is_max = op == Reduce::kMax;
        const auto run = [&](auto* argp) {
          for_each_block(bounds, [&](int64_t b, int64_t e) {
            if (!gather) {
              extreme_dispatch<false, false>(is_max, rp, cp, vp, xp, outp, argp, H, F, nnz, b, e);
            } else if (has_values) {
              extreme_dispatch<true, true>(is_max, rp, cp, vp, xp, outp, argp, H, F, nnz, b, e);
            } else {
              extreme_dispatch<true, false>(is_max, rp, cp, vp, xp, outp, argp, H, F, nnz, b, e);
            }
          });
        };
        if (!with_arg) {
          run(static_cast<int32_t*>(nullptr));
        } else {
          with_arg_pointer(arg, run);
        }
      } else if (block) {
        const int64_t P = values_opt->size(1), Q = values_opt->size(2);
        for_each_block(bounds, [&](int64_t b, int64_t e) {
          sum_rows_block(rp, cp, vp, xp, outp, P, Q, F, mean, b, e);
        });
      } else if (!gather) {
        for_each_block(bounds, [&](int64_t b, int64_t e) {
          sum_rows_single_head<false, false>(rp, cp, vp, xp, outp, K, mean, b, e);
        });
      } else if (has_values && H > 1) {
        for_each_block(bounds, [&](int64_t b, int64_t e) {
          sum_rows_heads(rp, cp, vp, xp, outp, H, F, mean, b, e);
        });
      } else {
        for_each_block(bounds, [&](int64_t b, int64_t e) {
          if (has_values) {
            sum_rows_single_head<true, true>(rp, cp, vp, xp, outp, K, mean, b, e);
          } else {
            sum_rows_single_head<true, false>(rp, cp, vp, xp, outp, K, mean, b, e);
          }
        });
      }
    });
  });
  return {out, arg};
}

// ------------------------------------------------------------------------ fused sum backward
// Backward of sum/mean spmm with scalar or no values, in one pass over A's CSC (the rows of
// Aᵀ): column j of A gathers grad[i] for every entry (i, j) once and uses it twice,
//   grad_x[j]       = Σ_{k in column j} values[perm[k]] · grad[row[k]]   (an spmm on Aᵀ)
//   grad_values[e]  = <grad[row[k]], x[j]>  for e = perm[k]              (an sddmm "dot")
// so the edges and the gathered grad rows are read once instead of twice, and the values need
// no permuted copy. Each column is owned by one thread (grad_x row j, and the entries perm[k]
// of column j, which no other column touches): no atomics, deterministic.

// One tile of V vectors (features [f0, f0 + V * lanes)) of one column: the grad_x accumulators
// and the tile of x[j] stay in registers; each entry's partial dot product is added to
// dots[k - start] (tiles are visited in feature order, so the dot's order is fixed).
template <int64_t V, bool kNeedX, bool kNeedV, bool kValues, typename scalar_t,
          typename index_t>
inline void fused_tile(acc_type<scalar_t>* __restrict gx, acc_type<scalar_t>* __restrict dots,
                       const scalar_t* __restrict grad, const scalar_t* __restrict xj,
                       int64_t K, const index_t* __restrict row,
                       const int64_t* __restrict perm, const scalar_t* __restrict vals,
                       int64_t start, int64_t end, int64_t limit, int64_t f0) {
  using acc_t = acc_type<scalar_t>;
  using L = Lanes<acc_t>;
  constexpr int64_t kBytes = V * L::kCount * static_cast<int64_t>(sizeof(scalar_t));
  typename L::value r[V], xv[V];
  for (int64_t v = 0; v < V; ++v) {
    r[v] = typename L::value{};
    if constexpr (kNeedV) xv[v] = load_lanes(xj + f0 + v * L::kCount);
  }
  for (int64_t k = start; k < end; ++k) {
    prefetch_source<true>(grad, row, k + kPrefetchDistance, limit, K, f0, kBytes);
    const scalar_t* __restrict g = grad + static_cast<int64_t>(row[k]) * K + f0;
    typename L::value d{};
    for (int64_t v = 0; v < V; ++v) {
      const typename L::value gv = load_lanes(g + v * L::kCount);
      if constexpr (kNeedX) {
        if constexpr (kValues) {
          r[v] += gv * load(vals[perm[k]]);
        } else {
          r[v] += gv;
        }
      }
      if constexpr (kNeedV) d += gv * xv[v];
    }
    if constexpr (kNeedV) {
      acc_t sum = d[0];
      for (int64_t t = 1; t < L::kCount; ++t) sum += d[t];
      dots[k - start] += sum;
    }
  }
  if constexpr (kNeedX) std::memcpy(gx + f0, r, sizeof(r));
}

// The last K - f0 (< one vector) features of a column, scalar.
template <bool kNeedX, bool kNeedV, bool kValues, typename scalar_t, typename index_t>
inline void fused_remainder(acc_type<scalar_t>* __restrict gx,
                            acc_type<scalar_t>* __restrict dots,
                            const scalar_t* __restrict grad, const scalar_t* __restrict xj,
                            int64_t K, const index_t* __restrict row,
                            const int64_t* __restrict perm, const scalar_t* __restrict vals,
                            int64_t start, int64_t end, int64_t limit, int64_t f0) {
  using acc_t = acc_type<scalar_t>;
  const int64_t bytes = (K - f0) * static_cast<int64_t>(sizeof(scalar_t));
  if constexpr (kNeedX) {
    for (int64_t t = f0; t < K; ++t) gx[t] = acc_t(0);
  }
  for (int64_t k = start; k < end; ++k) {
    if (f0 == 0) prefetch_source<true>(grad, row, k + kPrefetchDistance, limit, K, f0, bytes);
    const scalar_t* __restrict g = grad + static_cast<int64_t>(row[k]) * K;
    const acc_t w = kValues ? load(vals[perm[k]]) : acc_t(1);
    acc_t dot = acc_t(0);
    for (int64_t t = f0; t < K; ++t) {
      const acc_t gt = load(g[t]);
      if constexpr (kNeedX) gx[t] += w * gt;
      if constexpr (kNeedV) dot += gt * load(xj[t]);
    }
    if constexpr (kNeedV) dots[k - start] += dot;
  }
}

// Columns [col_begin, col_end), all K features.
template <bool kNeedX, bool kNeedV, bool kValues, typename scalar_t, typename index_t>
void fused_columns(const index_t* colptr, const index_t* row, const int64_t* perm,
                   const scalar_t* vals, const scalar_t* x, const scalar_t* grad,
                   acc_type<scalar_t>* grad_x, acc_type<scalar_t>* grad_values, int64_t K,
                   int64_t col_begin, int64_t col_end) {
  using acc_t = acc_type<scalar_t>;
  constexpr int64_t kLanes = Lanes<acc_t>::kCount;
  const int64_t limit = static_cast<int64_t>(colptr[col_end]);
  std::vector<acc_t> dots;
  for (int64_t j = col_begin; j < col_end; ++j) {
    const int64_t start = colptr[j], end = colptr[j + 1];
    acc_t* gx = kNeedX ? grad_x + j * K : nullptr;
    const scalar_t* xj = kNeedV ? x + j * K : nullptr;
    if constexpr (kNeedV) dots.assign(end - start, acc_t(0));
    int64_t f0 = 0;
    for (; f0 + kWideTile * kLanes <= K; f0 += kWideTile * kLanes) {
      fused_tile<kWideTile, kNeedX, kNeedV, kValues>(gx, dots.data(), grad, xj, K, row, perm,
                                                     vals, start, end, limit, f0);
    }
    for (; f0 + kLanes <= K; f0 += kLanes) {
      fused_tile<1, kNeedX, kNeedV, kValues>(gx, dots.data(), grad, xj, K, row, perm, vals,
                                             start, end, limit, f0);
    }
    if (f0 < K) {
      fused_remainder<kNeedX, kNeedV, kValues>(gx, dots.data(), grad, xj, K, row, perm, vals,
                                               start, end, limit, f0);
    }
    if constexpr (kNeedV) {
      for (int64_t k = start; k < end; ++k) grad_values[perm[k]] = dots[k - start];
    }
  }
}

template <bool kValues, typename scalar_t, typename index_t>
void fused_dispatch(bool need_x, bool need_values, const index_t* colptr, const index_t* row,
                    const int64_t* perm, const scalar_t* vals, const scalar_t* x,
                    const scalar_t* grad, acc_type<scalar_t>* grad_x,
                    acc_type<scalar_t>* grad_values, int64_t K, int64_t b, int64_t e) {
  if (need_x && need_values) {
    fused_columns<true, true, kValues>(colptr, row, perm, vals, x, grad, grad_x, grad_values, K,
                                       b, e);
  } else if (need_x) {
    fused_columns<true, false, kValues>(colptr, row, perm, vals, x, grad, grad_x, grad_values,
                                        K, b, e);
  } else {
    fused_columns<false, true, kValues>(colptr, row, perm, vals, x, grad, grad_x, grad_values,
                                        K, b, e);
  }
}

}  // namespace

// grad_x (N, K) and grad_values (E,) of sum spmm, in the accumulation dtype (undefined when
// not asked for). colptr (N+1,), row (E,) in one index dtype, perm (E,) int64; values absent or
// (E,) in CSR order; x (N, K) and grad (M, K) contiguous, one float dtype.
std::tuple<at::Tensor, at::Tensor> spmm_sum_backward(const at::Tensor& colptr,
                                                     const at::Tensor& row,
                                                     const at::Tensor& perm,
                                                     const c10::optional<at::Tensor>& values_opt,
                                                     const at::Tensor& x, const at::Tensor& grad,
                                                     bool need_x, bool need_values) {
  TORCH_CHECK(x.dim() == 2 && grad.dim() == 2 && x.is_contiguous() && grad.is_contiguous() &&
                  x.size(1) == grad.size(1),
              "spmm_sum_backward: x (N, K) and grad (M, K) must be contiguous");
  TORCH_CHECK(perm.scalar_type() == at::kLong && perm.is_contiguous(),
              "spmm_sum_backward: perm must be contiguous int64");
  const bool has_values = values_opt.has_value() && values_opt->defined();
  TORCH_CHECK(!need_values || has_values, "spmm_sum_backward: need_values without values");
  const int64_t num_cols = colptr.numel() - 1;
  const int64_t nnz = row.numel();
  const int64_t K = x.size(1);
  const auto acc_dtype = at::toOpMathType(x.scalar_type());
  const auto options = x.options().dtype(acc_dtype);
  at::Tensor grad_x, grad_values;
  // Zero-filled only where the kernel may leave entries unwritten (no features: the values'
  // gradient is an empty dot, 0).
  if (need_x) grad_x = empty_output({num_cols, K}, options);
  if (need_values) grad_values = K == 0 ? at::zeros({nnz}, options) : at::empty({nnz}, options);
  if (num_cols == 0 || (K == 0) || (!need_x && !need_values)) {
    if (need_x) grad_x.zero_();
    return {grad_x, grad_values};
  }
  AT_DISPATCH_INDEX_TYPES(colptr.scalar_type(), "gnnkit_spmm_sum_backward", [&] {
    const index_t* cp = colptr.data_ptr<index_t>();
    const index_t* rp = row.data_ptr<index_t>();
    const int64_t* pp = perm.data_ptr<int64_t>();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(),
                                    "gnnkit_spmm_sum_backward", [&] {
      using acc_t = acc_type<scalar_t>;
      const scalar_t* vp = has_values ? values_opt->data_ptr<scalar_t>() : nullptr;
      const scalar_t* xp = x.data_ptr<scalar_t>();
      const scalar_t* gp = grad.data_ptr<scalar_t>();
      acc_t* gxp = need_x ? grad_x.data_ptr<acc_t>() : nullptr;
      acc_t* gvp = need_values ? grad_values.data_ptr<acc_t>() : nullptr;
      const int64_t per_edge = K * (need_x && need_values ? 2 : 1);
      const auto bounds = balanced_row_blocks(cp, num_cols, per_edge, K);
      for_each_block(bounds, [&](int64_t b, int64_t e) {
        if (has_values) {
          fused_dispatch<true>(need_x, need_values, cp, rp, pp, vp, xp, gp, gxp, gvp, K, b, e);
        } else {
          fused_dispatch<false>(need_x, need_values, cp, rp, pp, vp, xp, gp, gxp, gvp, K, b, e);
        }
      });
    });
  });
  return {grad_x, grad_values};
}

// The contract's spmm (and segment when col is undefined) on the caller's shapes: values
// absent, (E,), (E, H) or (E, P, Q); x (N, *S), (N, H, F) or (N, Q, F), contiguous. Returns
// (out, arg) with out in x's dtype, shaped (M, *S) / (M, H, F) / (M, P, F), and arg shaped
// like out for max/min when with_arg (empty otherwise), of arg_dtype: int32 or int64, as
// chosen by the caller (int32 needs nnz <= INT32_MAX, the empty-row sentinel). Doing the
// reshapes here keeps the Python wrapper to a few attribute checks (small graphs are dominated
// by per-call overhead).
std::tuple<at::Tensor, at::Tensor> spmm_forward(const at::Tensor& rowptr,
                                                const c10::optional<at::Tensor>& col_opt,
                                                const c10::optional<at::Tensor>& values_opt,
                                                const at::Tensor& x, const std::string& reduce,
                                                bool with_arg, at::ScalarType arg_dtype) {
  const Reduce op = parse_reduce(reduce);
  TORCH_CHECK(x.dim() >= 1 && x.is_contiguous(), "spmm: x must be contiguous with dim >= 1");
  const bool has_values = values_opt.has_value() && values_opt->defined();
  const int64_t num_src = x.size(0);
  const int64_t num_rows = rowptr.numel() - 1;
  at::Tensor x3, values;
  std::vector<int64_t> out_shape{num_rows};
  if (!has_values || values_opt->dim() == 1) {
    const int64_t width = c10::multiply_integers(x.sizes().slice(1));
    x3 = x.view({num_src, 1, width});
    if (has_values) values = values_opt->view({-1, 1});
    out_shape.insert(out_shape.end(), x.sizes().begin() + 1, x.sizes().end());
  } else {
    TORCH_CHECK(x.dim() == 3 && x.size(1) == values_opt->size(values_opt->dim() - 1),
                "spmm: values of shape ", values_opt->sizes(), " do not match x ", x.sizes());
    x3 = x;
    values = *values_opt;
    out_shape.push_back(values.dim() == 3 ? values.size(1) : x.size(1));
    out_shape.push_back(x.size(2));
  }
  auto [out, arg] = spmm_kernel(rowptr, col_opt,
                                values.defined() ? c10::optional<at::Tensor>(values)
                                                 : c10::optional<at::Tensor>(),
                                x3, op, with_arg, arg_dtype);
  out = out.view(out_shape);
  if (out.scalar_type() != x.scalar_type()) out = out.to(x.scalar_type());
  if ((op == Reduce::kMax || op == Reduce::kMin) && with_arg) arg = arg.view(out_shape);
  return {out, arg};
}

// Backward of max/min spmm. x, grad and arg are (N|M, H, F) contiguous, values absent or (E, H);
// arg is int32 or int64 (any winner is < nnz; the sentinel nnz marks empty rows).
// grad_x: parallel over feature columns (each thread owns whole columns of grad_x and visits
// the rows in order), so the scatter to sources needs no atomics and is deterministic.
// grad_values: parallel over rows, since the winners of row i are entries of row i.
std::tuple<at::Tensor, at::Tensor> spmm_arg_backward(const at::Tensor& col,
                                                     const c10::optional<at::Tensor>& values_opt,
                                                     const at::Tensor& x, const at::Tensor& grad,
                                                     const at::Tensor& arg) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous() && grad.is_contiguous() && arg.is_contiguous(),
              "spmm_arg_backward: x, grad_out and arg must be contiguous (·, H, F) tensors");
  const bool has_values = values_opt.has_value() && values_opt->defined();
  const int64_t nnz = col.numel();
  check_arg_dtype(arg.scalar_type(), nnz, "spmm_arg_backward");
  const int64_t num_rows = grad.size(0);
  const int64_t H = x.size(1), F = x.size(2), K = H * F;
  const auto acc_dtype = at::toOpMathType(x.scalar_type());
  at::Tensor grad_x = at::zeros(x.sizes(), x.options().dtype(acc_dtype));
  at::Tensor grad_values = has_values ? at::zeros(values_opt->sizes(), x.options().dtype(acc_dtype))
                                      : at::Tensor();
  if (num_rows == 0 || K == 0 || nnz == 0) return {grad_x, grad_values};

  AT_DISPATCH_INDEX_TYPES(col.scalar_type(), "gnnkit_spmm_arg_backward", [&] {
    const index_t* cp = col.data_ptr<index_t>();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(),
                                    "gnnkit_spmm_arg_backward", [&] {
      using acc_t = acc_type<scalar_t>;
      const scalar_t* xp = x.data_ptr<scalar_t>();
      const scalar_t* gp = grad.data_ptr<scalar_t>();
      const scalar_t* vp = has_values ? values_opt->data_ptr<scalar_t>() : nullptr;
      acc_t* gxp = grad_x.data_ptr<acc_t>();
      acc_t* gvp = has_values ? grad_values.data_ptr<acc_t>() : nullptr;
      with_arg_pointer(arg, [&](const auto* ap) {
        // Columns in chunks of one cache line so that two threads never write the same line.
        constexpr int64_t kChunk = 16;
        const int64_t num_chunks = (K + kChunk - 1) / kChunk;
        for_each_block(uniform_blocks(num_chunks, num_rows * kChunk), [&](int64_t c0,
                                                                          int64_t c1) {
          const int64_t k0 = c0 * kChunk, k1 = std::min(K, c1 * kChunk);
          for (int64_t i = 0; i < num_rows; ++i) {
            for (int64_t k = k0; k < k1; ++k) {
              const int64_t e = static_cast<int64_t>(ap[i * K + k]);
              if (e >= nnz) continue;
              const acc_t w = has_values ? load(vp[e * H + k / F]) : acc_t(1);
              gxp[static_cast<int64_t>(cp[e]) * K + k] += w * load(gp[i * K + k]);
            }
          }
        });
        if (has_values) {
          for_each_block(uniform_blocks(num_rows, K), [&](int64_t r0, int64_t r1) {
            for (int64_t i = r0; i < r1; ++i) {
              for (int64_t k = 0; k < K; ++k) {
                const int64_t e = static_cast<int64_t>(ap[i * K + k]);
                if (e >= nnz) continue;
                gvp[e * H + k / F] += load(xp[static_cast<int64_t>(cp[e]) * K + k]) *
                                      load(gp[i * K + k]);
              }
            }
          });
        }
      });
    });
  });
  return {grad_x, grad_values};
}

}  // namespace gnnkit
