"""NSD models, their registry entries, and the training options they need (sheaf weight
decay, stopping on validation loss)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from gnnkit.models import NSD, build_model
from gnnkit.nn.sheaf import SheafGraph
from gnnkit.sparse import SparseMatrix
from gnnkit.train.node_classification import EarlyStopping, fit, make_optimizer


def graph() -> torch.Tensor:
    pairs = torch.tensor([[0, 1], [1, 2], [0, 2], [2, 3], [3, 4], [5, 5]]).t()
    return torch.cat([pairs, pairs.flip(0)], 1)


@pytest.mark.parametrize("sheaf", ["diag", "bundle", "general"])
@pytest.mark.parametrize("options", [
    {},
    {"graph_laplacian_channel": True, "signless_laplacian_channel": True,
     "second_linear": True, "reuse_laplacian": True},
    {"stalk_sum_learner": True, "official_layout": False, "sheaf_activation": "elu"},
])
def test_forward_backward_shapes(sheaf: str, options: dict) -> None:
    torch.manual_seed(0)
    model = NSD(7, 4, 3, sheaf=sheaf, d=3, num_layers=3, dropout=0.2, input_dropout=0.1,
                **options)
    x = torch.randn(6, 7)
    out = model(x, graph())
    assert out.shape == (6, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in model.sheaf_learner_parameters())
    expected = 1 if options.get("reuse_laplacian") else 3
    assert len(model.sheaf_learners) == expected


def test_eval_forward_matches_dense_reimplementation() -> None:
    """Diag-NSD in eval mode, recomputed with dense tensors written here."""
    torch.manual_seed(3)
    model = NSD(5, 2, 4, sheaf="diag", d=2, num_layers=2, graph_laplacian_channel=True).double()
    model.eval()
    x = torch.randn(6, 5, dtype=torch.float64)
    ei = graph()
    out = model(x, ei)
    N, D, C = 6, 3, 2
    A = torch.zeros(N, N, dtype=torch.float64)
    for s, t in ei.t().tolist():
        if s != t:
            A[t, s] = 1.0
    deg = A.sum(1)
    h = F.elu(model.lin1(x)).view(N, D, C)
    for k, layer in enumerate(model.layers):
        lin = model.sheaf_learners[k].linear.weight
        flat = h.reshape(N, -1)
        L = torch.zeros(N * D, N * D, dtype=torch.float64)
        f = {}
        for i in range(N):
            for j in range(N):
                if A[i, j]:
                    f[(i, j)] = torch.tanh(lin @ torch.cat([flat[i], flat[j]]))
        diag = torch.zeros(N, 2, dtype=torch.float64)
        for (i, _), m in f.items():
            diag[i] += m * m
        scale = (diag + 1).rsqrt()
        for (i, j), m in f.items():
            for s in range(2):
                L[i * D + s, j * D + s] = -scale[i, s] * m[s] * f[(j, i)][s] * scale[j, s]
            L[i * D + 2, j * D + 2] = -1 / torch.sqrt((deg[i] + 1) * (deg[j] + 1))
        for i in range(N):
            for s in range(2):
                L[i * D + s, i * D + s] = diag[i, s] / (diag[i, s] + 1)
            L[i * D + 2, i * D + 2] = deg[i] / (deg[i] + 1)
        mixed = torch.einsum("ij,njc->nic", layer.left, h) @ layer.right.t()
        h = (1 + torch.tanh(layer.epsilon)) * h - F.elu(
            (L @ mixed.reshape(-1, C)).reshape(N, D, C))
    torch.testing.assert_close(out, model.lin2(h.reshape(N, -1)))


def test_sparse_features_and_cached_graph() -> None:
    torch.manual_seed(4)
    model = NSD(8, 3, 2, sheaf="bundle", d=2).eval()
    x = torch.zeros(6, 8)
    x[torch.arange(6), torch.arange(6)] = 1.0
    ei = graph()
    dense = model(x, ei)
    assert isinstance(model._graph, SheafGraph)
    cached = model._graph
    sparse = model(SparseMatrix.from_dense(x), ei)
    assert model._graph is cached
    torch.testing.assert_close(dense, sparse)


def test_invalid_options() -> None:
    with pytest.raises(ValueError, match="sheaf"):
        NSD(3, 2, 2, sheaf="nope")
    with pytest.raises(ValueError, match="d >= 2"):
        NSD(3, 2, 2, sheaf="bundle", d=1)
    with pytest.raises(ValueError, match="undirected"):
        NSD(3, 2, 2)(torch.randn(3, 3), torch.tensor([[0, 1], [1, 2]]))


@pytest.mark.parametrize("name", ["nsd-diag", "nsd-bundle", "nsd-general"])
def test_registry_builds(name: str) -> None:
    model = build_model({"name": name, "d": 3, "hidden_channels": 4,
                         "signless_laplacian_channel": True}, task="node_classification",
                        in_channels=5, num_classes=2)
    assert isinstance(model, NSD) and model.stalk_dim == 4
    assert model.sheaf == name.split("-")[1]


def test_sheaf_weight_decay_groups() -> None:
    model = NSD(5, 2, 2, sheaf="bundle", d=2)
    opt = make_optimizer(model, lr=0.1, weight_decay=1e-3, sheaf_weight_decay=5e-2)
    sheaf_ids = {id(p) for p in model.sheaf_learner_parameters()}
    groups = {g["weight_decay"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    assert groups[5e-2] == sheaf_ids
    assert groups[1e-3] == {id(p) for p in model.parameters()} - sheaf_ids
    # edge-weight learners are not sheaf learners (the reference code's grouping)
    assert all(id(p) in groups[1e-3] for p in model.weight_learners.parameters())
    with pytest.raises(TypeError, match="sheaf_learner_parameters"):
        make_optimizer(torch.nn.Linear(2, 2), lr=0.1, sheaf_weight_decay=1e-3)
    # without it: one group, as before
    assert len(make_optimizer(model, lr=0.1, weight_decay=1e-3).param_groups) == 1


def test_best_val_loss_rule() -> None:
    losses = [1.0, 0.8, 0.9, 0.8, 0.7, 0.75, 0.71]
    # strict improvement: epoch 4's 0.8 does not beat epoch 2's 0.8, so patience runs out
    rule = EarlyStopping("best_val_loss", patience=2)
    assert [rule.step(e + 1, loss, 0.0) for e, loss in enumerate(losses[:4])] == [
        False, False, False, True]
    assert rule.selected_epoch == 2
    rule = EarlyStopping("best_val_loss", patience=3)
    for e, loss in enumerate(losses):
        if rule.step(e + 1, loss, 0.0):
            break
    assert rule.selected_epoch == 5


def test_fit_with_nsd_runs() -> None:
    torch.manual_seed(5)
    model = NSD(5, 3, 2, sheaf="diag", d=2)
    x = torch.randn(6, 5)
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    masks = [torch.tensor(m, dtype=torch.bool) for m in
             ([1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 1])]
    result = fit(model, x, graph(), y, *masks, lr=0.01, sheaf_weight_decay=1e-3, epochs=5,
                 stopping="best_val_loss", patience=2)
    assert 1 <= result.selected_epoch <= result.epochs <= 5


def test_shipped_experiments_follow_the_reference_scripts() -> None:
    """The five experiments with a script in twitter-research/neural-sheaf-diffusion
    (exp/scripts/run_*.sh at commit 11e21b5), flag by flag."""
    from gnnkit.bench.experiment import default_experiments_dir, load_experiments

    registry = load_experiments(default_experiments_dir())
    nsd = {k: v for k, v in registry.items() if k.startswith("nsd-")}
    assert len(nsd) == 27
    scripts = {
        "nsd-bundle-texas": (
            dict(d=3, num_layers=4, hidden_channels=20, dropout=0.7, input_dropout=0.0,
                 stalk_sum_learner=True, graph_laplacian_channel=False,
                 signless_laplacian_channel=False),
            dict(lr=0.02, weight_decay=5e-3, sheaf_weight_decay=None, epochs=1500,
                 patience=200, stopping="best_val_loss")),
        "nsd-bundle-wisconsin": (
            dict(d=3, num_layers=2, hidden_channels=32, dropout=0.7276458263736642,
                 input_dropout=0.0, stalk_sum_learner=False, graph_laplacian_channel=True,
                 signless_laplacian_channel=True, orthogonal="householder",
                 edge_weights=True),
            dict(lr=0.02, weight_decay=0.0006685729356079199, epochs=500, patience=200,
                 stopping="best_val_loss")),
        "nsd-diag-cornell": (
            dict(d=4, num_layers=2, hidden_channels=16, dropout=0.7, input_dropout=0.2,
                 graph_laplacian_channel=False, signless_laplacian_channel=True),
            dict(lr=0.02, weight_decay=0.0006914841722570725,
                 sheaf_weight_decay=0.00031764232712732976, epochs=500, patience=200,
                 stopping="best_val_loss")),
        "nsd-diag-chameleon": (
            dict(d=4, num_layers=5, hidden_channels=32, dropout=0.0, input_dropout=0.7,
                 second_linear=True, signless_laplacian_channel=True,
                 graph_laplacian_channel=False),
            dict(lr=0.01, weight_decay=0.0002969905682317406,
                 sheaf_weight_decay=0.0012638885974822734, epochs=1000, patience=100,
                 stopping="best_val_acc")),
        "nsd-bundle-squirrel": (
            dict(d=3, num_layers=5, hidden_channels=32, dropout=0.0, input_dropout=0.7,
                 second_linear=True, signless_laplacian_channel=True),
            dict(lr=0.01, weight_decay=0.00011215791366362148, epochs=1000, patience=100,
                 stopping="best_val_acc")),
    }
    for name, (model, training) in scripts.items():
        experiment = nsd[name]
        for key, value in model.items():
            assert experiment.model[key] == value, (name, key)
        for key, value in training.items():
            assert getattr(experiment.training, key) == value, (name, key)
    paper = {"nsd-diag-texas": 85.67, "nsd-bundle-texas": 85.95, "nsd-diag-wisconsin": 88.63,
             "nsd-bundle-wisconsin": 89.41, "nsd-general-wisconsin": 89.21,
             "nsd-diag-cornell": 86.49, "nsd-bundle-cornell": 84.86,
             "nsd-general-cornell": 85.68, "nsd-diag-chameleon": 68.68,
             "nsd-bundle-chameleon": 68.04, "nsd-general-chameleon": 67.93,
             "nsd-diag-cora": 87.14, "nsd-bundle-cora": 86.90, "nsd-general-cora": 87.30}
    for name, value in paper.items():
        assert nsd[name].paper.value == value, name
