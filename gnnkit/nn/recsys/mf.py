"""Matrix factorisation trained with BPR (MF-BPR; Rendle et al., UAI 2009), LightGCN's
baseline."""

from __future__ import annotations

from .bpr import BPRRecommender

__all__ = ["MFBPR"]


class MFBPR(BPRRecommender):
    r"""Matrix factorisation with the BPR objective (Rendle et al., "BPR: Bayesian
    Personalized Ranking from Implicit Feedback", UAI 2009):

    .. math::
        \hat{y}_{ui} = \mathbf{e}_u^\top \mathbf{e}_i

    with free embeddings ``E_U`` ``(U, d)`` and ``E_I`` ``(I, d)``, trained on
    ``bpr_loss + λ · ½(‖e_u‖² + ‖e_i‖² + ‖e_j‖²)/B`` per batch
    (:meth:`~gnnkit.nn.recsys.bpr.BPRRecommender.bpr_objective`). It is LightGCN with zero
    layers: ``LightGCN(U, I, d, num_layers=0)`` with the same tables gives the same scores.
    The graph argument of :meth:`forward` is accepted and ignored, so a training loop treats
    both models alike.

    Shapes: ``model()`` → ``(E_U (U, d), E_I (I, d))``.

    Parity with LightGCN-PyTorch's ``PureMF`` (the MF of its ``--model mf``): same score,
    loss and regulariser. ``PureMF`` keeps PyTorch's default ``N(0, 1)`` initialisation of
    ``nn.Embedding``; the default here is ``init_std = 0.1``, the initialisation of its
    LightGCN (pass ``init_std=1.0`` for ``PureMF``'s). The paper's MF numbers (Table 4) are
    taken from NGCF (Wang et al., SIGIR 2019), trained with its TensorFlow code.

    Args:
        num_users, num_items: ``U``, ``I``.
        embedding_dim: ``d`` (64 in the paper).
        init_std: standard deviation of the normal initialisation.
    """
