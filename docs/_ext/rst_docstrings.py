"""Griffe extension: render gnnkit's reStructuredText docstring markup as Markdown.

gnnkit's docstrings are Google style in structure (``Args:``, ``Returns:``) but use Sphinx
markup inside: cross-reference roles (``:class:`X```), ``.. math::`` blocks, ``:math:`` roles,
double-backtick literals and ``::`` literal blocks. mkdocstrings (``docstring_style: google``)
hands the text to Markdown, which would show that markup raw. Rewriting hundreds of docstrings
would fight every concurrent edit of the package, so the translation happens at build time,
once griffe has loaded the whole package and before mkdocstrings parses any docstring:

* roles ``:class:`` ``:func:`` ``:meth:`` ``:attr:`` ``:data:`` ``:mod:`` ``:obj:`` ``:exc:``
  ``:const:`` (also with a ``py:`` domain) become cross-references. Names are resolved the way
  Sphinx does, relative to the documented object (its class, then its module), then up the
  enclosing packages, then as an absolute path; ``~`` shows the last component only,
  ``title <target>`` sets the text, ``!target`` suppresses the link. The reference points at
  the object's canonical path, which mkdocstrings registers for every rendering of the object
  (under any alias). It is emitted as an *optional* autoref, so a target that exists but is
  not rendered anywhere (a private helper) degrades to code instead of breaking the strict
  build; a name griffe cannot resolve at all is code from the start.
* ``.. math::`` blocks become ``$$ … $$`` and ``:math:`x``` becomes ``\\(x\\)``, which
  ``pymdownx.arithmatex`` (generic mode) turns into MathJax input.
* ````x```` becomes ```x```; a paragraph ending in ``::`` plus its indented block becomes the
  paragraph ending in ``:`` plus a fenced code block; ``.. code-block:: lang`` becomes a fence;
  ``.. note::``-style directives become Google admonitions.

Only the markup is translated: the converter is a pure function of the text plus a resolver
(:func:`rst_to_markdown`), so it is unit tested without building the site.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Iterator

import griffe

_log = logging.getLogger("griffe.rst_docstrings")

# A resolver maps (role, target) to the canonical identifier to link to, or None (no link).
Resolver = Callable[[str, str], "str | None"]

# Roles that are cross-references in Sphinx's Python domain.
_XREF_ROLES = frozenset(
    {"class", "func", "meth", "attr", "data", "mod", "obj", "exc", "const", "type", "property"}
)
# Sphinx appends "()" to the text of these (``add_function_parentheses``); we keep that look.
_CALLABLE_ROLES = frozenset({"func", "meth"})

# One pass over inline markup: whichever of a literal or a role starts first wins, so a role
# quoted inside a literal (````:class:`X````) stays literal text, as in RST.
_INLINE = re.compile(
    r"``(?P<lit>[^`\s](?:[^`]|`(?!`))*?)``(?:\\ )?"  # ``literal`` (+ RST's "\ " joiner)
    r"|(?<![\w`]):(?:py:)?(?P<role>[a-z]+):`(?P<body>[^`]+)`(?P<esc>\\ )?"
)
_DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. (?P<name>[a-zA-Z-]+)::(?P<arg>.*)$")
_LIST_MARKER = re.compile(r"^(?P<indent> *)(?:[-*+]|\d+[.)]) +")
_FENCE = re.compile(r"^ *(```|~~~)")
_ADMONITIONS = {
    "note": "Note",
    "warning": "Warning",
    "tip": "Tip",
    "important": "Important",
    "caution": "Caution",
    "danger": "Danger",
    "attention": "Attention",
    "hint": "Hint",
    "seealso": "See also",
}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_blank(line: str) -> bool:
    return not line.strip()


def _block_end(lines: list[str], start: int, parent_indent: int) -> int:
    """Index after the indented block that starts at ``start`` (blank lines may separate it).

    The block is every following line that is blank or indented deeper than ``parent_indent``;
    trailing blank lines are not part of it.
    """
    end = start
    i = start
    while i < len(lines) and (_is_blank(lines[i]) or _indent(lines[i]) > parent_indent):
        i += 1
        if not _is_blank(lines[i - 1]):
            end = i
    return end


def _dedent(block: list[str]) -> list[str]:
    """Remove the common indentation and the blank lines around ``block``."""
    while block and _is_blank(block[0]):
        block = block[1:]
    width = min((_indent(line) for line in block if not _is_blank(line)), default=0)
    return [line[width:] if not _is_blank(line) else "" for line in block]


def _code_span(text: str) -> str:
    """Markdown code span for ``text`` (a longer fence when it contains backticks)."""
    if "`" not in text:
        return f"`{text}`"
    return f"`` {text} ``"


def _paragraph_indent(out: list[str]) -> int:
    """Indentation for a block that continues the paragraph ending ``out``.

    Inside a list item the block needs the item's content column rounded up to four spaces
    (Python-Markdown nests a block in a list item only at that depth). Otherwise a hanging
    indent (an ``Args:`` item whose continuation lines are deeper) uses the continuation
    indent, and a plain paragraph its own indent.
    """
    start = len(out) - 1
    while start > 0 and not _is_blank(out[start - 1]):
        start -= 1
    paragraph = out[start:]
    items = [line for line in paragraph if _LIST_MARKER.match(line)]
    if items:
        return (_indent(items[-1]) // 4 + 1) * 4
    if len(paragraph) > 1:
        return _indent(paragraph[1])
    return _indent(paragraph[0])


def _emit_block(out: list[str], protected: list[bool], block: list[str], indent: int) -> None:
    """Append ``block`` (already fenced or delimited) surrounded by blank lines."""
    if out and not _is_blank(out[-1]):
        out.append("")
        protected.append(False)
    pad = " " * indent
    for line in block:
        out.append(pad + line if line else "")
        protected.append(True)
    out.append("")
    protected.append(False)


# "a, b, c," alone on a line: the start of a group of parameter names wrapped onto the next line
_WRAPPED_NAMES = re.compile(r"^(?P<indent> +)(?:[A-Za-z_]\w*, *)+$")


def _join_wrapped_names(lines: list[str]) -> list[str]:
    """Join a parameter-name group wrapped over two lines (``a, b,`` / ``c: text``).

    gnnkit documents related parameters together (``scale, offset: ...``); griffe's Google
    parser reads one line per item, so a group that does not fit on one line is rejoined.
    """
    out: list[str] = []
    for line in lines:
        previous = _WRAPPED_NAMES.match(out[-1]) if out else None
        if previous and _indent(line) == len(previous["indent"]) and ":" in line:
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line)
    return out


def _convert_blocks(text: str) -> tuple[list[str], list[bool]]:
    """Translate block-level markup; return lines and which ones inline markup must not touch."""
    lines = _join_wrapped_names(text.split("\n"))
    out: list[str] = []
    protected: list[bool] = []
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):  # an existing Markdown fence: pass through untouched
            in_fence = not in_fence
            out.append(line)
            protected.append(True)
            i += 1
            continue
        if in_fence or line.lstrip().startswith(">>>"):
            out.append(line)
            protected.append(True)
            i += 1
            # a doctest example runs until the next blank line (its expected output included)
            while not in_fence and i < len(lines) and not _is_blank(lines[i]):
                out.append(lines[i])
                protected.append(True)
                i += 1
            continue

        directive = _DIRECTIVE.match(line)
        if directive:
            indent = len(directive["indent"])
            name = directive["name"].lower()
            arg = directive["arg"].strip()
            end = _block_end(lines, i + 1, indent)
            body = [b for b in lines[i + 1 : end]]
            # directive options (":label: eq1", ":linenos:") are dropped
            while body and body[0].strip().startswith(":") and not _is_blank(body[0]):
                body.pop(0)
            body = _dedent(body)
            if name == "math":
                equations = [arg] if arg else []
                chunk: list[str] = []
                # Sphinx makes one display equation per blank-line separated chunk
                for b in [*body, ""]:
                    if _is_blank(b):
                        if chunk:
                            equations.append("\n".join(chunk))
                            chunk = []
                    else:
                        chunk.append(b)
                for equation in equations:
                    _emit_block(out, protected, ["$$", *equation.split("\n"), "$$"], indent)
            elif name in {"code-block", "code", "sourcecode"}:
                _emit_block(out, protected, [f"```{arg}", *body, "```"], indent)
            elif name in _ADMONITIONS:
                # A Google-style admonition: griffe renders "Note:" + indented body as one.
                if out and not _is_blank(out[-1]):
                    out.append("")
                    protected.append(False)
                out.append(" " * indent + _ADMONITIONS[name] + ":")
                protected.append(False)
                content = [arg] if arg else []
                for b in [*content, *body]:
                    out.append(" " * (indent + 4) + b if b else "")
                    protected.append(False)
            else:  # unknown directive: keep its content readable as a literal block
                _emit_block(out, protected, ["```", *body, "```"], indent)
            i = end
            continue

        stripped = line.rstrip()
        next_is_block = stripped.endswith("::") and i + 1 < len(lines) and _is_blank(lines[i + 1])
        if stripped.endswith("::") and not stripped.lstrip().startswith(".."):
            out.append(line)
            protected.append(False)
            if stripped.strip() == "::":
                out[-1] = ""  # a lone "::" paragraph marks the block and is not shown
            elif stripped.endswith(" ::"):
                out[-1] = stripped[:-3]
            else:
                out[-1] = stripped[:-1]
            para_indent = _indent(line)
            end = _block_end(lines, i + 1, para_indent) if next_is_block else i + 1
            block = lines[i + 1 : end]
            if any(not _is_blank(b) for b in block):
                indent = _paragraph_indent(out) if out[-1] else para_indent
                _emit_block(out, protected, ["```", *_dedent(block), "```"], indent)
                i = end
            else:
                i += 1
            continue

        out.append(line)
        protected.append(False)
        i += 1
    return out, protected


def _render_role(role: str, body: str, resolve: Resolver) -> str | None:
    """Markdown for one role, or None when the role is not one we translate."""
    if role == "math":
        return rf"\({body}\)"
    if role not in _XREF_ROLES:
        return None
    body = " ".join(body.split())  # a role may be wrapped over two lines
    explicit = re.fullmatch(r"(?P<title>.*?)\s*<(?P<target>[^<>]+)>", body)
    if explicit and explicit["title"]:
        title, target, link = explicit["title"], explicit["target"], True
    else:
        target = body
        link = not target.startswith("!")
        target = target.lstrip("!")
        short = target.startswith("~")
        target = target.lstrip("~")
        title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
        if role in _CALLABLE_ROLES and not title.endswith(")"):
            title += "()"
    identifier = resolve(role, target) if link else None
    if identifier is None:
        return _code_span(title)
    # "optional": a target that is not rendered on any page becomes plain code, not an error.
    # The text stays a Markdown code span so that names like __init__ are not emphasised.
    return f'<autoref identifier="{html.escape(identifier)}" optional>{_code_span(title)}</autoref>'


def _convert_inline(text: str, resolve: Resolver) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["lit"] is not None:
            return _code_span(match["lit"])
        rendered = _render_role(match["role"], match["body"], resolve)
        return match[0] if rendered is None else rendered

    return _INLINE.sub(replace, text)


def rst_to_markdown(text: str, resolve: Resolver) -> str:
    """Translate the reStructuredText markup of one docstring into Markdown.

    Args:
        text: the docstring (already dedented, as griffe stores it).
        resolve: maps a role and its target (``"class"``, ``"SparseMatrix"``) to the identifier
            to link to, or ``None`` to show the name as code.

    Returns:
        The docstring with RST roles, math, literals and literal blocks in Markdown.
    """
    lines, protected = _convert_blocks(text)
    result: list[str] = []
    run: list[str] = []
    # Inline markup is converted per run of unprotected lines, so a role or literal wrapped
    # across a line break is still one match, while code and math are left verbatim.
    for line, keep in [*zip(lines, protected, strict=True), ("", True)]:
        if keep:
            if run:
                result.append(_convert_inline("\n".join(run), resolve))
                run = []
            result.append(line)
        else:
            run.append(line)
    result.pop()  # the sentinel
    return "\n".join(result).rstrip("\n")


# --- resolution against the loaded package -------------------------------------------------


def _lookup(collection: griffe.ModulesCollection, path: str) -> griffe.Object | None:
    """The object at ``path`` with aliases followed, or None if absent or external."""
    try:
        obj = collection[path]
        return obj.final_target if isinstance(obj, griffe.Alias) else obj
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _scopes(obj: griffe.Object) -> Iterator[griffe.Object]:
    """Where a name in ``obj``'s docstring is looked up: its class, module, packages."""
    scope: griffe.Object | None = obj if (obj.is_class or obj.is_module) else obj.parent
    while scope is not None:
        yield scope
        scope = scope.parent


