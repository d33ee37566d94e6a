"""``gnnkit datasets list | download | info``: the dataset cache from the command line.

* ``gnnkit datasets list [--root DIR]`` -- every registered dataset, its format and whether it
  is complete in the cache (or bundled).
* ``gnnkit datasets download NAME... [--root DIR] [--mirror DIR_OR_URL] [--force]
  [--no-progress]`` -- fetch from the original URLs (or an offline mirror laid out as
  ``<folder>/<path>``), verify checksums, write atomically. Never prompts.
* ``gnnkit datasets info NAME [--root DIR] [--load]`` -- files, URLs, checksums and cache
  status (every present file's checksum is verified: a truncated or altered file is listed as
  ``DAMAGED`` with the problem and the command that re-downloads it); with ``--load`` also
  read the dataset and print its summary.

``NAME`` is a registry name or a cache-folder alias (``lightgcn-gowalla``), case-insensitive;
an unknown name gets "did you mean" suggestions.

``--root`` defaults to ``$GNNKIT_DATA`` or ``~/.cache/gnnkit``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gnnkit.datasets._errors import DatasetFileError, MissingDatasetFileError
from gnnkit.datasets.cache import ChecksumError, DownloadError, data_home
from gnnkit.datasets.registry import (
    DATASETS,
    damaged_files,
    dataset_status,
    fetch_dataset,
    get_spec,
    load,
    redownload_command,
)

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``list``/``download``/``info`` sub-commands to ``parser``."""
    commands = parser.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="list the registered datasets")
    listing.add_argument("--root", type=Path, help="data home (default: $GNNKIT_DATA)")
    fetching = commands.add_parser("download", help="download and verify datasets")
    fetching.add_argument("names", nargs="+", metavar="NAME")
    fetching.add_argument("--root", type=Path, help="data home (default: $GNNKIT_DATA)")
    fetching.add_argument("--mirror", help="offline mirror: a directory or URL of <folder>/")
    fetching.add_argument("--force", action="store_true", help="re-fetch present files")
    fetching.add_argument("--no-progress", action="store_true", help="no progress bar")
    info = commands.add_parser("info", help="files, checksums and status of a dataset")
    info.add_argument("name", metavar="NAME")
    info.add_argument("--root", type=Path, help="data home (default: $GNNKIT_DATA)")
    info.add_argument("--load", action="store_true", help="also read it and print a summary")


def _list(args: argparse.Namespace) -> int:
    home = args.root or data_home()
    print(f"data home: {home}")
    print(f"{'name':<18} {'format':<30} {'status':<9} description")
    for name, spec in DATASETS.items():
        status = dataset_status(name, home)
        print(f"{name:<18} {spec.format:<30} {status:<9} {spec.description}")
    return 0


def _download(args: argparse.Namespace) -> int:
    home = args.root or data_home()
    failures = 0
    for name in args.names:
        try:
            folder = fetch_dataset(name, home=home, mirror=args.mirror,
                                   progress=False if args.no_progress else None,
                                   force=args.force)
        except (KeyError, ValueError, DownloadError, ChecksumError, DatasetFileError,
                MissingDatasetFileError) as error:
            message = error.args[0] if isinstance(error, KeyError) else error
            print(f"error: {name}: {message}", file=sys.stderr)
            failures += 1
            continue
        print(f"{name}: {dataset_status(name, home)} in {folder}")
    return 1 if failures else 0


def _info(args: argparse.Namespace) -> int:
    try:
        spec = get_spec(args.name)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    home = args.root or data_home()
    print(f"name:        {spec.name}")
    print(f"description: {spec.description}")
    print(f"format:      {spec.format}    task: {spec.task}")
    status = dataset_status(spec.name, home, verify=True)
    print(f"folder:      {home / spec.folder}    status: {status}")
    if spec.homepage:
        print(f"homepage:    {spec.homepage}")
    if spec.archive is not None:
        print(f"archive:     {spec.archive.url} (folder {spec.archive.top_folder}/)")
    if spec.requires:
        print(f"requires:    {', '.join(spec.requires)}")
    damaged = {path: problem for path, problem in damaged_files(spec.name, home)}
    for remote in spec.files:
        path = home / spec.folder / remote.path
        present = ("DAMAGED" if path in damaged else
                   "present" if path.is_file() else "absent ")
        digest = (f"sha256:{remote.sha256}" if remote.sha256
                  else f"git-sha1:{remote.git_sha1}" if remote.git_sha1 else "no checksum")
        size = f"{remote.size} B" if remote.size is not None else "? B"
        print(f"  {present} {remote.path:<34} {size:>12}  {digest}")
        if path in damaged:
            print(f"          ^ {damaged[path]}")
    if status == "damaged":
        broken = [spec.name] if damaged else [
            r for r in spec.requires if dataset_status(r, home, verify=True) == "damaged"]
        for name in broken:
            print(f"fix:         {redownload_command(name, args.root)}")
    if args.load:
        try:
            print(load(spec.name, args.root))
        except (MissingDatasetFileError, DatasetFileError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the parsed ``gnnkit datasets`` command; return the process exit code."""
    handlers = {"list": _list, "download": _download, "info": _info}
    return handlers[args.datasets_command](args)
