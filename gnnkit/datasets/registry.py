"""The dataset registry: names, original URLs, checksums, cache folders, readers.

``load(name)`` returns a dataset from the cache (``$GNNKIT_DATA`` or ``~/.cache/gnnkit``),
from a local directory (``root=``), from the copy bundled in the package (Cora), or -- only
when asked with ``download=True`` -- after downloading it. Nothing ever prompts.

Cache layout: ``<home>/<folder>/<files as in the original release>``, e.g.
``~/.cache/gnnkit/planetoid-cora/ind.cora.x`` or ``~/.cache/gnnkit/ogbl-ddi/raw/edge.csv.gz``.
The same layout works as an offline *mirror*: ``download(name, mirror=...)`` accepts a local
directory or an ``http(s)://``/``file://`` URL whose ``<folder>/<path>`` hold the files (the
shared test data folder is such a mirror).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
import urllib.parse
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gnnkit._ogb_master import OGB_DATASETS
from gnnkit._suggest import did_you_mean
from gnnkit.datasets._checksums import CHECKSUMS
from gnnkit.datasets._errors import (
    DamagedDatasetFileError,
    DatasetFileError,
    MissingDatasetFileError,
)
from gnnkit.datasets._integrity import file_problem
from gnnkit.datasets.bundled import BUNDLED_DATASETS, load_bundled
from gnnkit.datasets.cache import (
    ChecksumError,
    copy_verified,
    data_home,
    fetch,
    verify_file,
)
from gnnkit.datasets.expressivity import read_exp, read_graph6
from gnnkit.datasets.geomgcn import read_geomgcn, read_geomgcn_splits
from gnnkit.datasets.lightgcn import read_lightgcn
from gnnkit.datasets.ogb_format import read_ogb
from gnnkit.datasets.planetoid import PLANETOID_PARTS, read_planetoid
from gnnkit.datasets.tu import read_tu
from gnnkit.datasets.zinc import read_zinc

__all__ = [
    "ALIASES",
    "DATASETS",
    "Archive",
    "DatasetSpec",
    "RemoteFile",
    "damaged_files",
    "dataset_status",
    "download",
    "get_spec",
    "load",
]

Reader = Callable[[Path, Path], Any]  # (dataset folder, data home) -> dataset


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its path in the dataset folder, origin and expected facts."""

    path: str
    url: str
    sha256: str | None = None
    size: int | None = None
    git_sha1: str | None = None  # git blob id, when only that is known (SOURCE.txt lists them)

    @property
    def verifiable(self) -> bool:
        return self.sha256 is not None or self.git_sha1 is not None


