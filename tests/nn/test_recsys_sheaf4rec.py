"""Sheaf4Rec: the sparse block model against a dense transcription of the paper's layer,
gradients, stalk dimension 1 vs D, isolated nodes, named errors, registry and one fit epoch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from gnnkit.models import build_model
from gnnkit.nn.recsys import Sheaf4Rec, interaction_matrix
from gnnkit.nn.recsys.sheaf4rec import bipartite_sheaf_graph
from gnnkit.sparse import SparseMatrix
from gnnkit.train.recommendation import fit

# user 2 and item 3 have no interaction (isolated nodes 2 and U + 3)
U, I = 3, 4
PAIRS = torch.tensor([[0, 0, 1, 1, 1, 0], [0, 1, 1, 2, 0, 2]])


def _dense_inv_sqrt(m: Tensor) -> Tensor:
    values, vectors = torch.linalg.eigh(m)
    return vectors @ torch.diag(values.rsqrt()) @ vectors.t()


def _dense_forward(model: Sheaf4Rec, pairs: Tensor) -> tuple[Tensor, Tensor]:
    """The paper's layer written out with dense per-node blocks and Python loops."""
    N, d, D = U + I, model.embedding_dim, model.stalk_dim
    C = d // D
    edges = [(int(u), U + int(i)) for u, i in pairs.t()]
    entries = sorted({*edges, *((j, i) for i, j in edges)})
    x = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    layers = [x]
    for learner, linear in zip(model.sheaf_learners, model.linears, strict=True):
        W = learner.linear.weight
        maps = {}
        for i, j in entries:
            f = torch.tanh(W @ torch.cat([x[i], x[j]]))
            maps[(i, j)] = torch.diag(f) if model.maps == "diag" else f.view(D, D)
        blocks = torch.zeros(N, N, D, D, dtype=x.dtype)
        for i, j in entries:
            blocks[i, j] = -maps[(i, j)].t() @ maps[(j, i)]
            blocks[i, i] = blocks[i, i] + maps[(i, j)].t() @ maps[(i, j)]
        root = [_dense_inv_sqrt(blocks[n, n] + torch.eye(D, dtype=x.dtype)) for n in range(N)]
        h = linear(x).view(N, D, C)
        out = []
        for n in range(N):
            acc = root[n] @ blocks[n, n] @ root[n] @ h[n]
            for i, j in entries:
                if i == n:
                    acc = acc + root[i] @ blocks[i, j] @ root[j] @ h[j]
            out.append(acc.reshape(d))
        x = x - model.step_size * torch.stack(out)
        layers.append(x)
    final = torch.stack(layers).mean(0)
    return final[:U], final[U:]


def _model(**kwargs: object) -> Sheaf4Rec:
    torch.manual_seed(0)
    options: dict[str, object] = {"num_layers": 2, "init_std": 0.5, **kwargs}
    embedding_dim = options.pop("embedding_dim", 4)
    return Sheaf4Rec(U, I, embedding_dim, **options).double()  # type: ignore[arg-type]


@pytest.mark.parametrize(("stalk_dim", "maps", "step"), [(1, "diag", 1.0), (2, "diag", 0.7),
                                                         (2, "general", 1.0),
                                                         (4, "general", 0.5)])
def test_matches_dense_transcription(stalk_dim: int, maps: str, step: float) -> None:
    model = _model(stalk_dim=stalk_dim, maps=maps, step_size=step)
    R = interaction_matrix(PAIRS, U, I)
    users, items = model(R)
    ref_users, ref_items = _dense_forward(model, PAIRS)
    assert users.shape == (U, 4) and items.shape == (I, 4)
    torch.testing.assert_close(users, ref_users)
    torch.testing.assert_close(items, ref_items)
    # the loss: BPR on the final embeddings, L2 on the layer-0 rows
    u, p, n = torch.tensor([0, 1, 1]), torch.tensor([1, 2, 0]), torch.tensor([3, 3, 1])
    bpr, l2 = model.objective(u, p, n, R)
    ref_bpr = F.softplus((ref_users[u] * ref_items[n]).sum(-1)
                         - (ref_users[u] * ref_items[p]).sum(-1)).mean()
    ref_l2 = 0.5 * (model.user_embedding.weight[u].pow(2).sum()
                    + model.item_embedding.weight[p].pow(2).sum()
                    + model.item_embedding.weight[n].pow(2).sum()) / 3
    torch.testing.assert_close(bpr, ref_bpr)
    torch.testing.assert_close(l2, ref_l2)


@pytest.mark.parametrize("maps", ["diag", "general"])
def test_gradcheck_float64(maps: str) -> None:
    model = _model(stalk_dim=2, maps=maps, embedding_dim=4)
    R = interaction_matrix(PAIRS, U, I)
    names = ["user_embedding.weight", "item_embedding.weight",
             "sheaf_learners.0.linear.weight", "linears.1.weight", "linears.0.bias"]
    params = dict(model.named_parameters())
    inputs = tuple(params[name].detach().clone().requires_grad_() for name in names)

    def fn(*tensors: Tensor) -> tuple[Tensor, Tensor]:
        return functional_call(model, {**params, **dict(zip(names, tensors, strict=True))},
                               (R,))

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5)


