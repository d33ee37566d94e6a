"""Cached graph state of the link predictors follows the module (.to()/.double()/.half())."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from gnnkit.nn.conv.message_passing import GraphCache, GraphCacheOwner
from gnnkit.nn.linkpred import NCNCPredictor, NCNPredictor
from gnnkit.sparse import SparseMatrix


def _graph() -> tuple[SparseMatrix, torch.Tensor, torch.Tensor]:
    """A coalesced undirected pattern (so the predictor keys its cache on this very matrix),
    float32 node representations and query pairs."""
    g = torch.Generator().manual_seed(0)
    edges = torch.randint(0, 12, (2, 30), generator=g)
    edges = torch.cat([edges, edges.flip(0)], dim=1)
    A = SparseMatrix.from_edge_index(edges, shape=12).coalesce()
    h = torch.randn(12, 4, generator=g)
    pairs = torch.randint(0, 12, (2, 9), generator=g)
    return A, h, pairs


def _filled_ncn2() -> tuple[NCNPredictor, SparseMatrix, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    A, h, pairs = _graph()
    predictor = NCNPredictor(4, 8, variant="ncn2").eval()
    predictor(h, A, pairs)  # fills the two-hop cache (float32 model)
    return predictor, A, h, pairs


def test_ncn2_after_double_matches_a_fresh_float64_model() -> None:
    # The cached A·A is a pattern (no values), so this guards the cast path end to end.
    predictor, A, h, pairs = _filled_ncn2()
    predictor.double()
    got = predictor(h.double(), A, pairs)
    assert got.dtype == torch.float64
    fresh = NCNPredictor(4, 8, variant="ncn2").double().eval()
    fresh.load_state_dict(predictor.state_dict())
    torch.testing.assert_close(got, fresh(h.double(), A, pairs), rtol=0, atol=0)


@pytest.mark.parametrize("cast", [
    nn.Module.double, nn.Module.half, lambda m: m.to(torch.float64),
    lambda m: m.type(torch.float64),  # Module.type casts every tensor it is given
], ids=["double", "half", "to-dtype", "type"])
def test_a_cast_keeps_the_cached_pattern_and_its_index_dtype(
    cast: Callable[[nn.Module], nn.Module]
) -> None:
    predictor, A, _, _ = _filled_ncn2()
    assert predictor._two_hop_cache.get(A.structure) is not None
    cast(predictor)
    two_hop = predictor._two_hop_cache.get(A.structure)
    assert two_hop is not None  # a cast is no reason to recompute A·A
    assert two_hop.rowptr.dtype == A.rowptr.dtype and two_hop.col.dtype == A.col.dtype
    assert not two_hop.rowptr.is_floating_point() and two_hop.values is None


def test_a_device_move_drops_the_cached_pattern() -> None:
    predictor, A, _, _ = _filled_ncn2()
    predictor.to("meta")  # the only other device every machine has
    # Keyed to a CPU graph: it must not stay behind on the old device.
    assert predictor._two_hop_cache.get(A.structure) is None
    assert predictor.beta.device.type == "meta"


def test_link_predictors_keep_graph_state_in_graph_caches() -> None:
    # NCNC inherits NCN's cache; both must move it through GraphCacheOwner._apply.
    for predictor in (NCNPredictor(4, 8, variant="ncn2"), NCNCPredictor(4, 8)):
        assert isinstance(predictor, GraphCacheOwner)
        assert isinstance(predictor._two_hop_cache, GraphCache)
