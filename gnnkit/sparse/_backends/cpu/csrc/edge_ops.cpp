// Per-edge kernels: sddmm (dot/add/mul/outer of the two end points' features) and the row-wise
// edge softmax with its backward.
//
// Layout contract (the Python wrapper reshapes to it): for sddmm "dot" and "outer" a is
// (M, R, F) and b is (N, R', F); for "add"/"mul" a is (M, K) and b is (N, K); scores, probs and
// grads of the softmax are (E, H). All contiguous; outputs in the accumulation dtype.
#include "common.h"

#include <cmath>
#include <limits>
#include <string>

namespace gnnkit {
namespace {

constexpr int64_t kPrefetchDistance = 8;

// Dot product with a fixed number of independent partial sums: the compiler vectorises it
// (a single running sum would serialise on the add latency and not vectorise without
// -ffast-math), and the summation order is fixed, hence deterministic.
template <typename scalar_t>
inline acc_type<scalar_t> dot(const scalar_t* __restrict a, const scalar_t* __restrict b,
                              int64_t n) {
  using acc_t = acc_type<scalar_t>;
  constexpr int64_t kLanes = 64 / sizeof(acc_t);
  acc_t part[kLanes];
  for (int64_t j = 0; j < kLanes; ++j) part[j] = acc_t(0);
  int64_t f = 0;
  for (; f + kLanes <= n; f += kLanes) {
    for (int64_t j = 0; j < kLanes; ++j) part[j] += load(a[f + j]) * load(b[f + j]);
  }
  acc_t total = acc_t(0);
  for (int64_t j = 0; j < kLanes; ++j) total += part[j];
  for (; f < n; ++f) total += load(a[f]) * load(b[f]);
  return total;
}

enum class EdgeOp { kDot, kAdd, kMul, kOuter };

EdgeOp parse_op(const std::string& op) {
  if (op == "dot") return EdgeOp::kDot;
  if (op == "add") return EdgeOp::kAdd;
  if (op == "mul") return EdgeOp::kMul;
  if (op == "outer") return EdgeOp::kOuter;
  TORCH_CHECK_VALUE(false, "op must be one of dot, add, mul, outer; got '", op, "'");
}

}  // namespace

at::Tensor sddmm_forward(const at::Tensor& row, const at::Tensor& col, const at::Tensor& a,
                         const at::Tensor& b, const std::string& op_name) {
  const EdgeOp op = parse_op(op_name);
  TORCH_CHECK(a.is_contiguous() && b.is_contiguous(), "sddmm: a and b must be contiguous");
  const int64_t nnz = col.numel();
  const auto acc_dtype = at::toOpMathType(a.scalar_type());
  const auto options = a.options().dtype(acc_dtype);
  at::Tensor out;
  int64_t R = 1, P = 1, Q = 1, F = 1, K = 1;
  if (op == EdgeOp::kDot) {
    TORCH_CHECK(a.dim() == 3 && b.dim() == 3, "sddmm dot: a and b must be (·, R, F)");
    R = a.size(1);
    F = a.size(2);
    out = empty_output({nnz, R}, options);
  } else if (op == EdgeOp::kOuter) {
    TORCH_CHECK(a.dim() == 3 && b.dim() == 3, "sddmm outer: a and b must be (·, P|Q, F)");
    P = a.size(1);
    Q = b.size(1);
    F = a.size(2);
    out = empty_output({nnz, P, Q}, options);
  } else {
    TORCH_CHECK(a.dim() == 2 && b.dim() == 2, "sddmm add/mul: a and b must be (·, K)");
    K = a.size(1);
    out = empty_output({nnz, K}, options);
  }
  if (out.numel() == 0) return out;

  AT_DISPATCH_INDEX_TYPES(col.scalar_type(), "gnnkit_sddmm", [&] {
    const index_t* rp = row.data_ptr<index_t>();
    const index_t* cp = col.data_ptr<index_t>();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.scalar_type(), "gnnkit_sddmm", [&] {
      using acc_t = acc_type<scalar_t>;
      const scalar_t* ap = a.data_ptr<scalar_t>();
      const scalar_t* bp = b.data_ptr<scalar_t>();
      acc_t* outp = out.data_ptr<acc_t>();
      const int64_t b_row = op == EdgeOp::kOuter ? Q * F : (op == EdgeOp::kDot ? R * F : K);
      const int64_t a_row = op == EdgeOp::kOuter ? P * F : b_row;
      const int64_t per_edge = op == EdgeOp::kOuter ? P * Q * F : a_row;
      const int64_t out_row = out.numel() / nnz;
      for_each_block(uniform_blocks(nnz, std::max<int64_t>(per_edge, 1)), [&](int64_t e0,
                                                                              int64_t e1) {
        for (int64_t e = e0; e < e1; ++e) {
          if (e + kPrefetchDistance < e1) {
            prefetch_bytes(bp + static_cast<int64_t>(cp[e + kPrefetchDistance]) * b_row,
                           b_row * static_cast<int64_t>(sizeof(scalar_t)));
          }
          const scalar_t* __restrict ar = ap + static_cast<int64_t>(rp[e]) * a_row;
          const scalar_t* __restrict br = bp + static_cast<int64_t>(cp[e]) * b_row;
          acc_t* __restrict o = outp + e * out_row;
          switch (op) {
            case EdgeOp::kDot:
              for (int64_t r = 0; r < R; ++r) o[r] = dot(ar + r * F, br + r * F, F);
              break;
            case EdgeOp::kOuter:
              for (int64_t p = 0; p < P; ++p) {
                for (int64_t q = 0; q < Q; ++q) o[p * Q + q] = dot(ar + p * F, br + q * F, F);
              }
              break;
            case EdgeOp::kAdd:
              for (int64_t k = 0; k < K; ++k) o[k] = load(ar[k]) + load(br[k]);
              break;
            case EdgeOp::kMul:
              for (int64_t k = 0; k < K; ++k) o[k] = load(ar[k]) * load(br[k]);
              break;
          }
        }
      });
    });
  });
  return out;
}

