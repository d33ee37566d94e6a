// Batched intersection of sorted CSR rows (common neighbours of node pairs).
//
// Two passes, both parallel over pairs: count |N(l) ∩ N(r)| per pair, prefix-sum the counts
// into the output row pointer, then intersect again writing each pair's common columns into
// its own slice. No pair touches another's output, so the result is deterministic.
#include "common.h"

#include <limits>
#include <tuple>

namespace gnnkit {
namespace {

// When one row is this many times longer than the other, binary-searching the short row's
// entries in the long one (O(s log l)) beats the linear merge (O(s + l)).
constexpr int64_t kGallopRatio = 32;

// Calls emit(column) for every column present in both sorted, duplicate-free ranges, in
// increasing order; returns the number of common columns.
template <typename index_t, typename Emit>
inline int64_t intersect(const index_t* a, int64_t na, const index_t* b, int64_t nb,
                         const Emit& emit) {
  if (na > nb) {
    std::swap(a, b);
    std::swap(na, nb);
  }
  int64_t count = 0;
  if (na == 0) return 0;
  if (na * kGallopRatio < nb) {
    const index_t* lo = b;
    const index_t* const hi = b + nb;
    for (int64_t i = 0; i < na && lo < hi; ++i) {
      lo = std::lower_bound(lo, hi, a[i]);
      if (lo < hi && *lo == a[i]) {
        emit(a[i]);
        ++count;
        ++lo;
      }
    }
    return count;
  }
  int64_t i = 0, j = 0;
  while (i < na && j < nb) {
    const index_t x = a[i], y = b[j];
    if (x == y) {
      emit(x);
      ++count;
      ++i;
      ++j;
    } else {
      // Branch-free advance: the comparisons are unpredictable on random rows.
      i += x < y;
      j += y < x;
    }
  }
  return count;
}

}  // namespace

// left and right are int64 (K,); returns (ptr (K + 1,), common) in the dtype of col.
std::tuple<at::Tensor, at::Tensor> intersect_rows_forward(const at::Tensor& rowptr,
                                                          const at::Tensor& col,
                                                          const at::Tensor& left,
                                                          const at::Tensor& right) {
  TORCH_CHECK(left.scalar_type() == at::kLong && right.scalar_type() == at::kLong &&
                  left.is_contiguous() && right.is_contiguous(),
              "intersect_rows: left and right must be contiguous int64 tensors");
  const int64_t num_pairs = left.numel();
  at::Tensor ptr = at::zeros({num_pairs + 1}, col.options());
  at::Tensor common;
  AT_DISPATCH_INDEX_TYPES(col.scalar_type(), "gnnkit_intersect_rows", [&] {
    const index_t* rp = rowptr.data_ptr<index_t>();
    const index_t* cp = col.data_ptr<index_t>();
    const int64_t* lp = left.data_ptr<int64_t>();
    const int64_t* rgt = right.data_ptr<int64_t>();
    index_t* ptrp = ptr.data_ptr<index_t>();
    const auto row_of = [&](int64_t node, const index_t*& begin, int64_t& length) {
      begin = cp + static_cast<int64_t>(rp[node]);
      length = static_cast<int64_t>(rp[node + 1]) - static_cast<int64_t>(rp[node]);
    };
    const auto none = [](index_t) {};
    // The cost of a pair is unknown before looking at it; 64 is a typical merged length.
    const auto blocks = uniform_blocks(num_pairs, 64);
    std::vector<int64_t> counts(num_pairs);
    for_each_block(blocks, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        const index_t *a, *b;
        int64_t na, nb;
        row_of(lp[k], a, na);
        row_of(rgt[k], b, nb);
        counts[k] = intersect(a, na, b, nb, none);
      }
    });
    int64_t total = 0;
    for (int64_t k = 0; k < num_pairs; ++k) {
      total += counts[k];
      ptrp[k + 1] = static_cast<index_t>(total);
    }
    TORCH_CHECK(total <= static_cast<int64_t>(std::numeric_limits<index_t>::max()),
                "intersect_rows: ", total, " common entries overflow the index dtype");
    common = at::empty({total}, col.options());
    index_t* out = common.data_ptr<index_t>();
    for_each_block(blocks, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        const index_t *a, *b;
        int64_t na, nb;
        row_of(lp[k], a, na);
        row_of(rgt[k], b, nb);
        index_t* cursor = out + static_cast<int64_t>(ptrp[k]);
        intersect(a, na, b, nb, [&](index_t column) { *cursor++ = column; });
      }
    });
  });
  return {ptr, common};
}

}  // namespace gnnkit
