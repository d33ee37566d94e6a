"""Set-based sub-token F1 for sequence prediction (ogbg-code2's method-name task)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

__all__ = ["subtoken_f1"]


def _checked_sequences(value: object, name: str) -> list[Sequence[Hashable]]:
    if not isinstance(value, list):
        raise TypeError(f"{name} must be a list of token sequences, got {type(value).__name__}")
    for index, tokens in enumerate(value):
        if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
            raise TypeError(
                f"{name}[{index}] must be a list of tokens, got {type(tokens).__name__}"
            )
    return value


def subtoken_f1(
    seq_ref: list[Sequence[Hashable]], seq_pred: list[Sequence[Hashable]]
) -> dict[str, float]:
    """Precision, recall and F1 of predicted sub-token *sets*, averaged over samples.

    For sample ``i`` with reference set ``R_i`` and predicted set ``S_i`` (order and
    repetitions ignored)::

        P_i = |R_i ∩ S_i| / |S_i|        (0 if S_i is empty)
        R_i = |R_i ∩ S_i| / |R_i|        (0 if R_i is empty)
        F1_i = 2 P_i R_i / (P_i + R_i)   (0 if P_i + R_i = 0)

    and each output is the mean over samples (OGB's ``F1`` evaluator for ogbg-code2).

    Args:
        seq_ref: reference sub-token lists, one per sample.
        seq_pred: predicted sub-token lists, same length.

    Returns:
        ``{"precision": ..., "recall": ..., "F1": ...}``.
    """
    references = _checked_sequences(seq_ref, "seq_ref")
    predictions = _checked_sequences(seq_pred, "seq_pred")
    if len(references) != len(predictions):
        raise ValueError(
            f"seq_ref and seq_pred must have the same length, got {len(references)} and "
            f"{len(predictions)}"
        )
    if not references:
        raise ValueError("seq_ref and seq_pred are empty: F1 is undefined")
    precision_sum = recall_sum = f1_sum = 0.0
    for reference, prediction in zip(references, predictions, strict=True):
        wanted, predicted = set(reference), set(prediction)
        correct = len(wanted & predicted)
        precision = correct / len(predicted) if predicted else 0.0
        recall = correct / len(wanted) if wanted else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        precision_sum += precision
        recall_sum += recall
        f1_sum += f1
    count = len(references)
    return {"precision": precision_sum / count, "recall": recall_sum / count, "F1": f1_sum / count}