def make_resolver(obj: griffe.Object, collection: griffe.ModulesCollection) -> Resolver:
    """A resolver for names in ``obj``'s docstring (Sphinx-like lookup, see module docs)."""

    def resolve(role: str, target: str) -> str | None:
        target = target.strip().removesuffix("()")
        if target.startswith("."):  # Sphinx: ".name" searches by suffix
            target = target.lstrip(".")
        candidates = [f"{scope.path}.{target}" for scope in _scopes(obj)] + [target]
        for candidate in candidates:
            found = _lookup(collection, candidate)
            if found is not None:
                return found.path  # the canonical path
        _log.info("rst_docstrings: %s: cannot resolve :%s:`%s`", obj.path, role, target)
        return None

    return resolve


class RstDocstrings(griffe.Extension):
    """Translate each docstring of a loaded package once the whole tree (aliases too) exists."""

    def __init__(self, packages: list[str] | None = None) -> None:
        """Args:
        packages: top-level packages to translate (default: every package loaded).
        """
        super().__init__()
        self.packages = set(packages) if packages else None

    def on_package(
        self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: object
    ) -> None:
        if self.packages is not None and pkg.path not in self.packages:
            return
        seen: set[int] = set()
        for obj in _walk(pkg):
            docstring = obj.docstring
            if docstring is None or id(docstring) in seen:
                continue
            seen.add(id(docstring))
            docstring.value = rst_to_markdown(
                docstring.value, make_resolver(obj, loader.modules_collection)
            )


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    """Every object defined under ``obj`` (aliases skipped: their targets are walked)."""
    yield obj
    for member in obj.members.values():
        if not isinstance(member, griffe.Alias):
            yield from _walk(member)
