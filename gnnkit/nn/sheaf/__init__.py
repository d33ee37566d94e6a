"""Neural sheaf diffusion (Bodnar et al., "Neural Sheaf Diffusion: A Topological Perspective on
Heterophily and Oversmoothing in GNNs", NeurIPS 2022).

A cellular sheaf on a graph gives every node a ``d``-dimensional stalk and every (node, edge)
incidence a restriction map; its Laplacian is a block matrix with one ``d × d`` block per
stored entry and per node. gnnkit never expands it to an ``Nd × Nd`` scalar matrix: a
:class:`SheafLaplacian` keeps the blocks and is applied with one block-valued (or, for
diagonal maps, multi-head) :func:`gnnkit.sparse.spmm`.

Building blocks, one per module:

* :class:`SheafGraph` — the undirected pattern with each entry's reverse;
* sheaf learners :class:`LocalConcatSheafLearner`, :class:`StalkSumSheafLearner`, and
  :class:`EdgeWeightLearner` (O(d) edge weights);
* :class:`OrthogonalMaps` (Householder, Cayley, matrix exponential, Euler angles) and
  :func:`sym_inv_sqrt` (stable-gradient ``M^{-1/2}``);
* Laplacian builders :class:`DiagLaplacianBuilder`, :class:`BundleLaplacianBuilder`,
  :class:`GeneralLaplacianBuilder`, with :func:`fixed_channels` (graph / signless
  Laplacian stalk channels);
* :class:`SheafDiffusionLayer`, one discrete diffusion step.

The models (Diag-, O(d)- and Gen-NSD) are :class:`gnnkit.models.NSD`.
"""

from __future__ import annotations

from ._act import SHEAF_ACTIVATIONS
from .bundle_builder import BundleLaplacianBuilder
from .diag_builder import DiagLaplacianBuilder
from .diffusion import SheafDiffusionLayer
from .edge_weights import EdgeWeightLearner
from .fixed_channels import fixed_channels
from .general_builder import GeneralLaplacianBuilder
from .graph import SheafGraph
from .inv_sqrt import sym_inv_sqrt
from .laplacian import SheafLaplacian
from .local_concat import LocalConcatSheafLearner
from .orthogonal import ORTHOGONAL_MAPS, OrthogonalMaps, orthogonal_num_params
from .stalk_sum import StalkSumSheafLearner

__all__ = [
    "ORTHOGONAL_MAPS",
    "SHEAF_ACTIVATIONS",
    "BundleLaplacianBuilder",
    "DiagLaplacianBuilder",
    "EdgeWeightLearner",
    "GeneralLaplacianBuilder",
    "LocalConcatSheafLearner",
    "OrthogonalMaps",
    "SheafDiffusionLayer",
    "SheafGraph",
    "SheafLaplacian",
    "StalkSumSheafLearner",
    "fixed_channels",
    "orthogonal_num_params",
    "sym_inv_sqrt",
]