// Softmax of scores (E, H) within each CSR row, per head: exp(s - max_row) / Σ_row exp(...).
at::Tensor edge_softmax_forward(const at::Tensor& rowptr, const at::Tensor& scores) {
  TORCH_CHECK(scores.dim() == 2 && scores.is_contiguous(),
              "edge_softmax: scores must be a contiguous (E, H) tensor");
  const int64_t num_rows = rowptr.numel() - 1;
  const int64_t H = scores.size(1);
  at::Tensor out = empty_output(scores.sizes(), scores.options().dtype(
                                                 at::toOpMathType(scores.scalar_type())));
  if (out.numel() == 0 || num_rows == 0) return out;
  AT_DISPATCH_INDEX_TYPES(rowptr.scalar_type(), "gnnkit_edge_softmax", [&] {
    const index_t* rp = rowptr.data_ptr<index_t>();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, scores.scalar_type(),
                                    "gnnkit_edge_softmax", [&] {
      using acc_t = acc_type<scalar_t>;
      const scalar_t* sp = scores.data_ptr<scalar_t>();
      acc_t* outp = out.data_ptr<acc_t>();
      for_each_block(balanced_row_blocks(rp, num_rows, 4 * H, 1), [&](int64_t r0, int64_t r1) {
        std::vector<acc_t> row_max(H), denom(H);
        for (int64_t i = r0; i < r1; ++i) {
          const int64_t start = rp[i], end = rp[i + 1];
          if (start == end) continue;
          for (int64_t h = 0; h < H; ++h) {
            row_max[h] = -std::numeric_limits<acc_t>::infinity();
            denom[h] = acc_t(0);
          }
          for (int64_t e = start; e < end; ++e) {
            for (int64_t h = 0; h < H; ++h) {
              const acc_t s = load(sp[e * H + h]);
              // NaN propagates to the row maximum, as with torch's amax.
              row_max[h] = (s > row_max[h] || s != s) ? s : row_max[h];
            }
          }
          for (int64_t e = start; e < end; ++e) {
            for (int64_t h = 0; h < H; ++h) {
              const acc_t ex = std::exp(load(sp[e * H + h]) - row_max[h]);
              outp[e * H + h] = ex;
              denom[h] += ex;
            }
          }
          for (int64_t e = start; e < end; ++e) {
            for (int64_t h = 0; h < H; ++h) outp[e * H + h] /= denom[h];
          }
        }
      });
    });
  });
  return out;
}

// Gradient of edge_softmax: p * (g - Σ_row p g), per head.
at::Tensor edge_softmax_backward(const at::Tensor& rowptr, const at::Tensor& probs,
                                 const at::Tensor& grad) {
  TORCH_CHECK(probs.dim() == 2 && probs.is_contiguous() && grad.is_contiguous(),
              "edge_softmax_backward: probs and grad must be contiguous (E, H) tensors");
  const int64_t num_rows = rowptr.numel() - 1;
  const int64_t H = probs.size(1);
  at::Tensor out = empty_output(probs.sizes(), probs.options().dtype(
                                                at::toOpMathType(probs.scalar_type())));
  if (out.numel() == 0 || num_rows == 0) return out;
  AT_DISPATCH_INDEX_TYPES(rowptr.scalar_type(), "gnnkit_edge_softmax_backward", [&] {
    const index_t* rp = rowptr.data_ptr<index_t>();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, probs.scalar_type(),
                                    "gnnkit_edge_softmax_backward", [&] {
      using acc_t = acc_type<scalar_t>;
      const scalar_t* pp = probs.data_ptr<scalar_t>();
      const scalar_t* gp = grad.data_ptr<scalar_t>();
      acc_t* outp = out.data_ptr<acc_t>();
      for_each_block(balanced_row_blocks(rp, num_rows, 3 * H, 1), [&](int64_t r0, int64_t r1) {
        std::vector<acc_t> weighted(H);
        for (int64_t i = r0; i < r1; ++i) {
          const int64_t start = rp[i], end = rp[i + 1];
          for (int64_t h = 0; h < H; ++h) weighted[h] = acc_t(0);
          for (int64_t e = start; e < end; ++e) {
            for (int64_t h = 0; h < H; ++h) {
              weighted[h] += load(pp[e * H + h]) * load(gp[e * H + h]);
            }
          }
          for (int64_t e = start; e < end; ++e) {
            for (int64_t h = 0; h < H; ++h) {
              const acc_t p = load(pp[e * H + h]);
              outp[e * H + h] = p * (load(gp[e * H + h]) - weighted[h]);
            }
          }
        }
      });
    });
  });
  return out;
}

}  // namespace gnnkit
