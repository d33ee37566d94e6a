"""The ``gnnkit`` command line.

Each sub-command lives in its own module exposing ``configure(parser)`` and ``run(args) -> int``;
modules are imported only when their command runs, so ``gnnkit --help`` stays fast and a
sub-command's optional dependencies never break another. A sub-command may set its parser's
``description`` to its module docstring: :func:`plain_text` turns the reStructuredText markup
into terminal text.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "main", "plain_text"]

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

# reStructuredText inline markup, most specific first
_ROLE_WITH_TITLE = re.compile(r":[\w:.-]+:`([^`<]+?)\s*<[^`>]+>`")  # :doc:`text <target>`
_ROLE = re.compile(r":[\w:.-]+:`(~?)([^`]+)`")                       # :func:`~a.b.c`
_LITERAL = re.compile(r"``(.+?)``")                                   # ``code``
_INTERPRETED = re.compile(r"`([^`]+)`_{0,2}")                         # `text`, `link`_
_STRONG = re.compile(r"\*\*(.+?)\*\*")                                # **bold**
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")  # *italic*, not "* "


def _role_text(match: re.Match[str]) -> str:
    """``:func:`~pkg.mod.name``` reads as ``name`` (Sphinx's ``~`` shows the last part)."""
    tilde, target = match.group(1), match.group(2)
    return target.rsplit(".", 1)[-1] if tilde else target


def plain_text(text: str | None) -> str:
    """A docstring as terminal help: dedented, reStructuredText inline markup removed
    (````literal````, roles such as ``:func:`x```, ```text```, ``**strong**``, ``*emphasis*``)
    and a paragraph-ending ``::`` (literal-block marker) shown as ``:``. Paragraphs, bullets
    and line breaks are kept (use :class:`argparse.RawDescriptionHelpFormatter`)."""
    if not text:
        return ""
    lines = text.expandtabs().splitlines()
    # the first line of a docstring has no indentation; the others share the body's
    body = [line for line in lines[1:] if line.strip()]
    indent = min((len(line) - len(line.lstrip()) for line in body), default=0)
    lines = [lines[0].strip()] + [line[indent:].rstrip() for line in lines[1:]]
    out = "\n".join(lines).strip()
    out = _ROLE_WITH_TITLE.sub(r"\1", out)
    out = _ROLE.sub(_role_text, out)
    out = _LITERAL.sub(r"\1", out)
    out = _INTERPRETED.sub(r"\1", out)
    out = _STRONG.sub(r"\1", out)
    out = _EMPHASIS.sub(r"\1", out)
    return re.sub(r"(\S)::$", r"\1:", re.sub(r"\s+::$", "", out, flags=re.M), flags=re.M)


def _available_commands() -> dict[str, tuple[str, str]]:
    available = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module.rpartition(".")[0] or module) is not None:
            available[name] = (module, help_text)
    return available


def _silence_stdout() -> None:
    """Point stdout at /dev/null after its reader went away (``gnnkit bench --list | head``),
    so the interpreter's final flush of the buffered rest does not raise a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the chosen command, return its exit
    status. A closed stdout pipe ends the command quietly with 141 (128 + SIGPIPE, what a
    shell reports for a command stopped by ``| head``)."""
    parser = argparse.ArgumentParser(
        prog="gnnkit", description=plain_text(__doc__.split("\n\n", 1)[0]),
        epilog="Run 'gnnkit COMMAND --help' for a command's options.")
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
            sub.description = plain_text(sub.description)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        module = importlib.import_module(available[args.command][0])
        status = int(module.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return status
    except BrokenPipeError:
        _silence_stdout()
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
