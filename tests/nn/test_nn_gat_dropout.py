"""GATConv's ``projection_dropout``: the reference code's dropout on projected features.

PetarV-/GAT (``utils/layers.py``, ``attn_head``) drops each head's projected features
``seq_fts`` with the input-dropout rate after scoring the edges with them and before
``coefs @ seq_fts``. The oracle here is a dense transcription of that head on a tiny graph:
an ``N × N`` score matrix masked to the edges, a row softmax, the attention-dropout mask, and
a matmul with the masked projections. The masks are replayed from the same seed (same draw
order and shapes as the layer), so layer and oracle see identical Bernoulli samples.
"""

from __future__ import annotations

import pytest
import torch
from nn_graphs import random_graph
from torch import Tensor
from torch.nn import functional as F

from gnnkit.models import GAT, build_model, model_config
from gnnkit.nn import GATConv, with_self_loops
from gnnkit.sparse import SparseMatrix


def _graph(num_nodes: int = 7) -> SparseMatrix:
    """A tiny directed graph (with an isolated node) carrying one self loop per node."""
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5, 1, 3, 0],
                               [1, 2, 0, 0, 3, 4, 0, 1, 5]])
    return with_self_loops(SparseMatrix.from_edge_index(edge_index, shape=num_nodes))


def _layer(p: float, *, concat: bool = True, attention_dropout: float = 0.0,
           seed: int = 0) -> GATConv:
    torch.manual_seed(seed)
    conv = GATConv(5, 3, heads=2, concat=concat, dropout=attention_dropout,
                   add_self_loops=False, projection_dropout=p).double()
    with torch.no_grad():  # a non-zero bias, so that a dropped bias would show
        assert conv.bias is not None
        conv.bias.uniform_(-1.0, 1.0)
    return conv


def _same_weights(conv: GATConv, p: float) -> GATConv:
    """A copy of ``conv`` with another ``projection_dropout``."""
    other = GATConv(conv.in_channels, conv.out_channels, conv.heads, concat=conv.concat,
                    dropout=conv.dropout, add_self_loops=conv.add_self_loops,
                    projection_dropout=p).double()
    other.load_state_dict(conv.state_dict())
    return other


def _dense_reference_head(conv: GATConv, x: Tensor, A: SparseMatrix, seed: int) -> Tensor:
    """The reference code's GAT layer, dense, with masks replayed from ``seed``.

    Per head ``h``: ``W^h x`` ``(N, C)``; logits ``a_dst·W^h x_i + a_src·W^h x_j`` on the
    edges (``-inf`` elsewhere) → LeakyReLU → row softmax → coefficient dropout; then
    ``coefs @ dropout(W^h x)``. The layer draws the coefficient mask on its ``(E, H)`` values
    in CSR order first, then the ``(N, H, C)`` projection mask, so both are replayed in that
    order and scattered into dense positions.
    """
    assert conv.lin is not None
    N, H, C = x.shape[0], conv.heads, conv.out_channels
    torch.manual_seed(seed)
    ones_edges = torch.ones(A.nnz, H, dtype=x.dtype)
    coef_mask_sparse = F.dropout(ones_edges, p=conv.dropout, training=True)
    projection_mask = F.dropout(torch.ones(N, H, C, dtype=x.dtype),
                                p=conv.projection_dropout, training=True)
    coef_mask = torch.zeros(H, N, N, dtype=x.dtype)
    coef_mask[:, A.row, A.col] = coef_mask_sparse.T
    edges = torch.zeros(N, N, dtype=torch.bool)
    edges[A.row, A.col] = True

    projected = (x @ conv.lin.weight.T).view(N, H, C)  # seq_fts, per head
    heads = []
    for h in range(H):
        fts = projected[:, h]                               # (N, C)
        f_dst = fts @ conv.att_dst[0, h]                    # (N,)  target half
        f_src = fts @ conv.att_src[0, h]                    # (N,)  source half
        logits = F.leaky_relu(f_dst[:, None] + f_src[None, :], conv.negative_slope)
        coefs = torch.softmax(logits.masked_fill(~edges, float("-inf")), dim=1)
        coefs = coefs * coef_mask[h]                         # coef_drop
        heads.append(coefs @ (fts * projection_mask[:, h]))  # in_drop on seq_fts, then matmul
    out = torch.stack(heads, dim=1)                          # (N, H, C)
    out = out.reshape(N, H * C) if conv.concat else out.mean(dim=1)
    assert conv.bias is not None
    return out + conv.bias


