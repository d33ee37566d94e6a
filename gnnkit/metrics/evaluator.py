"""``Evaluator``: a drop-in, dependency-free replacement for ``ogb``'s three evaluators.

``Evaluator(name)`` accepts every official OGB node, link and graph property-prediction
dataset name and takes the same ``input_dict`` and returns the same output dictionary as
``ogb.{nodeproppred,linkproppred,graphproppred}.Evaluator(name).eval`` — same keys, same
values (to floating-point rounding), same container types: Python floats for scalar metrics,
and for MRR datasets float32 per-edge lists as torch tensors (torch input) or numpy arrays
(numpy input). See ``docs/metrics.md`` for the compatibility statement and the deliberate
differences (all on inputs OGB mishandles).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gnnkit._ogb_master import OGBDatasetInfo, ogb_dataset_info

from ._validation import as_tensor
from .classification import accuracy, average_precision, link_roc_auc, roc_auc
from .ranking import hits_at_k, link_ranks
from .regression import rmse
from .sequence import subtoken_f1

__all__ = ["Evaluator", "EvaluatorInputError"]

_MRR_HITS = (1, 3, 10)


class EvaluatorInputError(TypeError, ValueError, RuntimeError):
    """A malformed ``input_dict`` given to :meth:`Evaluator.eval`.

    It is a ``ValueError``/``TypeError`` (gnnkit's convention) and also a ``RuntimeError``,
    which is what ``ogb`` raises for the same mistakes, so handlers written for either work.
    """


def _table_metric(eval_metric: str) -> str:
    return "hits" if eval_metric.startswith("hits@") else eval_metric


class Evaluator:
    """OGB-compatible evaluator for one dataset.

    Example::

        evaluator = Evaluator("ogbg-molhiv")
        evaluator.eval({"y_true": y_true, "y_pred": y_pred})  # {"rocauc": 0.78...}

    Attributes:
        name: the dataset name.
        eval_metric: OGB's metric id (``"rocauc"``, ``"ap"``, ``"acc"``, ``"rmse"``, ``"F1"``,
            ``"mrr"``, ``"hits@K"``).
        num_tasks: number of tasks (``None`` for link datasets).
        K: the cut-off of ``hits@K`` datasets (only set for those, as in ``ogb``).
        info: the full :class:`~gnnkit.metrics.OGBDatasetInfo`.
    """

    def __init__(self, name: str) -> None:
        info = ogb_dataset_info(name)
        self.info: OGBDatasetInfo = info
        self.name: str = info.name
        self.eval_metric: str = info.eval_metric
        self.num_tasks: int | None = info.num_tasks
        if info.hits_k is not None:
            self.K: int = info.hits_k

    def __repr__(self) -> str:
        return f"Evaluator(name={self.name!r}, eval_metric={self.eval_metric!r})"

    # ----------------------------------------------------------------------- formats

    @property
    def expected_input_format(self) -> str:
        """Human-readable description of the ``input_dict`` that :meth:`eval` expects."""
        head = f"==== Expected input format of Evaluator for {self.name}\n"
        metric = _table_metric(self.eval_metric)
        unit = self.info.level  # "node" or "graph" where used
        if metric == "F1":
            return head + (
                "{'seq_ref': seq_ref, 'seq_pred': seq_pred}\n"
                "- seq_ref: list of lists of str, the reference sub-token sequences\n"
                "- seq_pred: list of lists of str, the predicted sub-token sequences\n"
                "Both lists have one entry per graph; order and repetitions are ignored.\n"
            )
        if self.info.level in ("node", "graph"):
            what = {
                "rocauc": "scores (higher = positive) for ROC-AUC",
                "ap": "scores (higher = positive) for average precision",
                "rmse": "predicted real values",
                "acc": "predicted class labels (integers)",
            }[metric]
            text = (
                "{'y_true': y_true, 'y_pred': y_pred}\n"
                f"- y_true: numpy ndarray or torch tensor of shape (num_{unit}s, num_tasks)\n"
                f"- y_pred: numpy ndarray or torch tensor of shape (num_{unit}s, num_tasks)\n"
                f"where y_pred holds {what}, num_tasks is {self.num_tasks}, and each row is "
                f"one {unit}.\n"
            )
            if metric in ("rocauc", "ap", "rmse") and self.info.level == "graph":
                text += "NaN entries of y_true are unlabelled and ignored.\n"
            return head + text
        negatives = (
            "(num_edges, num_negatives_per_edge); row i holds the negatives of positive i"
            if metric == "mrr"
            else "(num_negative_edges,), shared by all positives"
        )
        return head + (
            "{'y_pred_pos': y_pred_pos, 'y_pred_neg': y_pred_neg}\n"
            "- y_pred_pos: numpy ndarray or torch tensor of shape (num_edges,), the scores of "
            "the positive edges\n"
            f"- y_pred_neg: numpy ndarray or torch tensor of shape {negatives}\n"
            "Higher scores mean more likely edges.\n"
        )

    @property
    def expected_output_format(self) -> str:
        """Human-readable description of the dictionary :meth:`eval` returns."""
        head = f"==== Expected output format of Evaluator for {self.name}\n"
        metric = _table_metric(self.eval_metric)
        if metric == "hits":
            return head + (
                f"{{'hits@{self.K}': hits@{self.K}}}\n"
                f"- hits@{self.K} (float): fraction of positive edges whose score is strictly "
                f"greater than the K-th highest negative score (K = {self.K})\n"
            )
        if metric == "mrr":
            return head + (
                "{'hits@1_list': hits@1_list, 'hits@3_list': hits@3_list, "
                "'hits@10_list': hits@10_list, 'mrr_list': mrr_list}\n"
                "- mrr_list: float32 per-edge reciprocal ranks\n"
                "- hits@K_list: float32 per-edge indicators rank <= K, for K = 1, 3, 10\n"
                "The i-th entry belongs to the i-th positive edge; torch tensors for torch input, "
                "numpy arrays for numpy input. Concatenate over batches and take the mean.\n"
            )
        if metric == "F1":
            return head + (
                "{'precision': precision, 'recall': recall, 'F1': F1}\n"
                "- each (float): the set-based sub-token score averaged over graphs\n"
            )
        if self.info.level == "link":  # rocauc on ogbl-vessel
            return head + "{'rocauc': rocauc}\n- rocauc (float): ROC-AUC of positive vs negative\n"
        description = {
            "rocauc": "ROC-AUC",
            "ap": "average precision (AP)",
            "rmse": "root mean squared error",
            "acc": "accuracy",
        }[metric]
        return head + (
            f"{{'{metric}': {metric}}}\n"
            f"- {metric} (float): {description} averaged across {self.num_tasks} task(s)\n"
        )

    # ----------------------------------------------------------------------- evaluation

    def eval(self, input_dict: Mapping[str, Any]) -> dict[str, Any]:
        """Evaluate predictions given in OGB's ``input_dict`` format (see
        :attr:`expected_input_format`) and return OGB's output dictionary.

        Raises:
            EvaluatorInputError: missing keys, wrong types or shapes (naming the key), or
                a metric that is undefined for the given labels.
        """
        if not isinstance(input_dict, Mapping):
            raise EvaluatorInputError(f"input_dict must be a dict, got {type(input_dict).__name__}")
        metric = _table_metric(self.eval_metric)
        try:
            if metric == "F1":
                return self._eval_f1(input_dict)
            if self.info.level == "link":
                return self._eval_link(input_dict, metric)
            return self._eval_table(input_dict, metric)
        except EvaluatorInputError:
            raise
        except (TypeError, ValueError) as error:
            raise EvaluatorInputError(f"{self.name}: {error}") from error

    def _require(self, input_dict: Mapping[str, Any], key: str) -> Any:
        if key not in input_dict:
            raise EvaluatorInputError(
                f"input_dict is missing key {key!r} (keys given: {sorted(map(str, input_dict))})"
                f"; see Evaluator({self.name!r}).expected_input_format"
            )
        return input_dict[key]

    @staticmethod
    def _array(value: Any, key: str) -> Tensor:
        if not isinstance(value, (Tensor, np.ndarray)):
            raise EvaluatorInputError(
                f"input_dict[{key!r}] must be a numpy ndarray or a torch tensor, got "
                f"{type(value).__name__}"
            )
        return as_tensor(value, f"input_dict[{key!r}]")

    def _eval_table(self, input_dict: Mapping[str, Any], metric: str) -> dict[str, Any]:
        y_true = self._array(self._require(input_dict, "y_true"), "y_true")
        y_pred = self._array(self._require(input_dict, "y_pred"), "y_pred")
        if y_true.shape != y_pred.shape:
            raise EvaluatorInputError(
                f"input_dict['y_true'] and input_dict['y_pred'] must have the same shape, got "
                f"{tuple(y_true.shape)} and {tuple(y_pred.shape)}"
            )
        if y_true.dim() != 2:
            raise EvaluatorInputError(
                f"input_dict['y_true'] and input_dict['y_pred'] must be 2-D "
                f"(num_rows, num_tasks), got {y_true.dim()}-D shape {tuple(y_true.shape)}"
            )
        if y_true.shape[1] != self.num_tasks:
            raise EvaluatorInputError(
                f"{self.name} has {self.num_tasks} task(s) but input_dict['y_true'] has "
                f"{y_true.shape[1]} columns"
            )
        compute = {"rocauc": roc_auc, "ap": average_precision, "rmse": rmse, "acc": accuracy}
        return {metric: compute[metric](y_true, y_pred)}

    def _eval_link(self, input_dict: Mapping[str, Any], metric: str) -> dict[str, Any]:
        raw_pos = self._require(input_dict, "y_pred_pos")
        raw_neg = self._require(input_dict, "y_pred_neg")
        y_pred_pos = self._array(raw_pos, "y_pred_pos")
        y_pred_neg = self._array(raw_neg, "y_pred_neg")
        as_torch = isinstance(raw_pos, Tensor) or isinstance(raw_neg, Tensor)
        if y_pred_pos.dim() != 1:
            raise EvaluatorInputError(
                f"input_dict['y_pred_pos'] must be 1-D (num_edges,), got {y_pred_pos.dim()}-D "
                f"shape {tuple(y_pred_pos.shape)}"
            )
        expected_neg_dim = 2 if metric == "mrr" else 1
        if y_pred_neg.dim() != expected_neg_dim:
            raise EvaluatorInputError(
                f"input_dict['y_pred_neg'] must be {expected_neg_dim}-D for {self.name}, got "
                f"{y_pred_neg.dim()}-D shape {tuple(y_pred_neg.shape)}"
            )
        if metric == "hits":
            return {f"hits@{self.K}": hits_at_k(y_pred_pos, y_pred_neg, self.K)}
        if metric == "rocauc":
            return {"rocauc": link_roc_auc(y_pred_pos, y_pred_neg)}
        # MRR family: float32 per-edge lists, as OGB returns them.
        ranks = link_ranks(y_pred_pos, y_pred_neg).to(torch.float32)
        lists: dict[str, Tensor] = {
            f"hits@{k}_list": (ranks <= k).to(torch.float32) for k in _MRR_HITS
        }
        lists["mrr_list"] = 1.0 / ranks
        if as_torch:
            return dict(lists)
        return {key: value.cpu().numpy() for key, value in lists.items()}

    def _eval_f1(self, input_dict: Mapping[str, Any]) -> dict[str, Any]:
        seq_ref = self._require(input_dict, "seq_ref")
        seq_pred = self._require(input_dict, "seq_pred")
        for key, value in (("seq_ref", seq_ref), ("seq_pred", seq_pred)):
            if not isinstance(value, list):
                raise EvaluatorInputError(
                    f"input_dict[{key!r}] must be a list of lists of str, got "
                    f"{type(value).__name__}"
                )
        return subtoken_f1(seq_ref, seq_pred)
