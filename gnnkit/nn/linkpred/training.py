"""Training and evaluation loops for link predictors (the NCN/NCNC protocol).

The protocol of Wang et al. (official ``NeighborOverlap.py``), written on gnnkit's core:

* the message-passing graph is the symmetric training graph; with target-link removal each
  training batch's positive links are removed from it (both directions) before the encoder
  and the predictor run (:class:`~gnnkit.nn.linkpred.TargetLinkRemoval`);
* every positive batch is paired with as many uniformly sampled negative pairs (non-edges of
  the training graph, no self pairs); loss ``−log σ(s⁺) − log σ(−s⁻)`` averaged per side;
* batches are a fresh permutation of the positive training links each epoch; the last
  incomplete batch is dropped (as the official ``PermIterator``) unless it is the only one;
* evaluation encodes once on the full training graph and scores validation/test positives and
  negatives in chunks; Hits@K (OGB's rule, :func:`gnnkit.metrics.hits_at_k`) on validation
  selects the epoch whose test Hits@K is reported.

Everything here takes an ``encoder`` (``encoder(x, A) → h``) and a ``predictor``
(``predictor(h, A, pairs) → logits``): :class:`~gnnkit.nn.linkpred.LinkEncoder` with
:class:`~gnnkit.nn.linkpred.NCNPredictor`, :class:`~gnnkit.nn.linkpred.NCNCPredictor` or a
GAE scorer.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnnkit.metrics import hits_at_k
from gnnkit.sparse import SparseMatrix

from .encoder import LinkEncoder
from .gae import DotProductScorer, HadamardMLPScorer
from .heuristics import check_pairs
from .ncn import NCNPredictor
from .ncnc import NCNCPredictor
from .target_removal import TargetLinkRemoval, sorted_keys

__all__ = [
    "MODEL_KEYS",
    "FitResult",
    "LinkSplit",
    "build_link_model",
    "evaluate",
    "fit",
    "link_loss",
    "predict",
    "sample_negative_pairs",
    "train_epoch",
    "undirected_graph",
]


def undirected_graph(pairs: Tensor, num_nodes: int) -> SparseMatrix:
    """The coalesced symmetric pattern with both directions of every pair ``(2, E)``; self
    loops and duplicates are dropped (duplicates merge)."""
    pairs = check_pairs(pairs, num_nodes)
    pairs = pairs[:, pairs[0] != pairs[1]]
    row = torch.cat([pairs[0], pairs[1]])
    col = torch.cat([pairs[1], pairs[0]])
    return SparseMatrix.from_coo(row, col, None, (num_nodes, num_nodes)).coalesce()


@dataclass(frozen=True)
class LinkSplit:
    """Positive and negative pairs of a link-prediction split, each ``(2, K)`` int64.

    ``train_pos`` holds each training link once (either direction); the message-passing graph
    is :meth:`train_graph`, its symmetric closure.
    """

    num_nodes: int
    train_pos: Tensor
    val_pos: Tensor
    val_neg: Tensor
    test_pos: Tensor
    test_neg: Tensor

    def __post_init__(self) -> None:
        for name in ("train_pos", "val_pos", "val_neg", "test_pos", "test_neg"):
            object.__setattr__(self, name, check_pairs(getattr(self, name), self.num_nodes,
                                                       name))

    @classmethod
    def from_edge_splits(cls, splits: Mapping[str, Tensor], num_nodes: int) -> LinkSplit:
        """From gnnkit's edge-split names ``train_pos``, ``val_pos``, ``val_neg``,
        ``test_pos``, ``test_neg`` (``(2, K)`` each; the ``(K, 2)`` OGB layout is transposed —
        a ``2 × 2`` tensor is read as ``(2, K)``).
        Training links stored in both directions are kept once (``i < j``)."""
        missing = [name for name in ("train_pos", "val_pos", "val_neg", "test_pos", "test_neg")
                   if name not in splits]
        if missing:
            raise KeyError(f"edge splits lack {missing}; have {sorted(splits)}")

        def layout(name: str) -> Tensor:
            pairs = splits[name]
            if pairs.dim() == 2 and pairs.shape[0] != 2 and pairs.shape[1] == 2:
                pairs = pairs.t()
            return pairs

        train = check_pairs(layout("train_pos"), num_nodes, "train_pos")
        train = torch.unique(torch.sort(train, dim=0).values, dim=1)  # one copy, i <= j
        return cls(num_nodes, train, layout("val_pos"), layout("val_neg"),
                   layout("test_pos"), layout("test_neg"))

    def train_graph(self) -> SparseMatrix:
        """Symmetric coalesced pattern of the training links (the message-passing graph)."""
        return undirected_graph(self.train_pos, self.num_nodes)


def sample_negative_pairs(A: SparseMatrix, num: int, *, generator: torch.Generator | None = None,
                          max_rounds: int = 10) -> Tensor:
    """``(2, num)`` uniform random pairs ``(i, j)``, ``i ≠ j``, that are not stored in ``A``.

    Rejected draws are redrawn up to ``max_rounds`` times (graphs denser than ~50 % would need
    more); any left after that are kept (a warning-free approximation, as PyG's sampler).
    """
    n = A.num_rows
    if n < 2:
        raise ValueError("negative sampling needs at least two nodes")
    stored = sorted_keys(A)
    pairs = torch.empty(2, num, dtype=torch.long, device=A.device)
    todo = torch.arange(num, device=A.device)
    for _ in range(max_rounds):
        if todo.numel() == 0:
            break
        i = torch.randint(0, n, (todo.numel(),), generator=generator, device=A.device)
        j = torch.randint(0, n - 1, (todo.numel(),), generator=generator, device=A.device)
        j = j + (j >= i).long()  # uniform over j ≠ i
        pairs[0, todo], pairs[1, todo] = i, j
        if stored.numel() == 0:
            break
        key = j * n + i
        position = torch.searchsorted(stored, key).clamp(max=stored.numel() - 1)
        todo = todo[stored[position] == key]
    return pairs


def link_loss(positive_logits: Tensor, negative_logits: Tensor) -> Tensor:
    """``mean(−log σ(s⁺)) + mean(−log σ(−s⁻))``."""
    return -F.logsigmoid(positive_logits).mean() - F.logsigmoid(-negative_logits).mean()


Encoder = Callable[[Tensor, SparseMatrix], Tensor]


def _batches(num: int, batch_size: int, generator: torch.Generator | None,
             device: torch.device) -> list[Tensor]:
    order = torch.randperm(num, generator=generator).to(device)
    if num <= batch_size:
        return [order]
    return [order[start:start + batch_size] for start in range(0, num - batch_size + 1,
                                                                 batch_size)]


def train_epoch(
    encoder: nn.Module,
    predictor: nn.Module,
    x: Tensor,
    train_graph: SparseMatrix,
    train_pos: Tensor,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    *,
    target_link_removal: bool = True,
    generator: torch.Generator | None = None,
    max_batches: int | None = None,
) -> float:
    """One epoch over the positive training links; returns the mean batch loss.

    Each batch: ``A_b = train_graph − batch`` (with removal), ``h = encoder(x, A_b)``,
    logits of the batch and of as many sampled negatives with ``predictor(h, A_b, ·)``.
    ``max_batches`` stops early (for time-budgeted runs and benchmarks).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    encoder.train()
    predictor.train()
    removal = TargetLinkRemoval(train_graph, enabled=target_link_removal)
    losses = []
    for step, index in enumerate(_batches(train_pos.shape[1], batch_size, generator,
                                          train_pos.device)):
        if max_batches is not None and step >= max_batches:
            break
        batch = train_pos[:, index]
        A = removal(batch)
        optimizer.zero_grad()
        h = encoder(x, A)
        negatives = sample_negative_pairs(train_graph, batch.shape[1], generator=generator)
        loss = link_loss(predictor(h, A, batch), predictor(h, A, negatives))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return sum(losses) / max(len(losses), 1)


@torch.no_grad()
def predict(predictor: nn.Module, h: Tensor, A: SparseMatrix, pairs: Tensor,
            batch_size: int) -> Tensor:
    """Logits ``(B,)`` of ``pairs`` in chunks of ``batch_size`` (predictor in its current
    mode; call ``.eval()`` first for evaluation)."""
    if pairs.shape[1] == 0:
        return h.new_zeros(0)
    return torch.cat([predictor(h, A, pairs[:, start:start + batch_size])
                      for start in range(0, pairs.shape[1], batch_size)])


@torch.no_grad()
def evaluate(
    encoder: nn.Module,
    predictor: nn.Module,
    x: Tensor,
    graph: SparseMatrix,
    split: LinkSplit,
    *,
    ks: Sequence[int] = (20, 50, 100),
    batch_size: int = 8192,
    parts: Sequence[str] = ("val", "test"),
) -> dict[str, float]:
    """Hits@K of ``parts`` (``"val"``, ``"test"``) as ``{"val_hits@20": …, …}``, encoding once
    on ``graph`` in evaluation mode."""
    encoder.eval()
    predictor.eval()
    h = encoder(x, graph)
    results: dict[str, float] = {}
    for part in parts:
        positive = predict(predictor, h, graph, getattr(split, f"{part}_pos"), batch_size)
        negative = predict(predictor, h, graph, getattr(split, f"{part}_neg"), batch_size)
        for k in ks:
            results[f"{part}_hits@{k}"] = hits_at_k(positive, negative, k)
    return results


@dataclass
class FitResult:
    """Outcome of :func:`fit`: the epoch chosen on validation and the whole curve."""

    metric: str
    best_epoch: int
    best_val: float
    test_at_best: float
    history: list[dict[str, float]] = field(default_factory=list)
    best_state: dict[str, Any] | None = None

    @property
    def train_seconds(self) -> float:
        return sum(entry["train_seconds"] for entry in self.history)


def fit(
    encoder: nn.Module,
    predictor: nn.Module,
    x: Tensor,
    split: LinkSplit,
    *,
    epochs: int,
    batch_size: int,
    lr_encoder: float,
    lr_predictor: float,
    k: int = 100,
    eval_ks: Sequence[int] = (20, 50, 100),
    eval_batch_size: int = 8192,
    target_link_removal: bool = True,
    generator: torch.Generator | None = None,
    eval_every: int = 1,
    time_budget: float | None = None,
    max_batches_per_epoch: int | None = None,
    keep_best_state: bool = False,
    log: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Train with Adam (separate learning rates for encoder and predictor) and select the
    epoch with the best validation Hits@``k``.

    ``time_budget`` (seconds of training + evaluation) stops early after the epoch that
    exceeds it; the curve in :attr:`FitResult.history` says how far it got.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be positive, got {epochs}")
    if k not in eval_ks:
        eval_ks = (*eval_ks, k)
    train_graph = split.train_graph()
    optimizer = torch.optim.Adam([
        {"params": list(encoder.parameters()), "lr": lr_encoder},
        {"params": list(predictor.parameters()), "lr": lr_predictor},
    ])
    metric = f"hits@{k}"
    result = FitResult(metric, 0, -math.inf, math.nan)
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        tick = time.perf_counter()
        loss = train_epoch(encoder, predictor, x, train_graph, split.train_pos, optimizer,
                           batch_size, target_link_removal=target_link_removal,
                           generator=generator, max_batches=max_batches_per_epoch)
        entry: dict[str, float] = {"epoch": epoch, "loss": loss,
                                   "train_seconds": time.perf_counter() - tick}
        out_of_time = time_budget is not None and time.perf_counter() - started > time_budget
        if epoch % eval_every == 0 or epoch == epochs or out_of_time:
            tick = time.perf_counter()
            entry.update(evaluate(encoder, predictor, x, train_graph, split, ks=eval_ks,
                                  batch_size=eval_batch_size))
            entry["eval_seconds"] = time.perf_counter() - tick
            if entry[f"val_{metric}"] > result.best_val:
                result.best_epoch = epoch
                result.best_val = entry[f"val_{metric}"]
                result.test_at_best = entry[f"test_{metric}"]
                if keep_best_state:
                    result.best_state = {
                        "encoder": copy.deepcopy(encoder.state_dict()),
                        "predictor": copy.deepcopy(predictor.state_dict()),
                    }
        result.history.append(entry)
        if log is not None:
            log(entry)
        if out_of_time:
            break
    return result


# ---------------------------------------------------------------------------- configuration
#: Keys of a link-prediction model description (e.g. a benchmark file's ``[model]`` table),
#: with their defaults. ``name`` is ``"ncn"``, ``"ncnc"``, ``"gae"`` (MLP on ``h_i ⊙ h_j``)
#: or ``"gae-dot"``; the official NCN code's flag is given after each key.
MODEL_KEYS: dict[str, Any] = {
    "name": "ncn",
    # encoder (LinkEncoder)
    "encoder": "puregcn",             # --model
    "hidden_channels": 256,           # --hiddim
    "num_layers": 1,                  # --mplayers
    "dropout": 0.0,                   # --gnndp
    "input_dropout": 0.0,             # --xdp
    "tail_dropout": 0.0,              # --tdp
    "encoder_edge_dropout": 0.0,      # --gnnedp
    "layer_norm": False,              # --ln
    "residual": False,                # --res
    "jumping_knowledge": False,       # --jk
    "node_embedding": False,          # featureless graphs (ogbl-ddi): learnt id embeddings
    # predictor (NCNPredictor / NCNCPredictor / GAE scorers)
    "variant": "ncn",                 # --predictor cn1 / scn1 / cn1.5 / cn1res
    "predictor_dropout": 0.0,         # --predp
    "predictor_edge_dropout": 0.0,    # --preedp
    "predictor_layer_norm": False,    # --lnnn
    "node_mlp": False,                # --use_xlin
    "tail_activation": False,         # --tailact
    "two_layer_head": False,          # --twolayerlin
    "beta": 1.0,                      # --beta
    "mlp_layers": 3,                  # --nnlayers (GAE scorer)
    # completion (NCNCPredictor)
    "depth": 1,                       # --depth
    "scale": 5.0,                     # --probscale
    "offset": 3.0,                    # --proboffset
    "pt": 0.5,                        # --pt
    "alpha": 1.0,                     # --alpha
    "learnable_pt": False,            # --learnpt
    "train_max_candidates": None,     # --trndeg
    "test_max_candidates": None,      # --tstdeg
    "chunk_size": None,               # --splitsize
    "official_recursion": True,       # candidates scored as the official code does (ncnc.py)
}


def build_link_model(config: Mapping[str, Any], in_channels: int, num_nodes: int
                     ) -> tuple[LinkEncoder, nn.Module]:
    """``(encoder, predictor)`` from a flat description with the keys of :data:`MODEL_KEYS`
    (missing keys take their defaults; unknown keys are an error naming them)."""
    unknown = sorted(set(config) - set(MODEL_KEYS))
    if unknown:
        raise ValueError(f"unknown link-model key(s) {unknown}; known: {sorted(MODEL_KEYS)}")
    c = {**MODEL_KEYS, **config}
    names = ("ncn", "ncnc", "gae", "gae-dot")
    if c["name"] not in names:
        raise ValueError(f"model name must be one of {', '.join(names)}; got {c['name']!r}")
    hidden = int(c["hidden_channels"])
    encoder = LinkEncoder(
        in_channels, hidden, int(c["num_layers"]), conv=c["encoder"], dropout=c["dropout"],
        input_dropout=c["input_dropout"], tail_dropout=c["tail_dropout"],
        edge_dropout=c["encoder_edge_dropout"], layer_norm=c["layer_norm"],
        residual=c["residual"], jumping_knowledge=c["jumping_knowledge"],
        num_embeddings=num_nodes if c["node_embedding"] else None,
    )
    predictor: nn.Module
    if c["name"] == "gae-dot":
        predictor = DotProductScorer()
    elif c["name"] == "gae":
        predictor = HadamardMLPScorer(hidden, hidden, int(c["mlp_layers"]),
                                      dropout=c["predictor_dropout"],
                                      layer_norm=c["predictor_layer_norm"])
    else:
        options: dict[str, Any] = {
            "variant": c["variant"], "dropout": c["predictor_dropout"],
            "edge_dropout": c["predictor_edge_dropout"],
            "layer_norm": c["predictor_layer_norm"], "node_mlp": c["node_mlp"],
            "tail_activation": c["tail_activation"], "two_layer_head": c["two_layer_head"],
            "beta": c["beta"],
        }
        if c["name"] == "ncnc":
            options.update({key: c[key] for key in (
                "depth", "scale", "offset", "pt", "alpha", "learnable_pt",
                "train_max_candidates", "test_max_candidates", "chunk_size",
                "official_recursion")})
            predictor = NCNCPredictor(hidden, hidden, **options)
        else:
            predictor = NCNPredictor(hidden, hidden, **options)
    return encoder, predictor
