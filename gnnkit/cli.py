"""The ``gnnkit`` command line.

Each sub-command lives in its own module exposing ``configure(parser)`` and ``run(args) -> int``;
modules are imported only when their command runs, so ``gnnkit --help`` stays fast and a
sub-command's optional dependencies never break another.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("gnnkit._demo", "run a small end-to-end demo of the sparse core on a toy graph"),
    "build-kernels": (
        "gnnkit.sparse._backends.cpu.build",
        "compile the C++ CPU kernels ahead of time",
    ),
    "datasets": ("gnnkit.datasets.cli", "list, download and inspect datasets"),
    "bench": ("gnnkit.bench.cli", "run the benchmark suite"),
}


def _available_commands() -> dict[str, tuple[str, str]]:
    available = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module.rpartition(".")[0] or module) is not None:
            available[name] = (module, help_text)
    return available


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gnnkit", description=__doc__.splitlines()[0])
    from gnnkit import __version__

    parser.add_argument("--version", action="version", version=f"gnnkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    available = _available_commands()
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = argv[0] if argv else None
    for name, (module_name, help_text) in available.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module_name).configure(sub)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(available[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
