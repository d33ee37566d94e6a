// Python bindings of gnnkit's CPU kernels (the module is loaded by ../build.py).
#include "common.h"

#include <torch/extension.h>

#include <string>
#include <tuple>

namespace gnnkit {
std::tuple<at::Tensor, at::Tensor> spmm_forward(const at::Tensor& rowptr,
                                                const c10::optional<at::Tensor>& col,
                                                const c10::optional<at::Tensor>& values,
                                                const at::Tensor& x, const std::string& reduce,
                                                bool with_arg, at::ScalarType arg_dtype);
std::tuple<at::Tensor, at::Tensor> spmm_sum_backward(const at::Tensor& colptr,
                                                     const at::Tensor& row,
                                                     const at::Tensor& perm,
                                                     const c10::optional<at::Tensor>& values,
                                                     const at::Tensor& x, const at::Tensor& grad,
                                                     bool need_x, bool need_values);
std::tuple<at::Tensor, at::Tensor> spmm_arg_backward(const at::Tensor& col,
                                                     const c10::optional<at::Tensor>& values,
                                                     const at::Tensor& x, const at::Tensor& grad,
                                                     const at::Tensor& arg);
at::Tensor sddmm_forward(const at::Tensor& row, const at::Tensor& col, const at::Tensor& a,
                         const at::Tensor& b, const std::string& op);
at::Tensor edge_softmax_forward(const at::Tensor& rowptr, const at::Tensor& scores);
at::Tensor edge_softmax_backward(const at::Tensor& rowptr, const at::Tensor& probs,
                                 const at::Tensor& grad);
std::tuple<at::Tensor, at::Tensor> intersect_rows_forward(const at::Tensor& rowptr,
                                                          const at::Tensor& col,
                                                          const at::Tensor& left,
                                                          const at::Tensor& right);
at::Tensor intersect_aggregate_forward(const at::Tensor& rowptr, const at::Tensor& col,
                                       const at::Tensor& left, const at::Tensor& right,
                                       const at::Tensor& x);
at::Tensor intersect_aggregate_backward(const at::Tensor& rowptr, const at::Tensor& col,
                                        const at::Tensor& left, const at::Tensor& right,
                                        const at::Tensor& grad, int64_t num_cols);
at::Tensor difference_aggregate_forward(const at::Tensor& rowptr, const at::Tensor& col,
                                        const at::Tensor& left, const at::Tensor& right,
                                        const at::Tensor& x,
                                        const c10::optional<at::Tensor>& weight);
at::Tensor difference_aggregate_backward(const at::Tensor& rowptr, const at::Tensor& col,
                                         const at::Tensor& left, const at::Tensor& right,
                                         const at::Tensor& grad,
                                         const c10::optional<at::Tensor>& weight,
                                         int64_t num_cols);
std::tuple<at::Tensor, at::Tensor> difference_rows_forward(const at::Tensor& rowptr,
                                                           const at::Tensor& col,
                                                           const at::Tensor& left,
                                                           const at::Tensor& right);
std::tuple<at::Tensor, at::Tensor, int64_t> bernoulli_keep_mask(
    const at::Tensor& key, int64_t pos, int64_t n, int64_t high, int64_t low,
    const c10::optional<at::Tensor>& scale);
at::Tensor sample_table(const at::Tensor& seeds);
std::tuple<at::Tensor, int64_t, int64_t> sample_hop_plan(const at::Tensor& rowptr,
                                                         const at::Tensor& frontier,
                                                         int64_t fanout, bool replace);
std::tuple<int64_t, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> sample_hop(
    const at::Tensor& col, const at::Tensor& info, int64_t fanout, bool replace,
    const at::Tensor& u_first, const at::Tensor& u_keys,
    const c10::optional<at::Tensor>& u_fallback, const at::Tensor& table, int64_t num_local);
}  // namespace gnnkit

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "gnnkit CPU kernels (see gnnkit/sparse/_backends/cpu/__init__.py for the contract)";
  m.def("spmm", &gnnkit::spmm_forward,
        "CSR sparse-dense product / segment reduction; max/min winners of dtype arg_dtype "
        "(int32 or int64)",
        py::arg("rowptr"), py::arg("col"), py::arg("values"), py::arg("x"), py::arg("reduce"),
        py::arg("with_arg"), py::arg("arg_dtype"));
  m.def("spmm_sum_backward", &gnnkit::spmm_sum_backward,
        "gradients of sum spmm to x and scalar values in one pass over the CSC",
        py::arg("colptr"), py::arg("row"), py::arg("perm"), py::arg("values"), py::arg("x"),
        py::arg("grad"), py::arg("need_x"), py::arg("need_values"));
  m.def("spmm_arg_backward", &gnnkit::spmm_arg_backward, "backward of max/min spmm",
        py::arg("col"), py::arg("values"), py::arg("x"), py::arg("grad_out"), py::arg("arg"));
  m.def("sddmm", &gnnkit::sddmm_forward, "per-edge op of the end points' features",
        py::arg("row"), py::arg("col"), py::arg("a"), py::arg("b"), py::arg("op"));
  m.def("edge_softmax", &gnnkit::edge_softmax_forward, "row-wise softmax of edge scores",
        py::arg("rowptr"), py::arg("scores"));
  m.def("edge_softmax_backward", &gnnkit::edge_softmax_backward, "gradient of edge_softmax",
        py::arg("rowptr"), py::arg("probs"), py::arg("grad"));
  m.def("intersect_rows", &gnnkit::intersect_rows_forward, "common columns of row pairs",
        py::arg("rowptr"), py::arg("col"), py::arg("left"), py::arg("right"));
  m.def("intersect_aggregate", &gnnkit::intersect_aggregate_forward,
        "sum of x over the common columns of row pairs", py::arg("rowptr"), py::arg("col"),
        py::arg("left"), py::arg("right"), py::arg("x"));
  m.def("intersect_aggregate_backward", &gnnkit::intersect_aggregate_backward,
        "gradient of intersect_aggregate w.r.t. x", py::arg("rowptr"), py::arg("col"),
        py::arg("left"), py::arg("right"), py::arg("grad"), py::arg("num_cols"));
  m.def("difference_rows", &gnnkit::difference_rows_forward,
        "columns of each left row absent from its right row", py::arg("rowptr"), py::arg("col"),
        py::arg("left"), py::arg("right"));
  m.def("difference_aggregate", &gnnkit::difference_aggregate_forward,
        "weighted sum of x over the columns of each left row absent from its right row",
        py::arg("rowptr"), py::arg("col"), py::arg("left"), py::arg("right"), py::arg("x"),
        py::arg("weight"));
  m.def("difference_aggregate_backward", &gnnkit::difference_aggregate_backward,
        "gradient of difference_aggregate w.r.t. x", py::arg("rowptr"), py::arg("col"),
        py::arg("left"), py::arg("right"), py::arg("grad"), py::arg("weight"),
        py::arg("num_cols"));
  m.def("bernoulli_keep_mask", &gnnkit::bernoulli_keep_mask,
        "keep-mask of torch's CPU bernoulli_ from an MT19937 state (key, pos), fused",
        py::arg("key"), py::arg("pos"), py::arg("n"), py::arg("high"), py::arg("low"),
        py::arg("scale"));
  m.def("sample_table", &gnnkit::sample_table, "hash map global -> local id of the seeds",
        py::arg("seeds"));
  m.def("sample_hop_plan", &gnnkit::sample_hop_plan,
        "per-row (begin, degree) of a sampling hop and the random numbers it consumes",
        py::arg("rowptr"), py::arg("frontier"), py::arg("fanout"), py::arg("replace"));
  m.def("sample_hop", &gnnkit::sample_hop, "one neighbour-sampling hop with relabelling",
        py::arg("col"), py::arg("info"), py::arg("fanout"), py::arg("replace"),
        py::arg("u_first"), py::arg("u_keys"), py::arg("u_fallback"), py::arg("table"),
        py::arg("num_local"));
}