@dataclasses.dataclass(frozen=True)
class Archive:
    """A zip release (OGB, TU): ``top_folder`` inside it becomes the dataset folder."""

    url: str
    top_folder: str
    verify_members: bool  # enforce the members' checksums after extraction


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Everything gnnkit knows about one dataset name."""

    name: str
    folder: str
    format: str
    task: str
    description: str
    reader: Reader
    files: tuple[RemoteFile, ...] = ()
    archive: Archive | None = None
    required: tuple[str, ...] | None = None  # paths that must exist to read (default: files)
    requires: tuple[str, ...] = ()  # other datasets read together with this one
    homepage: str = ""

    @property
    def required_paths(self) -> tuple[str, ...]:
        return self.required if self.required is not None else tuple(f.path for f in self.files)

    @property
    def bundled(self) -> bool:
        return self.name in BUNDLED_DATASETS


def _remote(folder: str, path: str, url: str, git_sha1: str | None = None) -> RemoteFile:
    sha256, size = CHECKSUMS.get(f"{folder}/{path}", (None, None))
    return RemoteFile(path=path, url=url, sha256=sha256, size=size, git_sha1=git_sha1)


# ---------------------------------------------------------------------------- the table
_PLANETOID_URL = (
    "https://raw.githubusercontent.com/kimiyoung/planetoid/"
    "af6abf468a772cc055bec88c52e4d6f51b7c37e3/data"
)
_GEOMGCN_URL = (
    "https://raw.githubusercontent.com/graphdml-uiuc-jlu/geom-gcn/"
    "f1fc0d14b3b019c562737240d06ec83b07d16a8f"
)
_LIGHTGCN_URL = (
    "https://raw.githubusercontent.com/kuandeng/LightGCN/"
    "b067ec05f16a24e0e1efe63cd82385f0c469af20/Data"
)
# blobs that SOURCE.txt identifies but that are not in the shared folders
_KNOWN_GIT_BLOBS = {
    "planetoid-pubmed/ind.pubmed.allx": "3b86bccf08111c37c632a9dd8ab63db25ea76361",
    "lightgcn-yelp2018/train.txt": "cda12361055ba448ae4bd1070f6000c16dea8f22",
    "lightgcn-amazon-book/train.txt": "6ef55159c5f1fd7f6d86eb9ff290d0cc2854ac99",
}


def _planetoid(name: str, title: str) -> DatasetSpec:
    folder = f"planetoid-{name}"
    files = tuple(
        _remote(folder, f"ind.{name}.{part}", f"{_PLANETOID_URL}/ind.{name}.{part}",
                _KNOWN_GIT_BLOBS.get(f"{folder}/ind.{name}.{part}"))
        for part in PLANETOID_PARTS
    )
    return DatasetSpec(
        name=name, folder=folder, format="planetoid", task="node classification",
        description=f"{title} citation graph, Planetoid public split (Yang et al., 2016)",
        reader=lambda path, home: read_planetoid(path, name), files=files,
        homepage="https://github.com/kimiyoung/planetoid",
    )


def _geomgcn_split_files(folder: str, name: str) -> tuple[RemoteFile, ...]:
    return tuple(
        _remote(folder, f"{name}_split_0.6_0.2_{k}.npz",
                f"{_GEOMGCN_URL}/splits/{name}_split_0.6_0.2_{k}.npz")
        for k in range(10)
    )


def _geomgcn(name: str, title: str) -> DatasetSpec:
    folder = f"geomgcn-{name}"
    files = tuple(
        _remote(folder, part, f"{_GEOMGCN_URL}/new_data/{name}/{part}")
        for part in ("out1_graph_edges.txt", "out1_node_feature_label.txt")
    ) + _geomgcn_split_files(folder, name)
    return DatasetSpec(
        name=name, folder=folder, format="geom-gcn", task="node classification",
        description=f"{title} (geom-gcn release, Pei et al. 2020) with its ten 60/20/20 splits",
        reader=lambda path, home: read_geomgcn(path, name), files=files,
        homepage="https://github.com/graphdml-uiuc-jlu/geom-gcn",
    )


def _planetoid_geomgcn(name: str, title: str) -> DatasetSpec:
    folder = "geomgcn-splits-planetoid"

    def reader(path: Path, home: Path) -> Any:
        graph = read_planetoid(home / f"planetoid-{name}", name)
        masks = read_geomgcn_splits(path, name, graph.num_nodes)
        return graph.replace(node_splits=masks,
                             metadata={**graph.metadata, "split": "geom-gcn"})

    return DatasetSpec(
        name=f"{name}-geomgcn", folder=folder, format="planetoid + geom-gcn splits",
        task="node classification",
        description=f"{title} with geom-gcn's ten splits (48/32/20 %)",
        reader=reader, files=_geomgcn_split_files(folder, name), requires=(name,),
        homepage="https://github.com/graphdml-uiuc-jlu/geom-gcn",
    )


def _lightgcn(name: str, title: str) -> DatasetSpec:
    folder = f"lightgcn-{name}"
    files = tuple(
        _remote(folder, part, f"{_LIGHTGCN_URL}/{name}/{part}",
                _KNOWN_GIT_BLOBS.get(f"{folder}/{part}"))
        for part in ("train.txt", "test.txt", "user_list.txt", "item_list.txt")
    )
    return DatasetSpec(
        name=name, folder=folder, format="lightgcn", task="recommendation",
        description=f"{title} user-item interactions, LightGCN's train/test split",
        reader=lambda path, home: read_lightgcn(path, name), files=files,
        required=("train.txt", "test.txt"),
        homepage="https://github.com/kuandeng/LightGCN",
    )


def _ogb(name: str) -> DatasetSpec:
    info = OGB_DATASETS[name]
    files = tuple(
        RemoteFile(path=key.split("/", 1)[1], url=info.url, sha256=sha, size=size)
        for key, (sha, size) in CHECKSUMS.items()
        if key.startswith(f"{name}/")
    )
    required = ("raw/edge.csv.gz", "raw/num-node-list.csv.gz", "raw/num-edge-list.csv.gz")
    return DatasetSpec(
        name=name, folder=name, format=f"ogb-{info.level}", task=info.task_type,
        description=f"OGB {info.level}-property dataset ({info.eval_metric}, {info.split} split)",
        reader=lambda path, home: read_ogb(path, name), files=files,
        archive=Archive(url=info.url, top_folder=info.download_name, verify_members=True),
        required=required, homepage="https://ogb.stanford.edu",
    )


def _tu(name: str) -> DatasetSpec:
    folder = f"tu-{name}"
    files = tuple(
        # the shared copies are not proven byte-identical to TU's zip: no checksums enforced
        dataclasses.replace(_remote(folder, key.split("/", 1)[1], ""), url="")
        for key in CHECKSUMS
        if key.startswith(f"{folder}/")
    )
    if name == "IMDB-BINARY":  # its A.txt is a reconstruction in the shared folder
        files += (RemoteFile(path="IMDB-BINARY_A.txt", url=""),)
    return DatasetSpec(
        name=name, folder=folder, format="tu", task="graph classification",
        description=f"TUDataset {name}",
        reader=lambda path, home: read_tu(path, name), files=files,
        archive=Archive(url=f"https://www.chrsmrrs.com/graphkerneldatasets/{name}.zip",
                        top_folder=name, verify_members=False),
        required=(f"{name}_A.txt", f"{name}_graph_indicator.txt", f"{name}_graph_labels.txt"),
        homepage="https://chrsmrrs.github.io/datasets/",
    )


def _files(folder: str, base_url: str, names: tuple[str, ...]) -> tuple[RemoteFile, ...]:
    return tuple(_remote(folder, path, f"{base_url}/{path}") for path in names)


_ZINC_URL = (
    "https://raw.githubusercontent.com/fseiffarth/RuleGNN/"
    "b91cac67392ea6c6cfb02d89b991e8db6be9636a/Data/RealWorldGraphs/ZINC/raw"
)
_SR_URL = (
    "https://raw.githubusercontent.com/twitter-research/cwn/"
    "c4ddd24e251929f934f8a2467da98fdba376864d/datasets/SR_graphs/raw"
)
_SR_FILES = ("sr16622.g6", "sr251256.g6", "sr261034.g6", "sr281264.g6", "sr291467.g6",
             "sr351668.g6", "sr351899.g6", "sr361446.g6", "sr401224.g6")


def _spec_list() -> list[DatasetSpec]:
    specs = [
        _planetoid("cora", "Cora"),
        _planetoid("citeseer", "CiteSeer"),
        _planetoid("pubmed", "PubMed"),
        _planetoid_geomgcn("cora", "Cora"),
        _planetoid_geomgcn("citeseer", "CiteSeer"),
        _planetoid_geomgcn("pubmed", "PubMed"),
        *(_geomgcn(key, key.capitalize()) for key in
          ("texas", "wisconsin", "cornell", "chameleon", "squirrel", "film")),
        _lightgcn("gowalla", "Gowalla"),
        _lightgcn("yelp2018", "Yelp2018"),
        _lightgcn("amazon-book", "Amazon-Book"),
        *(_tu(name) for name in ("MUTAG", "NCI1", "IMDB-BINARY", "PROTEINS", "PTC_MR",
                                 "IMDB-MULTI", "COLLAB", "REDDIT-BINARY", "DD", "ENZYMES")),
        *(_ogb(name) for name in OGB_DATASETS),
        DatasetSpec(
            name="zinc", folder="zinc-subset", format="zinc-text", task="graph regression",
            description="ZINC-12k subset (10000/1000/1000), PyG's view, as text files",
            reader=lambda path, home: read_zinc(path),
            files=(
                *_files("zinc-subset", _ZINC_URL,
                        ("ZINC_Nodes.txt", "ZINC_Edges.txt", "ZINC_Labels.txt")),
                # the split file is only in the repository's history (commit b72c14a5...)
                _remote("zinc-subset", "ZINC_splits.json",
                        "https://raw.githubusercontent.com/fseiffarth/RuleGNN/"
                        "b72c14a5/Data/Splits/ZINC_splits.json"),
            ),
            homepage="https://github.com/graphdeeplearning/benchmarking-gnns",
        ),
        DatasetSpec(
            name="sr-graphs", folder="sr-graphs", format="graph6", task="isomorphism",
            description="strongly regular graph families (SR25 = sr251256) from McKay's site",
            reader=lambda path, home: {Path(f).stem: read_graph6(path / f) for f in _SR_FILES},
            files=_files("sr-graphs", _SR_URL, _SR_FILES),
            homepage="https://users.cecs.anu.edu.au/~bdm/data/graphs.html",
        ),
        DatasetSpec(
            name="graph8c", folder="graph8c", format="graph6", task="isomorphism",
            description="all 11117 connected graphs on 8 nodes",
            reader=lambda path, home: read_graph6(path / "graph8c.g6"),
            files=_files("graph8c",
                         "https://raw.githubusercontent.com/balcilar/gnn-matlang/"
                         "0d90cb17056c1599bbd627f9c6cd994b160feadd/dataset/graph8c/raw",
                         ("graph8c.g6",)),
            homepage="https://github.com/balcilar/gnn-matlang",
        ),
        DatasetSpec(
            name="exp", folder="exp", format="graphsat", task="graph classification",
            description="EXP and CEXP 1-WL-indistinguishable SAT pairs (GPL-3.0 data)",
            reader=lambda path, home: {k: read_exp(path / k / "GRAPHSAT.txt")
                                       for k in ("EXP", "CEXP")},
            files=_files("exp",
                         "https://raw.githubusercontent.com/ralphabb/GNN-RNI/"
                         "43c69c06462d3a165ba2b532d76cbc045fc767d7/Data",
                         ("EXP/GRAPHSAT.txt", "CEXP/GRAPHSAT.txt")),
            homepage="https://github.com/ralphabb/GNN-RNI",
        ),
    ]
    return specs


DATASETS: dict[str, DatasetSpec] = {spec.name.lower(): spec for spec in _spec_list()}


def _aliases() -> dict[str, str]:
    """Cache-folder name -> registry name, for every folder that holds one dataset only.

    Derived from the table: ``planetoid-cora`` -> ``cora``, ``lightgcn-gowalla`` ->
    ``gowalla``, ``tu-mutag`` -> ``mutag``, ``zinc-subset`` -> ``zinc`` ...; a folder shared by
    several datasets (``geomgcn-splits-planetoid``) is no alias.
    """
    owners: dict[str, list[str]] = {}
    for key, spec in DATASETS.items():
        owners.setdefault(spec.folder.lower(), []).append(key)
    return {folder: keys[0] for folder, keys in owners.items()
            if len(keys) == 1 and folder not in DATASETS}


#: alternative names accepted by :func:`get_spec`, lower case -> registry name
ALIASES: dict[str, str] = _aliases()


def get_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name``: a registry name or a cache-folder alias
    (:data:`ALIASES`, e.g. ``lightgcn-gowalla``), case-insensitive.

    Raises:
        KeyError: unknown name; the message suggests the closest known names and lists all.
    """
    key = name.lower()
    key = ALIASES.get(key, key)
    try:
        return DATASETS[key]
    except KeyError:
        hint = did_you_mean(name, [*DATASETS, *ALIASES])
        raise KeyError(f"unknown dataset {name!r}.{hint} Known: {sorted(DATASETS)} "
                       "(`gnnkit datasets list` describes them)") from None


