"""Experiments as data: the TOML schema, its validation, and the registry of experiment files.

One file = one experiment. Example (``benchmarks/experiments/gcn-cora.toml``)::

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
    "PaperResult",
    "TrainingSpec",
    "default_experiments_dir",
    "load_experiment",
    "load_experiments",
    "select_experiments",
]

TASKS = ("node_classification",)
METRICS = ("accuracy",)
SOURCES = ("bundled", "planetoid", "geomgcn")
SPLITS = ("public", "geom-gcn")
FEATURES = ("row_normalize", "raw")
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
    training: TrainingSpec
    paper: PaperResult
    task: str = "node_classification"
    metric: str = "accuracy"
    seeds: int = 10
    suites: tuple[str, ...] = ()
    notes: str | None = None
    path: Path | None = field(default=None, compare=False)

    @property
    def model_name(self) -> str:
        return str(self.model["name"])

    def hyperparameters(self) -> dict[str, Any]:
        """Model and training settings as one flat, JSON-friendly dict."""
        model = {f"model.{k}": v for k, v in self.model.items()}
        training = {f"training.{k}": getattr(self.training, k)
                    for k in TrainingSpec.__dataclass_fields__}
        return {**model, **training}


# ---------------------------------------------------------------------------- validation
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

    training = _table(data, "training", path)
    _check_keys(training, TrainingSpec.__dataclass_fields__, "[training]", path)
    training_spec = TrainingSpec(
        lr=_get(training, "lr", float, "training", path),
        weight_decay=_get(training, "weight_decay", float, "training", path, 0.0),
        weight_decay_scope=_get(training, "weight_decay_scope", str, "training", path, "all",
                                WEIGHT_DECAY_SCOPES),
        epochs=_get(training, "epochs", int, "training", path, 200),
        stopping=_get(training, "stopping", str, "training", path, "none", STOPPING),
        patience=_get(training, "patience", int, "training", path, 0),
        optimizer=_get(training, "optimizer", str, "training", path, "adam", ("adam",)),
    )
    if training_spec.lr <= 0 or training_spec.epochs < 1:
        raise ExperimentError(path, "training.lr must be > 0 and training.epochs >= 1")
    if training_spec.stopping != "none" and training_spec.patience < 1:
        raise ExperimentError(path, f"training.stopping = {training_spec.stopping!r} needs "
                                    "training.patience >= 1")

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
        task=_get(data, "task", str, where, path, "node_classification", TASKS),
        metric=_get(data, "metric", str, where, path, "accuracy", METRICS),
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
    """``$GNNKIT_EXPERIMENTS``, else ``benchmarks/experiments`` next to the gnnkit package
    (a source checkout or editable install)."""
    configured = os.environ.get("GNNKIT_EXPERIMENTS")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "benchmarks" / "experiments"


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
    return experiments


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
