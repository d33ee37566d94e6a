"""Random test graphs and a PyG-parity harness shared by the layer tests.

The oracle is PyG (``torch_geometric.nn``): the same weights are loaded into both layers and
outputs and gradients are compared. Nothing here calls gnnkit except to build inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}


@dataclass(frozen=True)
class RandomGraph:
    """``edge_index`` (PyG convention) on ``num_nodes`` nodes, with known properties."""

    edge_index: Tensor
    num_nodes: int
    isolated: tuple[int, ...]


def random_graph(num_nodes: int = 24, num_edges: int = 90, *, seed: int = 0,
                 isolated: int = 4, self_loops: int = 5, duplicates: int = 6) -> RandomGraph:
    """Random directed edges among the first ``num_nodes - isolated`` nodes, plus
    ``self_loops`` distinct self loops and ``duplicates`` repeated (non-loop) edges; the last
    ``isolated`` nodes have no edge at all. Edge order is shuffled."""
    g = torch.Generator().manual_seed(seed)
    connected = num_nodes - isolated
    source = torch.randint(0, connected, (num_edges,), generator=g)
    target = torch.randint(0, connected, (num_edges,), generator=g)
    keep = source != target
    source, target = source[keep], target[keep]
    loops = torch.randperm(connected, generator=g)[:self_loops]
    repeat = torch.randint(0, source.numel(), (duplicates,), generator=g)
    source = torch.cat([source, loops, source[repeat]])
    target = torch.cat([target, loops, target[repeat]])
    order = torch.randperm(source.numel(), generator=g)
    edge_index = torch.stack([source[order], target[order]])
    return RandomGraph(edge_index, num_nodes, tuple(range(connected, num_nodes)))


def load_same_weights(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    """Copy every parameter/buffer of ``theirs`` into the same-named one of ``ours``;
    both must have exactly the same learnable parameter names."""
    their_state = theirs.state_dict()
    our_names = {name for name, _ in ours.named_parameters()}
    their_names = {name for name, _ in theirs.named_parameters()}
    assert our_names == their_names, (sorted(our_names), sorted(their_names))
    ours.load_state_dict({k: v for k, v in their_state.items() if k in ours.state_dict()},
                         strict=False)
    for name, value in ours.state_dict().items():
        if name in their_state:
            assert torch.equal(value, their_state[name]), name


def assert_parity(ours: torch.nn.Module, theirs: torch.nn.Module,
                  run_ours: Callable[[torch.nn.Module, Tensor], Tensor],
                  run_theirs: Callable[[torch.nn.Module, Tensor], Tensor],
                  x: Tensor, *, seed: int = 0) -> None:
    """Same weights → same outputs, same input gradients and same parameter gradients."""
    load_same_weights(ours, theirs)
    x_ours = x.detach().clone().requires_grad_()
    x_theirs = x.detach().clone().requires_grad_()
    out_ours = run_ours(ours, x_ours)
    out_theirs = run_theirs(theirs, x_theirs)
    torch.testing.assert_close(out_ours, out_theirs, **TOLERANCE)
    upstream = torch.randn(out_theirs.shape, generator=torch.Generator().manual_seed(seed + 1))
    (out_ours * upstream).sum().backward()
    (out_theirs * upstream).sum().backward()
    assert x_theirs.grad is not None and x_ours.grad is not None
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, **TOLERANCE)
    their_params = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        theirs_grad = their_params[name].grad
        if theirs_grad is None:
            assert parameter.grad is None or not parameter.grad.any(), name
            continue
        assert parameter.grad is not None, f"no gradient for {name}"
        torch.testing.assert_close(parameter.grad, theirs_grad, **TOLERANCE, msg=name)
