"""TU graph-classification data for the bench: find the files, prepare node features once,
cut the cross-validation folds.

Reading the files is :func:`gnnkit.datasets.read_tu`'s job; this module decides *where* they
are (the data roots of :func:`gnnkit.bench.data.data_roots`; under each root the experiment's
``folders``, then ``tu-<NAME>`` and ``<NAME>``, matched without regard to case because
experiment files lower-case ``dataset.name`` while TU file names are upper case), which node
features the models see, and which graphs each fold trains and evaluates on.

Node features (``[dataset] features``), computed once per dataset and shared by every fold
and seed (and by every experiment of the process that reads the same folder the same way):

* ``node_labels``: the one-hot node labels of the files (node *attributes*, e.g. PROTEINS'
  one real-valued column, are left out, as the GIN code's data files do); label values that
  never occur get no column, so the vocabulary is the labels present in the dataset;
* ``degree``: one-hot of each node's degree (distinct neighbours, self loops not counted)
  over the vocabulary of every degree that occurs anywhere in the dataset, sorted — the GIN
  code's ``degree_as_tag``, whose tag set is also built over all graphs, test folds
  included (the columns are a permutation of the official code's, which orders them by
  Python's set iteration; a permutation of input columns does not change the model);
* ``constant``: one all-ones column, the GIN paper's uninformative features for REDDIT.

Folds: :func:`stratified_folds` assigns every graph to one of ``K`` test folds exactly as
``sklearn.model_selection.StratifiedKFold(n_splits=K, shuffle=True, random_state=seed)``
does (scikit-learn ≥ 0.22; the GIN code calls it with ``random_state = --seed``, default 0),
without needing scikit-learn. :func:`stratified_holdout` carves a stratified validation part
out of a fold's training graphs (the held-out protocol of Errica et al., 2020).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gnnkit.datasets import GraphDataset, MissingDatasetFileError, read_tu
from gnnkit.sparse import SparseMatrix, index_from_ptr, to_undirected

from .data import DatasetUnavailable, data_roots
from .schema import DatasetSpec

__all__ = [
    "TU_FEATURES",
    "GraphData",
    "clear_graph_data_cache",
    "constant_features",
    "degree_features",
    "find_tu_dataset",
    "fold_indices",
    "load_graph_data",
    "node_degrees",
    "node_label_features",
    "stratified_folds",
    "stratified_holdout",
]

#: ``[dataset] features`` of a TU experiment (the first is the default)
TU_FEATURES = ("node_labels", "degree", "constant")

_INDICATOR = "_graph_indicator.txt"


@dataclass(frozen=True)
class GraphData:
    """A graph-classification dataset ready for training.

    Attributes:
        dataset: the graphs with ``x`` = the prepared ``(N, F)`` float32 features, ``y`` =
            ``(G,)`` int64 classes ``0 … C-1``, and the files' edge features, if any.
        num_classes: ``C``.
        description: where the data came from and what the features are (for the report).
        vocabulary: the degree (``degree``) or original label value (``node_labels``) behind
            each feature column; empty for ``constant``.
    """

    dataset: GraphDataset
    num_classes: int
    description: str
    vocabulary: tuple[int, ...] = ()

    @property
    def labels(self) -> Tensor:
        """``(G,)`` int64 class of every graph."""
        assert self.dataset.y is not None  # checked when loading
        return self.dataset.y

    @property
    def num_features(self) -> int:
        assert self.dataset.x is not None  # every feature mode sets x
        return int(self.dataset.x.shape[1])

    @property
    def num_edge_features(self) -> int:
        """Width of the edge features (0 without them)."""
        attr = self.dataset.edge_attr
        return 0 if attr is None else int(attr.reshape(attr.shape[0], -1).shape[1])


# ---------------------------------------------------------------------------- finding files
def _folder_candidates(root: Path, names: Sequence[str]) -> list[Path]:
    """``root/<name>`` for each of ``names``: exact spellings first, then folders whose name
    differs only in case (TU folders are upper case, experiment ids lower case)."""
    found = [root / name for name in names if (root / name).is_dir()]
    wanted = {name.lower() for name in names}
    try:
        entries = sorted(root.iterdir()) if root.is_dir() else []
    except OSError:  # an unreadable root is a root without the dataset
        entries = []
    found += [entry for entry in entries
              if entry.name.lower() in wanted and entry.is_dir() and entry not in found]
    return found


def _prefix_in(folder: Path, name: str) -> str | None:
    """The TU file prefix (``MUTAG`` of ``MUTAG_A.txt``) in ``folder`` whose lower-case form
    is ``name``, or ``None``."""
    for path in sorted(folder.glob(f"*{_INDICATOR}")):
        prefix = path.name[: -len(_INDICATOR)]
        if prefix.lower() == name.lower():
            return prefix
    return None


def find_tu_dataset(spec: DatasetSpec, roots: Sequence[Path] | None = None
                    ) -> tuple[Path, str]:
    """The folder holding ``spec``'s TU files and their prefix (``(…/tu-MUTAG, "MUTAG")``).

    Searched, in order: each root of ``roots`` (default :func:`~gnnkit.bench.data.data_roots`),
    and under it the experiment's ``folders``, ``tu-<name>``, ``<name>`` (any case), for a
    ``<NAME>_graph_indicator.txt`` whose prefix is the dataset name in any case.

    Raises:
        DatasetUnavailable: no such folder under any root (the message lists where it looked).
    """
    roots = data_roots() if roots is None else list(roots)
    names = list(dict.fromkeys([*spec.folders, f"tu-{spec.name}", spec.name]))
    for root in roots:
        for folder in _folder_candidates(root, names):
            prefix = _prefix_in(folder, spec.name)
            if prefix is not None:
                return folder, prefix
    raise DatasetUnavailable(
        f"TU files of dataset {spec.name!r} not found: looked for "
        f"<{spec.name.upper()}>{_INDICATOR} (any case) in {{{', '.join(names)}}} (any case) "
        f"under {[str(r) for r in roots]} (pass --data-root or set GNNKIT_DATA; the TU "
        "zip of the dataset unpacked into a folder named like one of these)"
    )


# ---------------------------------------------------------------------------- node features
def node_degrees(dataset: GraphDataset) -> Tensor:
    """``(N,)`` int64 degree of every node of every graph: its distinct neighbours when the
    edges are read as undirected (both directions of an edge count once; self loops, which
    the TU reader removes anyway, are not counted)."""
    num_nodes = int(dataset.node_ptr[-1])
    if dataset.edge_index.numel() == 0:
        return torch.zeros(num_nodes, dtype=torch.long)
    # local ids → ids in the whole dataset: add the owning graph's first node
    graph_of_edge = index_from_ptr(dataset.edge_ptr, total=dataset.edge_index.shape[1])
    edges = dataset.edge_index + dataset.node_ptr[graph_of_edge]
    edges = edges[:, edges[0] != edges[1]]
    adjacency = to_undirected(SparseMatrix.from_edge_index(edges, shape=num_nodes))
    return adjacency.degree("row").long()


def _one_hot(codes: Tensor, width: int) -> Tensor:
    x = torch.zeros(codes.numel(), width, dtype=torch.float32)
    x[torch.arange(codes.numel()), codes] = 1.0
    return x


def degree_features(dataset: GraphDataset) -> tuple[Tensor, tuple[int, ...]]:
    """One-hot node degrees over the degrees present anywhere in ``dataset``.

    Returns ``(x, vocabulary)``: ``x[i, j] = 1`` iff node ``i`` has degree
    ``vocabulary[j]``; ``vocabulary`` is the sorted distinct degrees of all graphs (the GIN
    code's ``degree_as_tag`` tag set, which also spans every fold)."""
    vocabulary, codes = torch.unique(node_degrees(dataset), sorted=True, return_inverse=True)
    return _one_hot(codes, vocabulary.numel()), tuple(int(v) for v in vocabulary)


def constant_features(dataset: GraphDataset) -> Tensor:
    """``(N, 1)`` ones: every node looks the same (the GIN paper's REDDIT features)."""
    return torch.ones(int(dataset.node_ptr[-1]), 1)


def _attribute_columns(path: Path) -> int:
    """Columns of the first row of a TU ``node_attributes`` file (comma-separated)."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                return len(line.split(","))
    return 0


def node_label_features(dataset: GraphDataset, folder: Path, prefix: str
                        ) -> tuple[Tensor, tuple[int, ...]]:
    """The one-hot node labels of a dataset read by :func:`~gnnkit.datasets.read_tu`, without
    its node attributes and without columns of label values that never occur.

    ``read_tu`` puts the attributes first, then one column per label value from the smallest
    to the largest; the attribute count is read from ``<prefix>_node_attributes.txt``.
    Returns ``(x, vocabulary)`` with ``vocabulary[j]`` the label's position among the
    values ``min … max`` of the labels file.

    Raises:
        ValueError: the dataset has no node labels (use ``features = "degree"`` or
            ``"constant"``).
    """
    if dataset.x is None:
        raise ValueError(f"TU dataset {prefix} in {folder} has no node labels "
                         f"({prefix}_node_labels.txt is absent): set [dataset] features = "
                         "\"degree\" (one-hot degrees, the GIN paper's choice for COLLAB and "
                         "IMDB) or \"constant\" (the paper's choice for REDDIT)")
    attributes = folder / f"{prefix}_node_attributes.txt"
    skip = _attribute_columns(attributes) if attributes.is_file() else 0
    labels = dataset.x[:, skip:]
    if labels.shape[1] == 0:
        raise ValueError(f"TU dataset {prefix} in {folder} has node attributes but no node "
                         "labels: set [dataset] features = \"degree\" or \"constant\"")
    present = (labels != 0).any(dim=0)
    vocabulary = tuple(int(j) for j in present.nonzero().view(-1))
    return labels[:, present].float().contiguous(), vocabulary


@functools.lru_cache(maxsize=8)
def _prepared(folder: str, prefix: str, features: str) -> GraphData:
    """Read and featurise once per (folder, prefix, features) in a process: the folds and
    seeds of an experiment, and experiments sharing a dataset, reuse the same tensors."""
    path = Path(folder)
    raw = read_tu(path, prefix)
    if raw.y is None or raw.y.dtype.is_floating_point or raw.y.dim() != 1:
        raise ValueError(f"TU dataset {prefix} in {folder} has no integer graph classes "
                         f"({prefix}_graph_labels.txt): it is not a classification dataset")
    vocabulary: tuple[int, ...] = ()
    if features == "node_labels":
        x, vocabulary = node_label_features(raw, path, prefix)
        kind = f"one-hot node labels ({x.shape[1]} values present)"
    elif features == "degree":
        x, vocabulary = degree_features(raw)
        kind = (f"one-hot node degrees ({x.shape[1]} distinct degrees over the dataset, "
                f"{vocabulary[0]}…{vocabulary[-1]})")
    elif features == "constant":
        x = constant_features(raw)
        kind = "constant (all nodes equal)"
    else:
        raise ValueError(f"unknown TU feature mode {features!r}; one of {list(TU_FEATURES)}")
    dataset = replace(raw, x=x)
    num_classes = int(raw.metadata.get("num_classes", int(raw.y.max()) + 1))
    counts = torch.bincount(raw.y, minlength=num_classes).tolist()
    edges = "" if raw.edge_attr is None else f", {raw.edge_attr.shape[-1]} edge features"
    description = (f"{prefix} (TU, {folder}): {len(raw)} graphs, {int(raw.node_ptr[-1])} "
                   f"nodes, {raw.edge_index.shape[1]} directed edges{edges}; node features: "
                   f"{kind}; {num_classes} classes (graphs per class {counts})")
    return GraphData(dataset, num_classes, description, vocabulary)


def load_graph_data(spec: DatasetSpec, roots: Sequence[Path] | None = None) -> GraphData:
    """Find, read and featurise the TU dataset of ``spec`` (cached per folder and feature
    mode, so every fold and seed shares one copy).

    Raises:
        DatasetUnavailable: files not found under any root, or the folder lacks one of the
            required files (an incomplete download).
        ValueError: the feature mode needs node labels the dataset does not have, or the
            dataset has no graph classes.
        gnnkit.datasets.DatasetFileError: a file exists but is malformed.
    """
    folder, prefix = find_tu_dataset(spec, roots)
    try:
        return _prepared(str(folder.resolve()), prefix, spec.features)
    except MissingDatasetFileError as error:
        raise DatasetUnavailable(f"dataset {spec.name!r} is incomplete: {error}") from error


def clear_graph_data_cache() -> None:
    """Forget the prepared datasets (e.g. after the files on disk changed)."""
    _prepared.cache_clear()


# ---------------------------------------------------------------------------- folds
def _fold_allocation(start: int, count: int, folds: int) -> np.ndarray:
    """How many of a class's ``count`` graphs each fold tests: the class occupies positions
    ``start … start + count - 1`` of the graphs sorted by class, and position ``p`` goes to
    fold ``p mod folds`` (dealing the sorted graphs round-robin balances every class and
    every fold size at once; it is scikit-learn's rule)."""
    positions = np.arange(start, start + count) % folds
    return np.bincount(positions, minlength=folds)


def stratified_folds(labels: Tensor | Sequence[int], folds: int, seed: int) -> Tensor:
    """The test fold ``0 … folds-1`` of every graph, stratified by class and shuffled.

    Identical to the test folds of ``sklearn.model_selection.StratifiedKFold(folds,
    shuffle=True, random_state=seed).split(X, labels)`` (scikit-learn ≥ 0.22): classes are
    numbered by first appearance; each fold receives a round-robin share of every class;
    then, class by class, the fold numbers of that class's graphs (in index order) are
    shuffled with one ``numpy.random.RandomState(seed)``. Every class's count per fold
    differs by at most one across folds.

    Raises:
        ValueError: ``folds < 2``, or every class has fewer than ``folds`` graphs (some
            fold would hold no graph of any class).
    """
    y = np.asarray(torch.as_tensor(labels).cpu(), dtype=np.int64).reshape(-1)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an int >= 2, got {folds!r}")
    # classes in order of first appearance (the fold assignment must not depend on how the
    # class values happen to be numbered)
    _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    classes = order[inverse.reshape(-1)]
    counts = np.bincount(classes, minlength=first.size)
    if counts.size == 0 or bool(np.all(counts < folds)):
        raise ValueError(f"cannot cut {folds} stratified folds: every class has fewer than "
                         f"{folds} graphs (class sizes {counts.tolist()})")
    rng = np.random.RandomState(seed)
    fold_of = np.empty(y.size, dtype=np.int64)
    start = 0
    for k, count in enumerate(counts.tolist()):
        assigned = np.repeat(np.arange(folds), _fold_allocation(start, count, folds))
        rng.shuffle(assigned)
        fold_of[classes == k] = assigned
        start += count
    return torch.from_numpy(fold_of)


def fold_indices(fold_of: Tensor, fold: int) -> tuple[Tensor, Tensor]:
    """``(train, test)`` graph ids of ``fold`` (both ascending): the test fold and the rest."""
    folds = int(fold_of.max()) + 1 if fold_of.numel() else 0
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in [0, {folds - 1}], got {fold}")
    test = fold_of == fold
    return (~test).nonzero().view(-1), test.nonzero().view(-1)


def stratified_holdout(index: Tensor, labels: Tensor, fraction: float, seed: int | Sequence[int]
                       ) -> tuple[Tensor, Tensor]:
    """Split the graphs ``index`` into ``(train, val)`` with ``val`` a stratified random
    ``fraction`` of them (both ascending).

    ``ceil(fraction · n)`` graphs are held out, shared among the classes in proportion to
    their counts (largest remainders get the leftover graphs, ties to the earlier class),
    so each class's held-out count is within one of ``fraction ×`` its count; which graphs
    is drawn with ``numpy.random.default_rng(seed)``.

    Raises:
        ValueError: ``fraction`` outside ``(0, 1)``, or too few graphs to hold one out and
            keep one.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    index = torch.as_tensor(index, dtype=torch.long).view(-1)
    total = index.numel()
    size = math.ceil(fraction * total)
    if size < 1 or size >= total:
        raise ValueError(f"cannot hold out {fraction:g} of {total} graphs: need at least one "
                         "graph on each side")
    y = labels[index].cpu().numpy()
    classes, counts = np.unique(y, return_counts=True)
    exact = size * counts / total
    share = np.floor(exact).astype(np.int64)
    leftover = size - int(share.sum())
    # stable sort on the negated remainders: largest first, ties keep the class order
    share[np.argsort(-(exact - share), kind="stable")[:leftover]] += 1
    rng = np.random.default_rng(seed)
    held = np.zeros(total, dtype=bool)
    for value, take in zip(classes.tolist(), share.tolist(), strict=True):
        members = np.flatnonzero(y == value)
        held[rng.permutation(members)[:take]] = True
    mask = torch.from_numpy(held)
    return index[~mask].sort().values, index[mask].sort().values
