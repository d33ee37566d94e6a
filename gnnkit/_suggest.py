"""Suggestions ("did you mean ...?") for misspelt names: datasets, OGB names, registries.

One small, dependency-free helper shared by every place that looks a user-typed name up in a
table, so that the rule for what counts as "close" is the same everywhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["close_matches", "did_you_mean"]


def close_matches(name: str, candidates: Iterable[str], *, n: int = 5,
                  cutoff: float = 0.6) -> list[str]:
    """The candidates closest to ``name``, best first, compared case-insensitively.

    A candidate equal to ``name`` up to case comes first on its own. Otherwise
    :func:`difflib.get_close_matches` (ratio >= ``cutoff``) picks up to ``n`` of them, and a
    candidate that contains ``name`` (or is contained in it) is added when nothing else
    matched -- ``"gowala"`` finds ``"gowalla"``, ``"molbace"`` finds ``"ogbg-molbace"``.
    The candidates are returned in their original spelling.
    """
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    key = name.lower()
    if key in by_lower:
        return [by_lower[key]]
    matches = difflib.get_close_matches(key, list(by_lower), n=n, cutoff=cutoff)
    if not matches and len(key) >= 3:
        matches = [known for known in by_lower if key in known or known in key][:n]
    return [by_lower[match] for match in matches]


def did_you_mean(name: str, candidates: Iterable[str], *, n: int = 5) -> str:
    """``" Did you mean: a, b?"`` (with a leading space) or ``""`` when nothing is close."""
    close = close_matches(name, candidates, n=n)
    return f" Did you mean: {', '.join(close)}?" if close else ""
