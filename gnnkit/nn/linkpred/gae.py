"""GAE-style link scorers: functions of the two end points' representations only.

* :class:`DotProductScorer` — ``s(i, j) = ⟨h_i, h_j⟩`` (Kipf & Welling, "Variational Graph
  Auto-Encoders", 2016), no parameters.
* :class:`HadamardMLPScorer` — ``s(i, j) = MLP(h_i ⊙ h_j)``, the usual MLP decoder of OGB
  link-prediction baselines and the "GAE" ablation of NCN (official ``cn0``).

Both return logits (apply ``sigmoid`` for probabilities) and share the predictors' call
signature ``scorer(h, graph, pairs)`` so training loops can swap them for NCN/NCNC; the graph
is not used (``None`` is accepted).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .encoder import reset_module
from .heuristics import check_pairs
from .pairs import pair_product

__all__ = ["DotProductScorer", "HadamardMLPScorer"]


def _check_h(h: object, width: int | None = None) -> Tensor:
    if not isinstance(h, Tensor) or not h.is_floating_point() or h.dim() != 2:
        raise TypeError("h must be a floating (N, F) tensor of node representations")
    if width is not None and h.shape[1] != width:
        raise ValueError(f"h has width {h.shape[1]} but in_channels={width}")
    return h


class DotProductScorer(nn.Module):
    """``s(i, j) = Σ_f h_i[f] · h_j[f]``.

    Shapes: ``h`` ``(N, F)``, ``pairs`` ``(2, B)`` → logits ``(B,)``.
    """

    def reset_parameters(self) -> None:
        """No parameters."""

    def forward(self, h: Tensor, graph: Any = None, pairs: Tensor | None = None) -> Tensor:
        h = _check_h(h)
        if pairs is None:
            raise ValueError("pairs (2, B) is required")
        pairs = check_pairs(pairs, h.shape[0])
        return pair_product(h, pairs).sum(-1)


class HadamardMLPScorer(nn.Module):
    """``s(i, j) = MLP(h_i ⊙ h_j)`` with ``num_layers`` Linear layers.

    Hidden layers are ``Linear → [LayerNorm] → Dropout → ReLU``; the last maps to one logit.

    Args:
        in_channels: width ``F`` of ``h``.
        hidden_channels: width of the hidden layers.
        num_layers: number of Linear layers (≥ 1; 1 is a learnt weighted inner product).
        dropout: dropout after each hidden layer.
        layer_norm: LayerNorm in the hidden layers.

    Shapes: ``h`` ``(N, F)``, ``pairs`` ``(2, B)`` → logits ``(B,)``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int = 3, *,
                 dropout: float = 0.0, layer_norm: bool = False) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if in_channels < 1 or hidden_channels < 1:
            raise ValueError("in_channels and hidden_channels must be positive, got "
                             f"{in_channels} and {hidden_channels}")
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        width = in_channels
        for _ in range(num_layers - 1):
            layers += [nn.Linear(width, hidden_channels),
                       nn.LayerNorm(hidden_channels) if layer_norm else nn.Identity(),
                       nn.Dropout(dropout), nn.ReLU()]
            width = hidden_channels
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def reset_parameters(self) -> None:
        reset_module(self.mlp)

    def forward(self, h: Tensor, graph: Any = None, pairs: Tensor | None = None) -> Tensor:
        h = _check_h(h, self.in_channels)
        if pairs is None:
            raise ValueError("pairs (2, B) is required")
        pairs = check_pairs(pairs, h.shape[0])
        return self.mlp(pair_product(h, pairs)).squeeze(-1)