# ---------------------------------------------------------------------------- status / load
def _missing(spec: DatasetSpec, folder: Path) -> list[Path]:
    return [folder / path for path in spec.required_paths if not (folder / path).is_file()]


def _facts_enforced(spec: DatasetSpec) -> bool:
    """Whether the recorded sizes/checksums are those of the files a download produces.

    True for datasets fetched file by file and for archives whose members are verified (OGB);
    false for TU zips, whose members are not proven byte-identical to the recorded copies.
    """
    return spec.archive is None or spec.archive.verify_members


def damaged_files(
    name: str, home: str | os.PathLike[str] | None = None, *, verify: bool = True
) -> list[tuple[Path, str]]:
    """``(path, problem)`` for every present file of ``name`` that differs from the original.

    Every present file with a recorded size is ``stat``-ed; with ``verify`` its checksum is
    compared too, computed once per file version (cached by path, size and mtime). Absent
    files are not reported here (see :func:`dataset_status`); datasets required by ``name``
    are not included.
    """
    spec = get_spec(name)
    if not _facts_enforced(spec):
        return []
    folder = (Path(home) if home is not None else data_home()) / spec.folder
    damaged = []
    for remote in spec.files:
        path = folder / remote.path
        if not path.is_file():
            continue
        problem = file_problem(path, size=remote.size, sha256=remote.sha256,
                               git_sha1=remote.git_sha1, verify_digest=verify)
        if problem is not None:
            damaged.append((path, problem))
    return damaged


