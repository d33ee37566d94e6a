"""The vocabulary every experiment section is validated with: errors that name the file and
the key, typed look-ups with allowed values, and the sections all tasks share
(:class:`DatasetSpec`, :class:`PaperResult`).

Tasks (:mod:`gnnkit.bench.tasks`) build their own sections from these helpers; this module
imports nothing else from :mod:`gnnkit.bench`, so every other bench module can use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "COUNT_METRICS",
    "FEATURES",
    "RAW_METRICS",
    "SOURCES",
    "VERIFICATION",
    "DatasetSpec",
    "ExperimentError",
    "PaperResult",
    "check_keys",
    "get_table",
    "get_value",
    "parse_dataset",
    "parse_paper",
    "sampling_table",
    "strings",
]

#: every dataset source a task may allow (each task narrows this to the ones it reads)
SOURCES = ("bundled", "planetoid", "geomgcn", "ogb")
#: ``row_normalize`` (rows sum to 1), ``raw``, ``none`` (no features: learnt node embeddings)
FEATURES = ("row_normalize", "raw", "none")
VERIFICATION = ("verified", "secondary", "unverified")
#: metrics stored and reported in the target's own units (errors: lower is better); every
#: other metric (accuracy, Hits@K, ROC-AUC, …) is a percentage
RAW_METRICS = ("mae", "rmse")
#: metrics that count things (pairs of graphs a model separates): integers, not percentages
COUNT_METRICS = ("separated_pairs", "undistinguished_pairs")


class ExperimentError(ValueError):
    """A malformed experiment file (the message names the file and the key)."""

    def __init__(self, path: Path | str | None, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path is not None else message)


def get_table(data: Mapping[str, Any], key: str, path: Path | None) -> Mapping[str, Any]:
    """The table ``[key]`` of ``data`` (missing or not a table → :class:`ExperimentError`)."""
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise ExperimentError(path, f"missing table [{key}]")
    return value


def check_keys(data: Mapping[str, Any], allowed: Iterable[str], where: str,
               path: Path | None) -> None:
    """Unknown keys are errors: a typo must not silently fall back to a default."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ExperimentError(path, f"unknown key(s) {unknown} in {where}; allowed: "
                                    f"{sorted(allowed)}")


def get_value(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
              path: Path | None, default: Any = ..., choices: Iterable[Any] | None = None
              ) -> Any:
    """``data[key]`` checked against ``kind`` (an ``int`` is accepted for ``float``, a
    ``bool`` never for a number) and ``choices``; ``default`` when absent (no default: the key
    is required). Errors read ``<file>: <where>.<key> must be …, got …``."""
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


def sampling_table(table: Any, allowed: Iterable[str], path: Path | None
                   ) -> tuple[Mapping[str, Any], list[int]]:
    """``[training.sampling]`` of any task: a table with only ``allowed`` keys and
    ``fanouts``, a non-empty list of ints, each positive or ``-1`` (all neighbours). Returns
    the table and its fanouts; the task reads its other keys."""
    where = "training.sampling"
    if not isinstance(table, Mapping):
        raise ExperimentError(path, f"{where} must be a table ([training.sampling]), got "
                                    f"{type(table).__name__}")
    check_keys(table, allowed, f"[{where}]", path)
    fanouts = table.get("fanouts")
    if (not isinstance(fanouts, list) or not fanouts
            or any(isinstance(f, bool) or not isinstance(f, int) or f == 0 or f < -1
                   for f in fanouts)):
        raise ExperimentError(path, f"{where}.fanouts must be a non-empty list of ints, each "
                                    f"positive or -1 (all neighbours), got {fanouts!r}")
    return table, list(fanouts)


def strings(value: Any, where: str, path: Path | None) -> tuple[str, ...]:
    """A string or a list of strings, as a tuple."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ExperimentError(path, f"{where} must be a string or a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class DatasetSpec:
    """Which graph and split an experiment uses.

    Attributes:
        name: dataset name (``cora``, ``citeseer``, ``pubmed``, ``texas``, ``ogbl-ddi``…).
        source: ``bundled`` (inside the package), ``planetoid`` (``ind.<name>.*`` files),
            ``geomgcn`` (``out1_*`` files with their split files) or ``ogb`` (OGB's format).
        split: the task's split name (node classification: ``public`` or ``geom-gcn``; link
            prediction: ``random-85-5-10``, ``ncn-70-10-20`` or ``ogb``).
        features: ``row_normalize`` (each row sums to 1, as in Kipf's and GAT's code),
            ``raw`` or ``none`` (learnt node embeddings; link prediction).
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


def parse_dataset(table: Mapping[str, Any], path: Path | None, *, task: str,
                  sources: tuple[str, ...], splits: tuple[str, ...],
                  features: tuple[str, ...], default_features: str = "row_normalize"
                  ) -> DatasetSpec:
    """The ``[dataset]`` table with the sources, splits and feature modes a task allows
    (the first split is the default). OGB's split files go with OGB's format only."""
    check_keys(table, DatasetSpec.__dataclass_fields__, "[dataset]", path)
    name = get_value(table, "name", str, "dataset", path).lower()
    source = get_value(table, "source", str, "dataset", path, "bundled")
    if source not in sources:
        raise ExperimentError(path, f"dataset.source {source!r} is not a {task} source; one "
                                    f"of {list(sources)}")
    split = get_value(table, "split", str, "dataset", path, splits[0])
    if split not in splits:
        raise ExperimentError(path, f"dataset.split {split!r} is not a {task} split; one of "
                                    f"{list(splits)}")
    feature_mode = get_value(table, "features", str, "dataset", path, default_features)
    if feature_mode not in features:
        raise ExperimentError(path, f"dataset.features {feature_mode!r} is not a {task} "
                                    f"option; one of {list(features)}")
    if (split == "ogb") != (source == "ogb"):
        raise ExperimentError(path, "dataset.split 'ogb' goes with dataset.source 'ogb' (and "
                                    f"only with it), got source {source!r} and split "
                                    f"{split!r}")
    return DatasetSpec(
        name=name, source=source, split=split, features=feature_mode,
        undirected=get_value(table, "undirected", bool, "dataset", path, False),
        folders=strings(table.get("folders", []), "dataset.folders", path),
        split_folders=strings(table.get("split_folders", []), "dataset.split_folders", path),
    )


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


def parse_paper(table: Mapping[str, Any], path: Path | None) -> PaperResult:
    """The ``[paper]`` table."""
    check_keys(table, PaperResult.__dataclass_fields__, "[paper]", path)
    return PaperResult(
        value=get_value(table, "value", float, "paper", path),
        citation=get_value(table, "citation", str, "paper", path),
        std=get_value(table, "std", float, "paper", path, None),
        url=get_value(table, "url", str, "paper", path, None),
        verification=get_value(table, "verification", str, "paper", path, "unverified",
                               VERIFICATION),
        note=get_value(table, "note", str, "paper", path, None),
    )
