"""Experiments as data: the TOML schema, its validation, and the registry of experiment files.

One file = one experiment. Example (``gnnkit/bench/experiments/gcn-cora.toml``)::

    id = "gcn-cora"
    title = "GCN on Cora, public Planetoid split"
    task = "node_classification"
    metric = "accuracy"
    seeds = 10
    suites = ["quick", "planetoid"]

    [dataset]
    name = "cora"
    source = "bundled"          # bundled | planetoid | geomgcn
    split = "public"            # public | geom-gcn
    features = "row_normalize"  # row_normalize | raw

    [model]
    name = "gcn"                # a key of gnnkit.bench.train.MODELS
    hidden_channels = 16
    dropout = 0.5

    [training]
    lr = 0.01
    weight_decay = 5e-4
    weight_decay_scope = "first_layer"   # all | first_layer
    epochs = 200
    stopping = "kipf"                    # none | kipf | gat | best_val_acc
    patience = 10

    [paper]
    value = 81.5
    citation = "Kipf & Welling, ICLR 2017, Table 2"
    verification = "verified"            # verified | secondary | unverified

A link-prediction experiment (``task = "link_prediction"``, e.g.
``gnnkit/bench/experiments/ncn-cora-ncnsplit.toml``) has ``metric = "hits@K"``, a ``[model]`` table
with the keys of :data:`gnnkit.nn.linkpred.MODEL_KEYS` and a ``[training]`` table of
:class:`LinkTrainingSpec`::

    [dataset]
    name = "cora"
    source = "planetoid"        # planetoid | bundled | ogb
    split = "ncn-70-10-20"      # random-85-5-10 | ncn-70-10-20 (re-drawn per seed) | ogb
    features = "raw"            # raw | row_normalize | none (learnt node embeddings)

    [training]
    epochs = 100
    lr_encoder = 0.0043
    lr_predictor = 0.0024
    batch_size = 1152

Unknown keys are errors (a typo must not silently fall back to a default); every error names
the file and the key.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gnnkit.nn.linkpred import MODEL_KEYS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ImportError as error:
        raise ImportError("reading experiment files on Python 3.10 needs 'tomli': "
                          "pip install tomli") from error

__all__ = [
    "DatasetSpec",
    "Experiment",
    "ExperimentError",
    "LinkTrainingSpec",
    "PaperResult",
    "TrainingSpec",
    "default_experiments_dir",
    "load_experiment",
    "load_experiments",
    "select_experiments",
]

TASKS = ("node_classification", "link_prediction")
#: node-classification metrics; link prediction takes ``hits@K`` (``K`` a positive integer)
METRICS = ("accuracy",)
SOURCES = ("bundled", "planetoid", "geomgcn", "ogb")
#: node splits: ``public``, ``geom-gcn``; link splits: a seeded random 85/5/10 split
#: (:func:`gnnkit.datasets.linksplit.random_link_split`), the official NCN code's 70/10/20
#: (:func:`gnnkit.datasets.linksplit.ncn_planetoid_split`) and OGB's own split files
NODE_SPLITS = ("public", "geom-gcn")
LINK_SPLITS = ("random-85-5-10", "ncn-70-10-20", "ogb")
SPLITS = NODE_SPLITS + LINK_SPLITS
FEATURES = ("row_normalize", "raw", "none")
SELECTION = ("best_val",)
STOPPING = ("none", "kipf", "gat", "best_val_acc")
WEIGHT_DECAY_SCOPES = ("all", "first_layer")
VERIFICATION = ("verified", "secondary", "unverified")


class ExperimentError(ValueError):
    """A malformed experiment file (the message names the file and the key)."""

    def __init__(self, path: Path | str | None, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path is not None else message)


@dataclass(frozen=True)
class DatasetSpec:
    """Which graph and split an experiment uses.

    Attributes:
        name: dataset name (``cora``, ``citeseer``, ``pubmed``, ``texas``…).
        source: ``bundled`` (inside the package), ``planetoid`` (``ind.<name>.*`` files) or
            ``geomgcn`` (``out1_*`` files with their split files).
        split: ``public`` (the dataset's own single split) or ``geom-gcn`` (the ten
            ``<name>_split_0.6_0.2_<k>.npz`` splits; run ``k`` uses split ``k mod 10``).
        features: ``row_normalize`` (each row sums to 1, as in Kipf's and GAT's code) or ``raw``.
        undirected: add reverse edges (geom-gcn graphs are stored directed).
        folders: folder names to look for under each data root (e.g. ``planetoid-cora``).
        split_folders: folder names holding the geom-gcn split files, if elsewhere.
    """

    name: str
    source: str = "bundled"
    split: str = "public"
    features: str = "row_normalize"
    undirected: bool = False
    folders: tuple[str, ...] = ()
    split_folders: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainingSpec:
    """Optimisation and model selection.

    ``stopping``: ``none`` (train ``epochs``, test the last model); ``kipf`` (stop when the
    validation loss exceeds the mean of the previous ``patience`` epochs, test the last model —
    Kipf & Welling's rule); ``gat`` (patience on "validation accuracy improved or validation
    loss improved", test the model that improved both — the GAT reference code's rule);
    ``best_val_acc`` (patience on validation accuracy, test the best-validation model).
    """

    lr: float
    weight_decay: float = 0.0
    weight_decay_scope: str = "all"
    epochs: int = 200
    stopping: str = "none"
    patience: int = 0
    optimizer: str = "adam"


@dataclass(frozen=True)
class LinkTrainingSpec:
    """Optimisation and model selection of a link-prediction experiment (the NCN protocol,
    :func:`gnnkit.nn.linkpred.fit`).

    Attributes:
        lr_encoder, lr_predictor: Adam learning rates of the MPNN and of the predictor
            (``lr_encoder = 0`` freezes the encoder).
        epochs: passes over the positive training links.
        batch_size: positive links per step (each with as many sampled negatives).
        eval_batch_size: pairs scored per chunk at evaluation.
        target_link_removal: remove each batch's links from the message-passing graph.
        selection: ``best_val`` — test the epoch with the best validation metric.
        init_from: id of an experiment on the same dataset whose trained model (same seed)
            initialises this one (NCNC on ogbl-ddi starts from NCN, as in the official code).
    """

    lr_encoder: float
    lr_predictor: float
    batch_size: int
    epochs: int = 100
    eval_batch_size: int = 8192
    target_link_removal: bool = True
    selection: str = "best_val"
    init_from: str | None = None


@dataclass(frozen=True)
class PaperResult:
    """The number an experiment reproduces, with where it comes from.

    ``verification``: ``verified`` (checked against the paper or its official code),
    ``secondary`` (checked against faithful transcriptions of the table, not the paper
    itself), ``unverified``.
    """

    value: float
    citation: str
    std: float | None = None
    url: str | None = None
    verification: str = "unverified"
    note: str | None = None


@dataclass(frozen=True)
class Experiment:
    """One benchmark experiment, loaded from a TOML file."""

    id: str
    title: str
    dataset: DatasetSpec
    model: Mapping[str, Any]
    training: TrainingSpec | LinkTrainingSpec
    paper: PaperResult
    task: str = "node_classification"
    metric: str = "accuracy"
    seeds: int = 10
    suites: tuple[str, ...] = ()
    notes: str | None = None
    path: Path | None = field(default=None, compare=False)

    @property
    def hits_k(self) -> int | None:
        """``K`` of a ``hits@K`` metric, else ``None``."""
        return _hits_k(self.metric)

    @property
    def model_name(self) -> str:
        return str(self.model["name"])

    def hyperparameters(self) -> dict[str, Any]:
        """Model and training settings as one flat, JSON-friendly dict."""
        model = {f"model.{k}": v for k, v in self.model.items()}
        training = {f"training.{k}": getattr(self.training, k)
                    for k in type(self.training).__dataclass_fields__}
        return {**model, **training}


# ---------------------------------------------------------------------------- validation
def _hits_k(metric: str) -> int | None:
    name, _, k = metric.partition("@")
    if name != "hits" or not k.isdigit() or int(k) < 1:
        return None
    return int(k)


def _table(data: Mapping[str, Any], key: str, path: Path | None) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise ExperimentError(path, f"missing table [{key}]")
    return value


def _check_keys(data: Mapping[str, Any], allowed: Iterable[str], where: str,
                path: Path | None) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ExperimentError(path, f"unknown key(s) {unknown} in {where}; allowed: "
                                    f"{sorted(allowed)}")


def _get(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         path: Path | None, default: Any = ..., choices: Iterable[Any] | None = None) -> Any:
    if key not in data:
        if default is ...:
            raise ExperimentError(path, f"missing key {where}.{key}")
        return default
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ExperimentError(path, f"{where}.{key} must be {expected}, got {value!r}")
    if choices is not None and value not in tuple(choices):
        raise ExperimentError(path, f"{where}.{key} must be one of {list(choices)}, "
                                    f"got {value!r}")
    return value


def _strings(value: Any, where: str, path: Path | None) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ExperimentError(path, f"{where} must be a string or a list of strings")
    return tuple(value)


def _check_split(spec: DatasetSpec, allowed: tuple[str, ...], task: str,
                 path: Path | None) -> None:
    if spec.split not in allowed:
        raise ExperimentError(path, f"dataset.split {spec.split!r} is not a {task} split; "
                                    f"one of {list(allowed)}")
    if (spec.split == "ogb") != (spec.source == "ogb"):
        raise ExperimentError(path, "dataset.split 'ogb' goes with dataset.source 'ogb' (and "
                                    f"only with it), got source {spec.source!r} and split "
                                    f"{spec.split!r}")
    if spec.features == "none" and task != "link_prediction":
        raise ExperimentError(path, "dataset.features 'none' is for link prediction "
                                    "(learnt node embeddings)")


def _check_link_model(model: Mapping[str, Any], path: Path | None) -> None:
    unknown = sorted(set(model) - set(MODEL_KEYS))
    if unknown:
        raise ExperimentError(path, f"unknown [model] key(s) {unknown} for a link-prediction "
                                    f"model; allowed: {sorted(MODEL_KEYS)}")
    _get(model, "name", str, "model", path, choices=("ncn", "ncnc", "gae", "gae-dot"))
    for key in model:
        default = MODEL_KEYS[key]
        if default is None or key == "name":
            continue
        kind: type | tuple[type, ...] = float if isinstance(default, float) else type(default)
        _get(model, key, kind, "model", path)


def _node_training(training: Mapping[str, Any], path: Path | None) -> TrainingSpec:
    _check_keys(training, TrainingSpec.__dataclass_fields__, "[training]", path)
    spec = TrainingSpec(
        lr=_get(training, "lr", float, "training", path),
        weight_decay=_get(training, "weight_decay", float, "training", path, 0.0),
        weight_decay_scope=_get(training, "weight_decay_scope", str, "training", path, "all",
                                WEIGHT_DECAY_SCOPES),
        epochs=_get(training, "epochs", int, "training", path, 200),
        stopping=_get(training, "stopping", str, "training", path, "none", STOPPING),
        patience=_get(training, "patience", int, "training", path, 0),
        optimizer=_get(training, "optimizer", str, "training", path, "adam", ("adam",)),
    )
    if spec.lr <= 0 or spec.epochs < 1:
        raise ExperimentError(path, "training.lr must be > 0 and training.epochs >= 1")
    if spec.stopping != "none" and spec.patience < 1:
        raise ExperimentError(path, f"training.stopping = {spec.stopping!r} needs "
                                    "training.patience >= 1")
    return spec


def _link_training(training: Mapping[str, Any], path: Path | None) -> LinkTrainingSpec:
    _check_keys(training, LinkTrainingSpec.__dataclass_fields__, "[training]", path)
    where = "training"
    spec = LinkTrainingSpec(
        lr_encoder=_get(training, "lr_encoder", float, where, path),
        lr_predictor=_get(training, "lr_predictor", float, where, path),
        batch_size=_get(training, "batch_size", int, where, path),
        epochs=_get(training, "epochs", int, where, path, 100),
        eval_batch_size=_get(training, "eval_batch_size", int, where, path, 8192),
        target_link_removal=_get(training, "target_link_removal", bool, where, path, True),
        selection=_get(training, "selection", str, where, path, "best_val", SELECTION),
        init_from=_get(training, "init_from", str, where, path, None),
    )
    if spec.lr_encoder < 0 or spec.lr_predictor <= 0:
        raise ExperimentError(path, "training.lr_encoder must be >= 0 (0 freezes the encoder) "
                                    "and training.lr_predictor > 0")
    if spec.epochs < 1 or spec.batch_size < 1 or spec.eval_batch_size < 1:
        raise ExperimentError(path, "training.epochs, batch_size and eval_batch_size must be "
                                    ">= 1")
    return spec


def parse_experiment(data: Mapping[str, Any], path: Path | None = None) -> Experiment:
    """Validate a parsed TOML document and build the :class:`Experiment`."""
    _check_keys(data, ("id", "title", "task", "metric", "seeds", "suites", "notes", "dataset",
                       "model", "training", "paper"), "the top level", path)
    where = "experiment"
    experiment_id = _get(data, "id", str, where, path)
    if not experiment_id or any(c.isspace() or c == "," for c in experiment_id):
        raise ExperimentError(path, f"id must be non-empty without spaces or commas, got "
                                    f"{experiment_id!r}")

    dataset = _table(data, "dataset", path)
    _check_keys(dataset, ("name", "source", "split", "features", "undirected", "folders",
                          "split_folders"), "[dataset]", path)
    dataset_spec = DatasetSpec(
        name=_get(dataset, "name", str, "dataset", path).lower(),
        source=_get(dataset, "source", str, "dataset", path, "bundled", SOURCES),
        split=_get(dataset, "split", str, "dataset", path, "public", SPLITS),
        features=_get(dataset, "features", str, "dataset", path, "row_normalize", FEATURES),
        undirected=_get(dataset, "undirected", bool, "dataset", path, False),
        folders=_strings(dataset.get("folders", []), "dataset.folders", path),
        split_folders=_strings(dataset.get("split_folders", []), "dataset.split_folders", path),
    )

    model = _table(data, "model", path)
    _get(model, "name", str, "model", path)

    task = _get(data, "task", str, where, path, "node_classification", TASKS)
    metric = _get(data, "metric", str, where, path, "accuracy")
    training = _table(data, "training", path)
    training_spec: TrainingSpec | LinkTrainingSpec
    if task == "link_prediction":
        if _hits_k(metric) is None:
            raise ExperimentError(path, f"metric of a link_prediction experiment must be "
                                        f"'hits@K' with K a positive integer, got {metric!r}")
        _check_split(dataset_spec, LINK_SPLITS, task, path)
        _check_link_model(model, path)
        training_spec = _link_training(training, path)
    else:
        if metric not in METRICS:
            raise ExperimentError(path, f"experiment.metric must be one of {list(METRICS)} for "
                                        f"{task}, got {metric!r}")
        _check_split(dataset_spec, NODE_SPLITS, task, path)
        training_spec = _node_training(training, path)

    paper = _table(data, "paper", path)
    _check_keys(paper, PaperResult.__dataclass_fields__, "[paper]", path)
    paper_result = PaperResult(
        value=_get(paper, "value", float, "paper", path),
        citation=_get(paper, "citation", str, "paper", path),
        std=_get(paper, "std", float, "paper", path, None),
        url=_get(paper, "url", str, "paper", path, None),
        verification=_get(paper, "verification", str, "paper", path, "unverified",
                          VERIFICATION),
        note=_get(paper, "note", str, "paper", path, None),
    )
    seeds = _get(data, "seeds", int, where, path, 10)
    if seeds < 1:
        raise ExperimentError(path, f"seeds must be >= 1, got {seeds}")
    return Experiment(
        id=experiment_id,
        title=_get(data, "title", str, where, path),
        task=task,
        metric=metric,
        seeds=seeds,
        suites=_strings(data.get("suites", []), "suites", path),
        notes=_get(data, "notes", str, where, path, None),
        dataset=dataset_spec,
        model=MappingProxyType(dict(model)),
        training=training_spec,
        paper=paper_result,
        path=path,
    )


def load_experiment(path: str | os.PathLike[str]) -> Experiment:
    """Read and validate one experiment file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as error:
        raise ExperimentError(path, "no such experiment file") from error
    except tomllib.TOMLDecodeError as error:
        raise ExperimentError(path, f"not valid TOML ({error})") from error
    return parse_experiment(data, path)


def default_experiments_dir() -> Path:
    """``$GNNKIT_EXPERIMENTS``, else the experiment files shipped inside the package
    (``gnnkit/bench/experiments``; present in a wheel as in a source checkout)."""
    configured = os.environ.get("GNNKIT_EXPERIMENTS")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent / "experiments"


def load_experiments(directory: str | os.PathLike[str] | None = None) -> dict[str, Experiment]:
    """Every ``*.toml`` under ``directory`` (default :func:`default_experiments_dir`), by id,
    in file-name order. Duplicate ids are an error."""
    directory = Path(directory) if directory is not None else default_experiments_dir()
    if not directory.is_dir():
        raise ExperimentError(directory, "experiment directory not found; pass "
                                         "--experiments-dir or set GNNKIT_EXPERIMENTS")
    experiments: dict[str, Experiment] = {}
    for path in sorted(directory.glob("*.toml")):
        experiment = load_experiment(path)
        if experiment.id in experiments:
            raise ExperimentError(path, f"duplicate experiment id {experiment.id!r} (also in "
                                        f"{experiments[experiment.id].path})")
        experiments[experiment.id] = experiment
    for experiment in experiments.values():
        _check_init_from(experiment, experiments)
    return experiments


def _check_init_from(experiment: Experiment, registry: Mapping[str, Experiment]) -> None:
    source = getattr(experiment.training, "init_from", None)
    if source is None:
        return
    if source not in registry:
        raise ExperimentError(experiment.path, f"training.init_from names unknown experiment "
                                               f"{source!r}")
    base = registry[source]
    if base.task != experiment.task or base.dataset != experiment.dataset:
        raise ExperimentError(experiment.path, f"training.init_from {source!r} must be a "
                                               "link-prediction experiment on the same dataset "
                                               "and split")
    if getattr(base.training, "init_from", None) is not None:
        raise ExperimentError(experiment.path, f"training.init_from {source!r} itself has an "
                                               "init_from (chains are not supported)")


def select_experiments(registry: Mapping[str, Experiment], *, ids: Iterable[str] = (),
                       suite: str | None = None) -> list[Experiment]:
    """Experiments by id (in the order given) or by suite tag (in registry order)."""
    ids = list(ids)
    if ids:
        missing = [i for i in ids if i not in registry]
        if missing:
            raise KeyError(f"unknown experiment(s) {missing}; known: {sorted(registry)}")
        return [registry[i] for i in ids]
    if suite is None:
        return list(registry.values())
    chosen = [e for e in registry.values() if suite in e.suites]
    if not chosen:
        suites = sorted({s for e in registry.values() for s in e.suites})
        raise KeyError(f"no experiment in suite {suite!r}; suites: {suites}")
    return chosen