def test_stalk_dim_one_vs_d() -> None:
    R = interaction_matrix(PAIRS, U, I)
    one = _model(stalk_dim=1)
    # D = 1: diagonal and general maps are the same scalar maps
    general = _model(stalk_dim=1, maps="general")
    general.load_state_dict(one.state_dict())
    for a, b in zip(one(R), general(R), strict=True):
        torch.testing.assert_close(a, b)
    # D = 2 with both diagonal entries tied to the 1-D map: the same function as D = 1
    two = _model(stalk_dim=2)
    state = one.state_dict()
    for k in range(2):
        key = f"sheaf_learners.{k}.linear.weight"
        state[key] = state[key].repeat(2, 1)
    two.load_state_dict(state)
    for a, b in zip(one(R), two(R), strict=True):
        torch.testing.assert_close(a, b)
    # untied entries: a different sheaf, different embeddings (the test can fail)
    with torch.no_grad():
        two.sheaf_learners[0].linear.weight[1].mul_(-0.3)
    assert not torch.allclose(one(R)[0], two(R)[0])
    assert one.sheaf_learners[0].linear.weight.shape == (1, 8)
    assert _model(stalk_dim=2, maps="general").sheaf_learners[0].linear.weight.shape == (4, 8)


def test_isolated_users_and_items_keep_their_layer0_embedding() -> None:
    model = _model(stalk_dim=2)
    users, items = model(interaction_matrix(PAIRS, U, I))
    torch.testing.assert_close(users[2], model.user_embedding.weight[2])
    torch.testing.assert_close(items[3], model.item_embedding.weight[3])
    assert not torch.allclose(users[0], model.user_embedding.weight[0])
    graph = bipartite_sheaf_graph(interaction_matrix(PAIRS, U, I))
    assert graph.num_nodes == U + I and graph.num_entries == 2 * PAIRS.shape[1]
    assert graph.degree.tolist() == [3, 3, 0, 2, 2, 2, 0]
    # the SheafGraph itself is accepted, with the same result
    torch.testing.assert_close(model(graph)[0], users)


def test_bad_inputs_raise_named_errors() -> None:
    with pytest.raises(ValueError, match=r"embedding_dim \(6\) must be a multiple of stalk_dim"):
        Sheaf4Rec(U, I, 6, stalk_dim=4)
    with pytest.raises(ValueError, match=r"maps must be one of \['diag', 'general'\]"):
        Sheaf4Rec(U, I, 4, maps="orthogonal")
    with pytest.raises(ValueError, match="stalk_dim must be an int >= 1"):
        Sheaf4Rec(U, I, 4, stalk_dim=0)
    with pytest.raises(ValueError, match="num_layers must be an int >= 0"):
        Sheaf4Rec(U, I, 4, num_layers=-1)
    with pytest.raises(ValueError, match="step_size must be a positive float"):
        Sheaf4Rec(U, I, 4, step_size=0.0)
    model = Sheaf4Rec(U, I, 4, 1)
    with pytest.raises(ValueError, match="needs the graph"):
        model(None)
    with pytest.raises(ValueError, match=r"shape \(4, 3\).*U × I = 3 × 4"):
        model(interaction_matrix(PAIRS.flip(0), I, U))
    with pytest.raises(TypeError, match="graph must be the U × I training matrix"):
        model(PAIRS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SheafGraph on 4 nodes"):
        model(bipartite_sheaf_graph(SparseMatrix.from_coo(PAIRS[0][:1], PAIRS[1][:1], None,
                                                          (1, 3))))
    with pytest.raises(TypeError, match="interactions must be the U × I"):
        bipartite_sheaf_graph(PAIRS)  # type: ignore[arg-type]
    # no layers: MF, no graph needed
    users, _ = Sheaf4Rec(U, I, 4, 0)(None)
    assert users.shape == (U, 4)


def test_registry_and_one_fit_epoch() -> None:
    users, items = 8, 10
    g = torch.Generator().manual_seed(0)
    pairs = torch.tensor([(u, i) for u in range(users) for i in range(items)
                          if (u + i) % 3 == 0]).t()
    is_test = torch.rand(pairs.shape[1], generator=g) < 0.25
    train, test = pairs[:, ~is_test], pairs[:, is_test]
    torch.manual_seed(0)
    model = build_model({"name": "sheaf4rec", "embedding_dim": 8, "num_layers": 2,
                         "stalk_dim": 2}, task="recommendation", num_users=users,
                        num_items=items)
    assert isinstance(model, Sheaf4Rec) and model.stalk_dim == 2 and model.num_layers == 2
    before = model.sheaf_learners[0].linear.weight.detach().clone()
    result = fit(model, train, test, num_users=users, num_items=items, epochs=1,
                 batch_size=8, eval_every=1, ks=5, generator=torch.Generator().manual_seed(0))
    assert result.epochs == 1 and 0.0 <= result.metrics["test_recall@5"] <= 1.0
    assert torch.isfinite(torch.tensor(result.history[-1]["loss"]))
    assert not torch.equal(before, model.sheaf_learners[0].linear.weight)
