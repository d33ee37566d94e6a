"""The NCN training protocol (gnnkit.train.link_prediction) on real data."""

from __future__ import annotations

import torch

from gnnkit import datasets
from gnnkit.metrics import hits_at_k
from gnnkit.models import build_model
from gnnkit.nn.linkpred import LinkEncoder, LinkSplit, NCNPredictor, heuristic_scores
from gnnkit.train.link_prediction import evaluate, fit


def _cora_split() -> tuple[torch.Tensor, LinkSplit]:
    from gnnkit.datasets.linksplit import random_link_split

    cora = random_link_split(datasets.load("cora"), seed=0)
    return cora.x, LinkSplit.from_edge_splits(cora.edge_splits, cora.num_nodes)


def test_short_cora_training_beats_common_neighbours() -> None:
    """A few epochs of NCN (paper's Cora settings, smaller width) on the 85/5/10 split."""
    from gnnkit.datasets.linksplit import random_link_split

    torch.manual_seed(0)
    cora = random_link_split(datasets.load("cora"), seed=0)
    split = LinkSplit.from_edge_splits(cora.edge_splits, cora.num_nodes)
    A = split.train_graph()
    cn = hits_at_k(heuristic_scores("cn", A, split.test_pos),
                   heuristic_scores("cn", A, split.test_neg), 100)
    encoder = LinkEncoder(cora.num_features, 64, conv="puregcn", dropout=0.05,
                          input_dropout=0.7, tail_dropout=0.3, jumping_knowledge=True)
    predictor = NCNPredictor(64, 64, dropout=0.05, edge_dropout=0.4, layer_norm=True,
                             node_mlp=True, tail_activation=True)
    result = fit(encoder, predictor, cora.x, split, epochs=2, batch_size=1152,
                 lr_encoder=0.0043, lr_predictor=0.0024, k=100,
                 generator=torch.Generator().manual_seed(0))
    assert 0.3 < cn < 0.6  # sanity: the heuristic itself is non-trivial on Cora
    assert result.test_at_best > cn + 0.1, (result.test_at_best, cn)
    assert len(result.history) == 2 and result.best_epoch >= 1


def test_time_budget_cuts_an_epoch_short_only_when_asked() -> None:
    """stop_within_epoch: the budget ends the epoch after its first step (which always runs),
    the cut epoch is evaluated and says how many steps it took; without it, the epoch ends."""
    x, split = _cora_split()
    steps = split.train_pos.shape[1] // 1024
    assert steps > 2
    results = {}
    for within in (False, True):
        torch.manual_seed(0)
        encoder, predictor = build_model({"name": "gae-dot", "hidden_channels": 8},
                                         task="link_prediction", in_channels=x.shape[1],
                                         num_nodes=split.num_nodes)
        results[within] = fit(encoder, predictor, x, split, epochs=3, batch_size=1024,
                              lr_encoder=0.01, lr_predictor=0.01, k=20, time_budget=0.0,
                              stop_within_epoch=within,
                              generator=torch.Generator().manual_seed(0))
    (whole,), (cut,) = results[False].history, results[True].history
    assert "partial" not in whole and "steps" not in whole
    assert results[False].stopped == "time budget 0 s reached after epoch 1"
    assert cut["steps"] == 1 and cut["partial"] == 1 and "val_hits@20" in cut
    assert results[True].stopped == "time budget 0 s reached after 1 steps of epoch 1"
    assert cut["loss"] != whole["loss"]  # one step's loss, not the epoch's mean


def test_time_budget_stops_after_the_first_epoch_and_says_so() -> None:
    x, split = _cora_split()
    torch.manual_seed(0)
    encoder, predictor = build_model({"name": "gae-dot", "hidden_channels": 8},
                                     task="link_prediction", in_channels=x.shape[1],
                                     num_nodes=split.num_nodes)
    seen: list[dict[str, float]] = []
    result = fit(encoder, predictor, x, split, epochs=5, batch_size=4096, lr_encoder=0.01,
                 lr_predictor=0.01, k=20, time_budget=1e-9, keep_best_state=True,
                 log=seen.append, generator=torch.Generator().manual_seed(0))
    assert len(result.history) == 1 and seen == result.history
    assert result.stopped is not None and "after epoch 1" in result.stopped
    assert "val_hits@20" in result.history[0]  # the last epoch of a budgeted run is evaluated
    assert result.best_epoch == 1 and result.best_state is not None
    again = evaluate(encoder, predictor, x, split.train_graph(), split, ks=(20,))
    assert again["test_hits@20"] == result.test_at_best  # the model is the selected one