def redownload_command(name: str, home: str | os.PathLike[str] | None = None) -> str:
    """The shell command that fetches ``name`` again into ``home``, replacing present files."""
    command = f"gnnkit datasets download {get_spec(name).name} --force"
    if home is not None and Path(home).expanduser().resolve() != data_home().resolve():
        command += f" --root {home}"
    return command


def _remedy(name: str, home: Path) -> str:
    return f"re-download it with `{redownload_command(name, home)}`"


def dataset_status(
    name: str, home: str | os.PathLike[str] | None = None, *, verify: bool = False
) -> str:
    """``"complete"``, ``"damaged"``, ``"partial"``, ``"bundled"`` or ``"missing"``.

    ``"damaged"``: a present file (of ``name`` or of a dataset it requires) has another size
    than the original -- or, with ``verify``, another checksum (:func:`damaged_files`).
    ``"bundled"``: not in the cache, but shipped with the package (Cora).
    """
    spec = get_spec(name)
    home = Path(home) if home is not None else data_home()
    if damaged_files(spec.name, home, verify=verify) or any(
        dataset_status(r, home, verify=verify) == "damaged" for r in spec.requires
    ):
        return "damaged"
    missing = _missing(spec, home / spec.folder)
    if not missing and all(dataset_status(r, home) == "complete" for r in spec.requires):
        return "complete"
    if (home / spec.folder).is_dir() and len(missing) < len(spec.required_paths):
        return "partial"
    return "bundled" if spec.bundled else "missing"


