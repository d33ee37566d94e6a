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
    name = "gcn"                # a model of gnnkit.models.MODELS serving the task
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

The top level (``id``, ``title``, ``task``, ``seeds``, ``suites``, ``notes``) and ``[paper]``
are common to every experiment. ``[paper]`` may be left out when no published number exists for
the setting (e.g. an OGB dataset no paper reports the model on): the experiment then runs and
reports without a reference, and ``notes`` should say so. Everything else belongs to the task
(:mod:`gnnkit.bench.tasks`) named by ``task``: it validates ``metric``, ``[dataset]`` (the
sources, splits and feature modes it reads), ``[model]`` (against the model registry,
:func:`gnnkit.models.model_config`, restricted to the models serving the task) and
``[training]`` (its own spec: :class:`TrainingSpec` for node classification,
:class:`LinkTrainingSpec` for link prediction,
e.g. ``gnnkit/bench/experiments/ncn-cora-ncnsplit.toml``)::

    task = "link_prediction"
    metric = "hits@100"

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
the file and the key, and lists the allowed values.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gnnkit._suggest import did_you_mean

from .schema import (
    DatasetSpec,
    ExperimentError,
    PaperResult,
    check_keys,
    get_table,
    get_value,
    parse_paper,
    strings,
)
from .tasks import get_task, task_names
from .tasks.link_prediction import LinkTrainingSpec, hits_k
from .tasks.node_classification import TrainingSpec

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
    "experiment_dirs",
    "load_experiment",
    "load_experiments",
    "parse_experiment",
    "select_experiments",
]


@dataclass(frozen=True)
class Experiment:
    """One benchmark experiment, loaded from a TOML file.

    ``model`` is the ``[model]`` table as written (validated against the model registry);
    ``training`` is the task's training spec (a frozen dataclass, e.g. :class:`TrainingSpec`).
    """

    id: str
    title: str
    dataset: DatasetSpec
    model: Mapping[str, Any]
    training: Any
    paper: PaperResult | None
    task: str = "node_classification"
    metric: str = "accuracy"
    seeds: int = 10
    suites: tuple[str, ...] = ()
    notes: str | None = None
    path: Path | None = field(default=None, compare=False)

    @property
    def hits_k(self) -> int | None:
        """``K`` of a ``hits@K`` metric, else ``None``."""
        return hits_k(self.metric)

    @property
    def model_name(self) -> str:
        return str(self.model["name"])

    def hyperparameters(self) -> dict[str, Any]:
        """Model and training settings as one flat, JSON-friendly dict."""
        model = {f"model.{k}": v for k, v in self.model.items()}
        training = {f"training.{f.name}": getattr(self.training, f.name)
                    for f in dataclasses.fields(self.training)}
        return {**model, **training}


#: the top-level keys of every experiment file
TOP_LEVEL = ("id", "title", "task", "metric", "seeds", "suites", "notes", "dataset", "model",
             "training", "paper")