@pytest.mark.parametrize("attention_dropout", [0.0, 0.6])
def test_zero_projection_dropout_is_bit_identical_to_the_paper_layer(
        attention_dropout: float) -> None:
    conv = _layer(0.0, attention_dropout=attention_dropout).train()
    A = _graph()
    x = torch.randn(A.num_rows, 5, dtype=torch.float64)
    torch.manual_seed(3)
    got = conv(x, A)
    rng_after = torch.get_rng_state()
    # "Before": the layer as it was, one propagate over the projected features.
    assert conv.lin is not None and conv.bias is not None
    torch.manual_seed(3)
    h = conv.lin(x).view(-1, conv.heads, conv.out_channels)
    expected = conv.propagate(A, h, h) + conv.bias
    assert torch.equal(got, expected)
    # no extra random draw: seeded runs of the default configuration are unchanged
    assert torch.equal(torch.get_rng_state(), rng_after)


def test_eval_mode_is_a_no_op() -> None:
    conv = _layer(0.7).eval()
    plain = _same_weights(conv, 0.0).eval()
    A = _graph()
    x = torch.randn(A.num_rows, 5, dtype=torch.float64)
    state = torch.get_rng_state()
    assert torch.equal(conv(x, A), plain(x, A))
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize(("concat", "attention_dropout"),
                         [(True, 0.0), (True, 0.5), (False, 0.5)])
def test_training_matches_a_dense_transcription_of_the_reference_head(
        concat: bool, attention_dropout: float) -> None:
    conv = _layer(0.5, concat=concat, attention_dropout=attention_dropout).train()
    A = _graph()
    x = torch.randn(A.num_rows, 5, dtype=torch.float64)
    x_ours, x_dense = x.clone().requires_grad_(), x.clone().requires_grad_()
    torch.manual_seed(11)
    got = conv(x_ours, A)
    expected = _dense_reference_head(conv, x_dense, A, seed=11)
    torch.testing.assert_close(got, expected)
    # the masks really dropped something, else the comparison proves nothing
    assert not torch.allclose(got, _same_weights(conv, 0.0).eval()(x, A))
    # gradients flow through the masked projections and the (unmasked) scores alike
    weights = torch.randn_like(got)
    (got * weights).sum().backward()
    ours_grads = [x_ours.grad] + [p.grad for p in conv.parameters()]
    conv.zero_grad()
    (expected * weights).sum().backward()
    dense_grads = [x_dense.grad] + [p.grad for p in conv.parameters()]
    for ours, dense in zip(ours_grads, dense_grads, strict=True):
        assert ours is not None and dense is not None
        torch.testing.assert_close(ours, dense)


def test_scores_use_the_projections_before_the_mask() -> None:
    """Dropping the projections *before* scoring (the tempting one-propagate shortcut) gives a
    different layer; the oracle above must tell the two apart."""
    conv = _layer(0.5).train()
    A = _graph()
    x = torch.randn(A.num_rows, 5, dtype=torch.float64)
    assert conv.lin is not None and conv.bias is not None
    torch.manual_seed(5)
    h = conv.lin(x).view(-1, conv.heads, conv.out_channels)
    dropped = F.dropout(h, p=0.5, training=True)
    shortcut = conv.propagate(A, dropped, dropped) + conv.bias
    torch.manual_seed(5)
    assert not torch.allclose(conv(x, A), shortcut)


def test_zero_graph_breaks_and_compiled_training_step_matches_eager() -> None:
    graph = random_graph(seed=11)
    A = with_self_loops(SparseMatrix.from_edge_index(graph.edge_index, shape=graph.num_nodes))
    A.csc()  # outside the compiled region, as documented
    torch.manual_seed(0)
    conv = GATConv(6, 3, heads=2, dropout=0.5, add_self_loops=False,
                   projection_dropout=0.6).train()
    x = torch.randn(A.num_rows, 6)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(conv)(x, A)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1

    x_eager, x_compiled = x.clone().requires_grad_(), x.clone().requires_grad_()
    torch._dynamo.reset()
    compiled = torch.compile(conv, fullgraph=True, backend="aot_eager")
    torch.manual_seed(1)
    expected = conv(x_eager, A)
    torch.manual_seed(1)
    got = compiled(x_compiled, A)
    torch.testing.assert_close(got, expected)
    expected.square().sum().backward()
    got.square().sum().backward()
    torch.testing.assert_close(x_compiled.grad, x_eager.grad)


def test_invalid_probability_is_rejected() -> None:
    with pytest.raises(ValueError, match="projection_dropout"):
        GATConv(4, 2, projection_dropout=1.5)


def test_model_and_registry_pass_the_option_to_both_layers() -> None:
    assert model_config({"name": "gat"})["projection_dropout"] == 0.0  # paper text by default
    gat = build_model({"name": "gat", "heads": 2, "projection_dropout": 0.6},
                      in_channels=4, num_classes=3)
    assert isinstance(gat, GAT)
    assert gat.conv1.projection_dropout == gat.conv2.projection_dropout == 0.6
    assert GAT(4, 2, 3).conv1.projection_dropout == 0.0
    assert "projection_dropout=0.6" in repr(gat)