def _resolve(spec: DatasetSpec, root: Path | None) -> tuple[Path, Path]:
    """``(dataset folder, data home)``; ``root`` may be a home or the dataset folder itself."""
    if root is None:
        home = data_home()
        return home / spec.folder, home
    if not (root / spec.folder).is_dir() and root.name == spec.folder:
        return root, root.parent
    return root / spec.folder, root


def load(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    mirror: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    verify: bool = True,
) -> Any:
    """Load dataset ``name`` and return what its reader returns (a :class:`Graph`,
    :class:`GraphDataset`, :class:`Interactions` or a dict of them).

    Args:
        name: a registry name (``gnnkit datasets list`` prints them), case-insensitive.
        root: a data home holding ``<folder>/`` (e.g. ``../shared/datasets``) or the dataset
            folder itself; default ``$GNNKIT_DATA`` / ``~/.cache/gnnkit``.
        download: fetch missing files (original URLs, or ``mirror``) before reading.
        mirror: local directory or URL laid out as ``<folder>/<path>`` to download from.
        progress: progress bar on stderr (default: when stderr is a terminal).
        verify: compare every file's checksum with the original's (hashed once per file
            version and cached, see :func:`damaged_files`); ``False`` keeps only the size
            check -- for a deliberately edited copy, pass ``False`` and expect size errors
            only if the size changed too.

    Without ``root`` and with the files absent, a bundled dataset (``cora``) is returned from
    the package. Otherwise missing files raise :class:`MissingDatasetFileError` naming the
    first one and the command that fetches it.

    Raises:
        MissingDatasetFileError: a required file is absent.
        DamagedDatasetFileError: a file is truncated or altered (size, checksum, or a format
            check of the reader such as a last line without its newline); the message names
            the file, the problem and the re-download command.
        DatasetFileError: a file is malformed in another way.
    """
    spec = get_spec(name)
    folder, home = _resolve(spec, Path(root) if root is not None else None)
    missing = _missing(spec, folder) + [
        path for required in spec.requires
        for path in _missing(get_spec(required), home / get_spec(required).folder)
    ]
    if missing and (download or mirror is not None):
        fetch_dataset(spec.name, home=home, mirror=mirror, progress=progress)
        missing = _missing(spec, folder)
    if missing:
        if root is None and spec.bundled:
            return load_bundled(spec.name)
        raise MissingDatasetFileError(
            missing[0],
            f"{spec.name}: run `gnnkit datasets download {spec.name}` or call "
            f"load({spec.name!r}, download=True)",
        )
    for owner in (spec.name, *spec.requires):
        for path, problem in damaged_files(owner, home, verify=verify)[:1]:
            raise DamagedDatasetFileError(path, problem, _remedy(owner, home))
    try:
        return spec.reader(folder, home)
    except DamagedDatasetFileError as error:  # a reader's format check: name the exact command
        owner = next((r for r in spec.requires
                      if (home / get_spec(r).folder) in error.path.parents), spec.name)
        raise DamagedDatasetFileError(error.path, error.problem, _remedy(owner, home)) from None