def parse_experiment(data: Mapping[str, Any], path: Path | None = None) -> Experiment:
    """Validate a parsed TOML document and build the :class:`Experiment`: the common keys
    here, ``metric``, ``[dataset]``, ``[model]`` and ``[training]`` by the task."""
    check_keys(data, TOP_LEVEL, "the top level", path)
    where = "experiment"
    experiment_id = get_value(data, "id", str, where, path)
    if not experiment_id or any(c.isspace() or c == "," for c in experiment_id):
        raise ExperimentError(path, f"id must be non-empty without spaces or commas, got "
                                    f"{experiment_id!r}")
    task = get_task(get_value(data, "task", str, where, path, "node_classification",
                              task_names()))
    metric = task.parse_metric(data, path)
    dataset = task.parse_dataset(get_table(data, "dataset", path), path)
    model = task.parse_model(get_table(data, "model", path), path)
    training = task.parse_training(get_table(data, "training", path), path)
    paper = parse_paper(get_table(data, "paper", path), path) if "paper" in data else None
    seeds = get_value(data, "seeds", int, where, path, 10)
    if seeds < 1:
        raise ExperimentError(path, f"seeds must be >= 1, got {seeds}")
    return Experiment(
        id=experiment_id,
        title=get_value(data, "title", str, where, path),
        task=task.name,
        metric=metric,
        seeds=seeds,
        suites=strings(data.get("suites", []), "suites", path),
        notes=get_value(data, "notes", str, where, path, None),
        dataset=dataset,
        model=model,
        training=training,
        paper=paper,
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
    """The experiment files shipped inside the package (``gnnkit/bench/experiments``; present
    in a wheel as in a source checkout). :func:`experiment_dirs` adds the user's folders."""
    return Path(__file__).resolve().parent / "experiments"


def experiment_dirs(extra: Iterable[str | os.PathLike[str]] = (), *,
                    shipped: bool = True) -> list[Path]:
    """The folders ``gnnkit bench`` loads, in order: the shipped experiments (unless
    ``shipped`` is false), each folder of ``$GNNKIT_EXPERIMENTS`` (several separated by
    ``os.pathsep``), then ``extra`` (``--experiments-dir``). A later folder's experiment
    overrides an earlier one with the same id (see :func:`load_experiments`)."""
    folders = [default_experiments_dir()] if shipped else []
    configured = os.environ.get("GNNKIT_EXPERIMENTS", "")
    folders += [Path(part) for part in configured.split(os.pathsep) if part]
    folders += [Path(folder) for folder in extra]
    return folders


#: ``on_override(new, old)``: told when a later folder's experiment replaces one of the same id
OverrideHook = Callable[[Experiment, Experiment], None]


def _load_folder(directory: Path) -> dict[str, Experiment]:
    """Every ``*.toml`` in one folder, by id, in file-name order (duplicate ids are an error:
    within one folder two files with one id are a mistake, not an override)."""
    if not directory.is_dir():
        raise ExperimentError(directory, "experiment directory not found; check "
                                         "--experiments-dir and $GNNKIT_EXPERIMENTS")
    experiments: dict[str, Experiment] = {}
    for path in sorted(directory.glob("*.toml")):
        experiment = load_experiment(path)
        if experiment.id in experiments:
            raise ExperimentError(path, f"duplicate experiment id {experiment.id!r} (also in "
                                        f"{experiments[experiment.id].path}); rename one")
        experiments[experiment.id] = experiment
    return experiments


def load_experiments(directory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
                     | None = None, *, on_override: OverrideHook | None = None
                     ) -> dict[str, Experiment]:
    """The experiments of one folder, of several, or (``None``) of :func:`experiment_dirs`
    (the shipped ones plus ``$GNNKIT_EXPERIMENTS``), by id.

    Within a folder, files are read in name order and a duplicate id is an error. Across
    folders, a later folder's experiment replaces an earlier one with the same id (keeping
    the earlier one's position in the order) and ``on_override(new, old)`` is called, so the
    command line can say so. References between experiments (e.g. ``init_from``) are checked
    once all folders are read.
    """
    if directory is None:
        folders = experiment_dirs()
    elif isinstance(directory, (str, os.PathLike)):
        folders = [Path(directory)]
    else:
        folders = [Path(folder) for folder in directory]
    experiments: dict[str, Experiment] = {}
    for folder in folders:
        for experiment_id, experiment in _load_folder(folder).items():
            if experiment_id in experiments and on_override is not None:
                on_override(experiment, experiments[experiment_id])
            experiments[experiment_id] = experiment
    for experiment in experiments.values():  # cross-experiment checks (e.g. init_from)
        get_task(experiment.task).check_references(experiment, experiments)
    return experiments


def select_experiments(registry: Mapping[str, Experiment], *, ids: Iterable[str] = (),
                       suite: str | None = None) -> list[Experiment]:
    """Experiments by id (in the order given) or by suite tag (in registry order).

    An unknown id or suite raises :class:`KeyError` whose message suggests the closest known
    names ("did you mean") and says how to list them."""
    ids = list(ids)
    if ids:
        missing = [i for i in ids if i not in registry]
        if missing:
            lines = [f"unknown experiment {i!r}.{did_you_mean(i, registry)}" for i in missing]
            raise KeyError("\n".join(lines) + " (gnnkit bench --list shows every id)")
        return [registry[i] for i in ids]
    if suite is None:
        return list(registry.values())
    chosen = [e for e in registry.values() if suite in e.suites]
    if not chosen:
        suites = sorted({s for e in registry.values() for s in e.suites})
        raise KeyError(f"no experiment in suite {suite!r}.{did_you_mean(suite, suites)} "
                       f"Suites: {', '.join(suites)}")
    return chosen