# ---------------------------------------------------------------------------- download
def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _mirror_source(mirror: str | os.PathLike[str], folder: str, path: str) -> str | Path:
    text = str(mirror)
    if "://" in text:
        return f"{text.rstrip('/')}/{urllib.parse.quote(f'{folder}/{path}')}"
    return Path(text) / folder / path


def _already_there(dest: Path, remote: RemoteFile) -> bool:
    if not dest.is_file():
        return False
    try:
        verify_file(dest, sha256=remote.sha256, git_sha1=remote.git_sha1, size=remote.size)
    except ChecksumError:
        return False
    return True


def _fetch_one(remote: RemoteFile, source: str | Path, dest: Path, progress: bool | None,
               log: Callable[[str], None]) -> None:
    if isinstance(source, Path):
        if not source.is_file():
            raise MissingDatasetFileError(source, "not in the offline mirror")
        copy_verified(source, dest, sha256=remote.sha256, git_sha1=remote.git_sha1,
                      size=remote.size)
        return
    fetch(source, dest, sha256=remote.sha256, git_sha1=remote.git_sha1, size=remote.size,
          progress=progress, label=f"{dest.parent.name}/{dest.name}", log=log)


def _safe_extract(archive: Path, target: Path) -> None:
    """Extract a zip, refusing absolute paths and ``..`` components (zip-slip)."""
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            parts = Path(member.filename).parts
            if member.filename.startswith(("/", "\\")) or ".." in parts:
                raise DatasetFileError(archive, f"unsafe member path {member.filename!r}")
        bundle.extractall(target)


def _fetch_archive(spec: DatasetSpec, home: Path, progress: bool | None,
                   log: Callable[[str], None]) -> None:
    assert spec.archive is not None
    downloads = home / ".downloads"
    zip_path = downloads / f"{spec.folder}.zip"
    fetch(spec.archive.url, zip_path, progress=progress, label=f"{spec.folder}.zip", log=log)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.folder}.", dir=home))
    try:
        _safe_extract(zip_path, staging)
        extracted = staging / spec.archive.top_folder
        if not extracted.is_dir():
            raise DatasetFileError(zip_path, f"has no top-level folder {spec.archive.top_folder}")
        if spec.archive.verify_members:
            for remote in spec.files:
                member = extracted / remote.path
                if member.is_file() and remote.verifiable:
                    verify_file(member, sha256=remote.sha256, size=remote.size)
        target = home / spec.folder
        if target.exists():
            shutil.rmtree(target)
        os.replace(extracted, target)  # same file system: the folder appears complete at once
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    zip_path.unlink(missing_ok=True)


def fetch_dataset(
    name: str,
    *,
    home: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    force: bool = False,
    log: Callable[[str], None] = _stderr,
) -> Path:
    """Download (or copy from ``mirror``) every file of ``name`` into ``<home>/<folder>``.

    Files already present with the right checksum are kept (``force`` re-fetches them).
    Archive datasets (OGB, TU) download and extract the official zip, unless a mirror is
    given, in which case their files are fetched one by one from it. Returns the folder.
    """
    spec = get_spec(name)
    home = Path(home) if home is not None else data_home()
    for required in spec.requires:
        fetch_dataset(required, home=home, mirror=mirror, progress=progress, force=force, log=log)
    folder = home / spec.folder
    if spec.archive is not None and mirror is None:
        if force or _missing(spec, folder) or damaged_files(spec.name, home):
            home.mkdir(parents=True, exist_ok=True)
            _fetch_archive(spec, home, progress, log)
        return folder
    if not spec.files:
        raise ValueError(f"{spec.name}: no file list known; download it without a mirror")
    for remote in spec.files:
        dest = folder / remote.path
        if not force and _already_there(dest, remote):
            continue
        source = _mirror_source(mirror, spec.folder, remote.path) if mirror else remote.url
        if not source:
            raise ValueError(f"{spec.name}: {remote.path} has no URL of its own")
        _fetch_one(remote, source, dest, progress, log)
    return folder


download = fetch_dataset
