"""The one model registry: every model a configuration (e.g. a benchmark file) can name.

An entry (:class:`ModelEntry`) declares the model's name, the task(s) it serves, its
configuration keys with their types and defaults (:class:`ModelOption`), and a builder. A
configuration is a flat mapping ``{"name": "gcn", "hidden_channels": 64, …}``;
:func:`model_config` validates it completely — unknown name, unknown key, wrong type or a
value outside the allowed choices raise :class:`ModelConfigError` naming the key, the value
and what is allowed — so a configuration can be checked when it is read, long before a model
is built::

    from gnnkit.models import build_model, model_config

    model_config({"name": "gcn", "hidden": 8}, task="node_classification")
    # ModelConfigError: unknown model key(s) ['hidden'] for model 'gcn'; allowed: [...]
    model = build_model({"name": "gcn"}, task="node_classification", in_channels=1433,
                        num_classes=7)

Builders take the validated configuration (every key present) and the task's inputs as
keyword arguments:

* ``node_classification``: ``in_channels``, ``num_classes`` → a module
  ``model(x, graph) → (N, C)`` logits;
* ``link_prediction``: ``in_channels`` (0 for featureless graphs), ``num_nodes`` →
  ``(encoder, predictor)`` with ``encoder(x, A) → h`` and ``predictor(h, A, pairs) → logits``.
* ``graph_classification`` and ``graph_property``: ``in_channels``, ``out_channels``,
  ``edge_channels`` → a module ``model(batch) → (G, out_channels)`` taking a
  :class:`gnnkit.data.GraphBatch` (logits or regression outputs, one row per graph).
  ``in_channels`` is the number of columns of ``batch.x`` — for categorical features (atom
  ids) the number of categorical columns, e.g. 9 for ``ogbg-mol*``, 1 for ZINC;
  ``edge_channels`` the number of columns of ``batch.edge_attr`` (a ``(E,)`` vector counts
  as 1; 0 when the graphs have no edge features). Builders of models that use no edge
  features accept and ignore ``edge_channels``.
* ``recommendation``: ``num_users``, ``num_items`` → a
  :class:`gnnkit.nn.recsys.BPRRecommender`: ``model(graph) → (users (U, d), items (I, d))``
  final embeddings on the ``U × I`` training matrix (ignored by models that do not
  propagate) and ``model.objective(users, positives, negatives, graph) → (loss, penalty)``
  (:mod:`gnnkit.train.recommendation`).

Registered: ``gcn``, ``gat``, ``sage``, ``nsd-diag``, ``nsd-bundle``, ``nsd-general`` (node
classification; NSD's reference-code flags in the help); ``ncn``, ``ncnc``, ``gae``, ``gae-dot``
(link prediction, the official NCN code's flag is named in each key's help); ``gin``
(graph classification and graph property; the flags of Xu et al.'s official code in the
help), ``gine`` (graph property and graph classification; the flags of OGB's molecule
example, or the ``GNN`` argument where it has no flag, in the help); ``swl`` (graph property
and graph classification; SSWL, SSWL+, PSWL, GSWL, the official SWL code's flags in the
help); ``ds``, ``dss`` (graph property and graph classification; ESAN's DS-GNN and DSS-GNN,
the flags of beabevi/ESAN in the help); ``mf-bpr``,
``lightgcn`` (recommendation; LightGCN-PyTorch's flags in the help), ``ultragcn``
(recommendation; the keys of the official configuration files in the help).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import nn

from gnnkit.nn.encoders import EDGE_ENCODERS, NODE_ENCODERS
from gnnkit.nn.linkpred import (
    ENCODER_CONVS,
    NCN_VARIANTS,
    DotProductScorer,
    HadamardMLPScorer,
    LinkEncoder,
    NCNCPredictor,
    NCNPredictor,
)

from .gat import GAT
from .gcn import GCN
from .gin import GIN, GIN_GRAPH_POOLINGS, GIN_NEIGHBOR_POOLINGS, GIN_NODE_ENCODERS
from .gine import GINE, GINE_GRAPH_POOLINGS, GINE_JK
from .nsd import NSD
from .sage import SAGE

__all__ = [
    "MODELS",
    "ModelConfigError",
    "ModelEntry",
    "ModelOption",
    "build_model",
    "get_model",
    "model_config",
    "model_names",
    "register_model",
]


class ModelConfigError(ValueError):
    """A model configuration names an unknown model or key, or a value of the wrong type.

    ``key`` is the offending key (``"name"`` for an unknown model).
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


@dataclass(frozen=True)
class ModelOption:
    """One configuration key of a model.

    Attributes:
        default: the value when the key is absent (``None``: unset, e.g. "no cap").
        kind: ``bool``, ``int``, ``float`` or ``str``; an ``int`` is accepted for a ``float``
            (and converted), a ``bool`` is never accepted for a number.
        choices: the allowed values, if restricted.
        help: what the key does.
    """

    default: Any
    kind: type
    help: str = ""
    choices: tuple[Any, ...] | None = None

    def check(self, key: str, value: Any, where: str = "model") -> Any:
        """``value`` converted to :attr:`kind`, or :class:`ModelConfigError`."""
        if value is None and self.default is None:
            return None
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.kind) or (isinstance(value, bool)
                                                and self.kind is not bool):
            raise ModelConfigError(key, f"{where}.{key} must be {self.kind.__name__}, "
                                        f"got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ModelConfigError(key, f"{where}.{key} must be one of {list(self.choices)}, "
                                        f"got {value!r}")
        return value


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its name, tasks, configuration keys and builder."""

    name: str
    tasks: tuple[str, ...]
    options: Mapping[str, ModelOption]
    builder: Callable[..., Any]
    description: str = ""
    defaults: Mapping[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if "name" in self.options:
            raise ValueError(f"model {self.name!r}: 'name' is reserved, not an option")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "defaults", MappingProxyType(
            {key: option.default for key, option in self.options.items()}))

    def config(self, values: Mapping[str, Any], where: str = "model") -> dict[str, Any]:
        """Validate ``values`` (``name`` optional) and fill in the defaults."""
        unknown = sorted(set(values) - set(self.options) - {"name"})
        if unknown:
            raise ModelConfigError(unknown[0], f"unknown {where} key(s) {unknown} for model "
                                               f"{self.name!r}; allowed: "
                                               f"{sorted(self.options)}")
        config: dict[str, Any] = {"name": self.name}
        for key, option in self.options.items():
            config[key] = option.check(key, values[key], where) if key in values \
                else option.default
        return config


#: name → entry; extend with :func:`register_model`
MODELS: dict[str, ModelEntry] = {}


def register_model(entry: ModelEntry) -> ModelEntry:
    """Add ``entry`` to :data:`MODELS` (names are unique)."""
    if entry.name in MODELS:
        raise ValueError(f"model {entry.name!r} is already registered")
    MODELS[entry.name] = entry
    return entry


def model_names(task: str | None = None) -> tuple[str, ...]:
    """Registered model names (serving ``task``, if given), sorted."""
    return tuple(sorted(name for name, entry in MODELS.items()
                        if task is None or task in entry.tasks))


def get_model(name: object, task: str | None = None, where: str = "model") -> ModelEntry:
    """The entry called ``name`` (that serves ``task``, if given)."""
    allowed = model_names(task)
    if not isinstance(name, str) or name not in allowed:
        scope = f" for task {task!r}" if task is not None else ""
        raise ModelConfigError("name", f"{where}.name must be one of {list(allowed)}{scope}, "
                                       f"got {name!r}")
    return MODELS[name]


def model_config(values: Mapping[str, Any], task: str | None = None,
                 where: str = "model") -> dict[str, Any]:
    """The complete, validated configuration of ``values`` (which must have ``name``);
    ``where`` prefixes keys in error messages (``model.hidden_channels``)."""
    if "name" not in values:
        raise ModelConfigError("name", f"missing key {where}.name; one of "
                                       f"{list(model_names(task))}")
    return get_model(values["name"], task, where).config(values, where)


def build_model(values: Mapping[str, Any], task: str | None = None, **inputs: Any) -> Any:
    """Validate ``values`` and build the model with the task's ``inputs`` (see the module
    docstring: ``in_channels``/``num_classes`` or ``in_channels``/``num_nodes``)."""
    config = model_config(values, task)
    return MODELS[config["name"]].builder(config, **inputs)


# ---------------------------------------------------------------------------- node models
NODE = ("node_classification",)
LINK = ("link_prediction",)


def _gcn(c: Mapping[str, Any], *, in_channels: int, num_classes: int) -> nn.Module:
    return GCN(in_channels, c["hidden_channels"], num_classes, num_layers=c["num_layers"],
               dropout=c["dropout"], bias=c["bias"], cached=c["cached"])


def _gat(c: Mapping[str, Any], *, in_channels: int, num_classes: int) -> nn.Module:
    return GAT(in_channels, c["hidden_channels"], num_classes, heads=c["heads"],
               output_heads=c["output_heads"], dropout=c["dropout"],
               attention_dropout=c["attention_dropout"],
               projection_dropout=c["projection_dropout"])


register_model(ModelEntry("gcn", NODE, {
    "hidden_channels": ModelOption(16, int, "width of the hidden layers"),
    "num_layers": ModelOption(2, int, "graph convolutions"),
    "dropout": ModelOption(0.5, float, "feature dropout before every layer"),
    "bias": ModelOption(True, bool, "learnable bias per layer"),
    "cached": ModelOption(True, bool, "normalise the adjacency once and reuse it (full-graph "
                                      "training on one fixed graph)"),
}, _gcn, "Kipf & Welling's GCN (gnnkit.models.GCN)"))

register_model(ModelEntry("gat", NODE, {
    "hidden_channels": ModelOption(8, int, "features per head in the hidden layer"),
    "heads": ModelOption(8, int, "attention heads of the hidden layer"),
    "output_heads": ModelOption(1, int, "heads of the output layer (averaged)"),
    "dropout": ModelOption(0.6, float, "feature dropout"),
    "attention_dropout": ModelOption(0.6, float, "dropout on attention coefficients"),
    "projection_dropout": ModelOption(0.0, float, "dropout on each head's projected features "
                                      "before aggregation (the reference code's, = dropout "
                                      "there; 0 = the paper's text)"),
}, _gat, "Veličković et al.'s GAT (gnnkit.models.GAT)"))


def _sage(c: Mapping[str, Any], *, in_channels: int, num_classes: int) -> nn.Module:
    return SAGE(in_channels, c["hidden_channels"], num_classes, num_layers=c["num_layers"],
                dropout=c["dropout"], aggr=c["aggr"], normalize=c["normalize"])


register_model(ModelEntry("sage", NODE, {
    "hidden_channels": ModelOption(256, int, "width of the hidden layers (256 in the paper)"),
    "num_layers": ModelOption(2, int, "SAGE layers (K = 2 in the paper; one sampled hop each)"),
    "dropout": ModelOption(0.5, float, "dropout on every layer's input"),
    "aggr": ModelOption("mean", str, "neighbourhood aggregation",
                        choices=("mean", "max", "sum")),
    "normalize": ModelOption(False, bool, "L2-normalise hidden representations"),
}, _sage, "Hamilton et al.'s GraphSAGE (gnnkit.models.sage.SAGE); trains full-batch or on "
          "sampled mini-batches"))


def _nsd(sheaf: str) -> Callable[..., nn.Module]:
    def build(c: Mapping[str, Any], *, in_channels: int, num_classes: int) -> nn.Module:
        extra = ({"orthogonal": c["orthogonal"], "edge_weights": c["edge_weights"]}
                 if sheaf == "bundle" else {})
        return NSD(in_channels, c["hidden_channels"], num_classes, sheaf=sheaf, d=c["d"],
                   num_layers=c["num_layers"], dropout=c["dropout"],
                   input_dropout=c["input_dropout"], left_weights=c["left_weights"],
                   right_weights=c["right_weights"], activation=c["activation"],
                   second_linear=c["second_linear"], sheaf_activation=c["sheaf_activation"],
                   stalk_sum_learner=c["stalk_sum_learner"],
                   official_layout=c["official_layout"],
                   reuse_laplacian=c["reuse_laplacian"],
                   graph_laplacian_channel=c["graph_laplacian_channel"],
                   signless_laplacian_channel=c["signless_laplacian_channel"], **extra)
    return build


_NSD = {
    "d": ModelOption(2, int, "learnt stalk dimension (--d)"),
    "hidden_channels": ModelOption(20, int, "channels per stalk dimension; hidden width = "
                                            "stalk dimension × this (--hidden_channels)"),
    "num_layers": ModelOption(2, int, "sheaf diffusion layers (--layers)"),
    "dropout": ModelOption(0.0, float, "dropout in the layers and after the encoder "
                                       "(--dropout)"),
    "input_dropout": ModelOption(0.0, float, "dropout on the input features "
                                             "(--input_dropout)"),
    "left_weights": ModelOption(True, bool, "learnt stalk mixing per layer (--left_weights)"),
    "right_weights": ModelOption(True, bool, "learnt channel mixing per layer "
                                             "(--right_weights)"),
    "activation": ModelOption(True, bool, "ELU after the encoder and the diffusion "
                                          "(--use_act)"),
    "second_linear": ModelOption(False, bool, "second encoder layer (--second_linear)"),
    "sheaf_activation": ModelOption("tanh", str, "activation of the learnt maps (--sheaf_act)",
                                    ("tanh", "id", "elu")),
    "stalk_sum_learner": ModelOption(False, bool, "sheaf learner summing over the stalk "
                                                  "dimension first (--sparse_learner)"),
    "official_layout": ModelOption(True, bool, "stalk-sum learner reshaped exactly as the "
                                               "reference code (see StalkSumSheafLearner)"),
    "reuse_laplacian": ModelOption(False, bool, "learn the sheaf at the first layer only "
                                                "(--linear)"),
    "graph_laplacian_channel": ModelOption(False, bool, "fixed stalk channel with the graph "
                                           "Laplacian D - A (--add_hp; its help says the "
                                           "opposite)"),
    "signless_laplacian_channel": ModelOption(False, bool, "fixed stalk channel with the "
                                              "signless Laplacian D + A (--add_lp; its help "
                                              "says the opposite)"),
}

register_model(ModelEntry("nsd-diag", NODE, dict(_NSD), _nsd("diag"),
                          "Bodnar et al.'s Diag-NSD: diagonal restriction maps "
                          "(gnnkit.models.NSD)"))
register_model(ModelEntry("nsd-bundle", NODE, {
    **_NSD,
    "orthogonal": ModelOption("householder", str, "parametrisation of O(d) (--orth)",
                              ("householder", "cayley", "matrix_exp", "euler")),
    "edge_weights": ModelOption(True, bool, "learnt edge weights (--edge_weights)"),
}, _nsd("bundle"), "Bodnar et al.'s O(d)-NSD: orthogonal restriction maps "
                   "(gnnkit.models.NSD)"))
register_model(ModelEntry("nsd-general", NODE, dict(_NSD), _nsd("general"),
                          "Bodnar et al.'s Gen-NSD: general d × d restriction maps "
                          "(gnnkit.models.NSD)"))


# ---------------------------------------------------------------------------- link models
_ENCODER = {
    "encoder": ModelOption("puregcn", str, "message-passing layer (--model)", ENCODER_CONVS),
    "hidden_channels": ModelOption(256, int, "width of h (--hiddim)"),
    "num_layers": ModelOption(1, int, "message-passing layers (--mplayers)"),
    "dropout": ModelOption(0.0, float, "dropout between layers (--gnndp)"),
    "input_dropout": ModelOption(0.0, float, "dropout on the input features (--xdp)"),
    "tail_dropout": ModelOption(0.0, float, "dropout after the last layer (--tdp)"),
    "encoder_edge_dropout": ModelOption(0.0, float, "edge dropout in the encoder (--gnnedp)"),
    "layer_norm": ModelOption(False, bool, "layer norm in the encoder (--ln)"),
    "residual": ModelOption(False, bool, "residual connections (--res)"),
    "jumping_knowledge": ModelOption(False, bool, "sum of all layers' outputs (--jk)"),
    "node_embedding": ModelOption(False, bool, "learnt node-id embeddings for featureless "
                                               "graphs (ogbl-ddi)"),
}
_GAE = {
    "mlp_layers": ModelOption(3, int, "layers of the scorer MLP (--nnlayers)"),
    "predictor_dropout": ModelOption(0.0, float, "dropout in the scorer (--predp)"),
    "predictor_layer_norm": ModelOption(False, bool, "layer norm in the scorer (--lnnn)"),
}
_NCN = {
    "variant": ModelOption("ncn", str, "predictor variant (--predictor cn1 / scn1 / cn1.5 / "
                                       "cn1res)", NCN_VARIANTS),
    "predictor_dropout": ModelOption(0.0, float, "dropout in the predictor (--predp)"),
    "predictor_edge_dropout": ModelOption(0.0, float, "edge dropout in the predictor "
                                                      "(--preedp)"),
    "predictor_layer_norm": ModelOption(False, bool, "layer norm in the predictor (--lnnn)"),
    "node_mlp": ModelOption(False, bool, "MLP on h before pooling (--use_xlin)"),
    "tail_activation": ModelOption(False, bool, "activation after the MLP (--tailact)"),
    "two_layer_head": ModelOption(False, bool, "two-layer head (--twolayerlin)"),
    "beta": ModelOption(1.0, float, "weight of the pair term (--beta)"),
}
_NCNC = {
    **_NCN,
    "depth": ModelOption(1, int, "completion depth (--depth)"),
    "scale": ModelOption(5.0, float, "probability calibration scale (--probscale)"),
    "offset": ModelOption(3.0, float, "probability calibration offset (--proboffset)"),
    "pt": ModelOption(0.5, float, "completion threshold (--pt)"),
    "alpha": ModelOption(1.0, float, "weight of completed neighbours (--alpha)"),
    "learnable_pt": ModelOption(False, bool, "learn pt (--learnpt)"),
    "train_max_candidates": ModelOption(None, int, "cap on candidates in training (--trndeg)"),
    "test_max_candidates": ModelOption(None, int, "cap on candidates at test (--tstdeg)"),
    "chunk_size": ModelOption(None, int, "pairs per completion chunk (--splitsize)"),
    "official_recursion": ModelOption(True, bool, "score candidates as the official code does "
                                                  "(see docs/linkpred.md)"),
}
_NCN_ARGS = {"variant": "variant", "predictor_dropout": "dropout",
             "predictor_edge_dropout": "edge_dropout", "predictor_layer_norm": "layer_norm",
             "node_mlp": "node_mlp", "tail_activation": "tail_activation",
             "two_layer_head": "two_layer_head", "beta": "beta"}


def _encoder(c: Mapping[str, Any], in_channels: int, num_nodes: int) -> LinkEncoder:
    return LinkEncoder(
        in_channels, c["hidden_channels"], c["num_layers"], conv=c["encoder"],
        dropout=c["dropout"], input_dropout=c["input_dropout"], tail_dropout=c["tail_dropout"],
        edge_dropout=c["encoder_edge_dropout"], layer_norm=c["layer_norm"],
        residual=c["residual"], jumping_knowledge=c["jumping_knowledge"],
        num_embeddings=num_nodes if c["node_embedding"] else None,
    )


def _predictor_options(c: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {_NCN_ARGS.get(key, key): c[key] for key in keys}


def _ncn(c: Mapping[str, Any], *, in_channels: int, num_nodes: int
         ) -> tuple[LinkEncoder, nn.Module]:
    hidden = c["hidden_channels"]
    return (_encoder(c, in_channels, num_nodes),
            NCNPredictor(hidden, hidden, **_predictor_options(c, _NCN)))


def _ncnc(c: Mapping[str, Any], *, in_channels: int, num_nodes: int
          ) -> tuple[LinkEncoder, nn.Module]:
    hidden = c["hidden_channels"]
    return (_encoder(c, in_channels, num_nodes),
            NCNCPredictor(hidden, hidden, **_predictor_options(c, _NCNC)))


def _gae(c: Mapping[str, Any], *, in_channels: int, num_nodes: int
         ) -> tuple[LinkEncoder, nn.Module]:
    hidden = c["hidden_channels"]
    return (_encoder(c, in_channels, num_nodes),
            HadamardMLPScorer(hidden, hidden, c["mlp_layers"], dropout=c["predictor_dropout"],
                              layer_norm=c["predictor_layer_norm"]))


def _gae_dot(c: Mapping[str, Any], *, in_channels: int, num_nodes: int
             ) -> tuple[LinkEncoder, nn.Module]:
    return _encoder(c, in_channels, num_nodes), DotProductScorer()


register_model(ModelEntry("ncn", LINK, {**_ENCODER, **_NCN}, _ncn,
                          "LinkEncoder + Neural Common Neighbor predictor"))
register_model(ModelEntry("ncnc", LINK, {**_ENCODER, **_NCNC}, _ncnc,
                          "LinkEncoder + NCN with common-neighbour completion"))
register_model(ModelEntry("gae", LINK, {**_ENCODER, **_GAE}, _gae,
                          "LinkEncoder + MLP on h_i ⊙ h_j"))
register_model(ModelEntry("gae-dot", LINK, dict(_ENCODER), _gae_dot,
                          "LinkEncoder + dot product h_i · h_j"))


# --------------------------------------------------------------------------- graph models
GRAPH = ("graph_classification", "graph_property")


def _gin(c: Mapping[str, Any], *, in_channels: int, out_channels: int,
         edge_channels: int) -> nn.Module:
    del edge_channels  # GIN reads node features only
    return GIN(in_channels, c["hidden_channels"], out_channels, num_layers=c["num_layers"],
               num_mlp_layers=c["num_mlp_layers"], final_dropout=c["final_dropout"],
               learn_eps=c["learn_eps"], graph_pooling=c["graph_pooling"],
               neighbor_pooling=c["neighbor_pooling"], node_encoder=c["node_encoder"])


def _gine(c: Mapping[str, Any], *, in_channels: int, out_channels: int,
          edge_channels: int) -> nn.Module:
    return GINE(in_channels, c["hidden_channels"], out_channels, num_layers=c["num_layers"],
                dropout=c["dropout"], jk=c["jk"], graph_pooling=c["graph_pooling"],
                residual=c["residual"], node_encoder=c["node_encoder"],
                edge_encoder=c["edge_encoder"],
                edge_channels=edge_channels if c["edge_encoder"] != "none" else None,
                last_activation=c["last_activation"], head_layers=c["head_layers"])


register_model(ModelEntry("gin", GRAPH, {
    "hidden_channels": ModelOption(64, int, "width of every GIN layer (--hidden_dim)"),
    "num_layers": ModelOption(5, int, "layers INCLUDING the input one: num_layers - 1 GIN "
                                      "layers, num_layers readouts (--num_layers)"),
    "num_mlp_layers": ModelOption(2, int, "linear layers in each GIN MLP; 1 = linear "
                                          "(--num_mlp_layers)"),
    "final_dropout": ModelOption(0.5, float, "dropout on every layer's score "
                                             "(--final_dropout)"),
    "learn_eps": ModelOption(False, bool, "learn ε (GIN-ε); off = GIN-0 (--learn_eps)"),
    "graph_pooling": ModelOption("sum", str, "readout over a graph's nodes; 'mean' is the "
                                 "official 'average' (--graph_pooling_type)",
                                 GIN_GRAPH_POOLINGS),
    "neighbor_pooling": ModelOption("sum", str, "aggregation over neighbours; 'mean' is the "
                                    "official 'average' (--neighbor_pooling_type)",
                                    GIN_NEIGHBOR_POOLINGS),
    "node_encoder": ModelOption("none", str, "'none': dense x as is (the official code, e.g. "
                                "one-hot labels); 'ogb-atom'/'zinc-atom': embed category ids "
                                "to hidden_channels first", GIN_NODE_ENCODERS),
}, _gin, "Xu et al.'s GIN graph classifier, readout of every layer (gnnkit.models.GIN)"))

register_model(ModelEntry("gine", GRAPH[::-1], {
    "hidden_channels": ModelOption(300, int, "width of every layer (--emb_dim)"),
    "num_layers": ModelOption(5, int, "message-passing layers (--num_layer)"),
    "dropout": ModelOption(0.5, float, "dropout after every layer (--drop_ratio)"),
    "jk": ModelOption("last", str, "node representation: last layer or sum of all (OGB's "
                                   "GNN(JK=...); main_pyg.py has no flag for it)", GINE_JK),
    "graph_pooling": ModelOption("mean", str, "readout over a graph's nodes (OGB's "
                                 "GNN(graph_pooling=...); no flag in main_pyg.py)",
                                 GINE_GRAPH_POOLINGS),
    "residual": ModelOption(False, bool, "residual connections between layers (OGB's "
                                         "GNN(residual=...); no flag in main_pyg.py)"),
    "node_encoder": ModelOption("ogb-atom", str, "encoder of x: OGB atom ids, ZINC atom "
                                "types, or a linear map of dense x", NODE_ENCODERS),
    "edge_encoder": ModelOption("ogb-bond", str, "encoder of edge_attr, one per layer: OGB bond "
                                "ids, ZINC bond types, a linear map of dense edge_attr, or "
                                "'none' (plain GIN messages)", EDGE_ENCODERS),
    "last_activation": ModelOption(False, bool, "ReLU after the last layer too (ESAN's "
                                                "zincgin; OGB removes it)"),
    "head_layers": ModelOption(1, int, "linear layers of the output head: 1 = OGB's "
                                       "graph_pred_linear, 2 = Linear(d, 2d)-ReLU-Linear "
                                       "(ESAN's final_layers)"),
}, _gine, "OGB's GIN molecule baseline with edge features (gnnkit.models.GINE)"))


def _swl(c: Mapping[str, Any], *, in_channels: int, out_channels: int,
         edge_channels: int) -> nn.Module:
    from .swl import SWL  # here, not at the top: the entry is self-contained

    return SWL(in_channels, c["hidden_channels"], out_channels, num_layers=c["num_layers"],
               variant=c["variant"], max_distance=c["max_distance"], pooling=c["pooling"],
               node_encoder=c["node_encoder"], edge_encoder=c["edge_encoder"],
               edge_channels=edge_channels if c["edge_encoder"] != "none" else None)


register_model(ModelEntry("swl", GRAPH[::-1], {
    "variant": ModelOption("sswl+", str, "aggregations of every layer: sswl = uL + vL, sswl+ = "
                           "uL + vL + vv, pswl = uL + vv, gswl = uL + vG (--model SSWL, SSWL_P, "
                           "PSWL_*, GSWL)", ("sswl", "sswl+", "pswl", "gswl")),
    "hidden_channels": ModelOption(96, int, "width of every layer (--dim_embed)"),
    "num_layers": ModelOption(6, int, "SWL layers before the readout layer (--num_layer)"),
    "max_distance": ModelOption(5, int, "clamp of the distance encoding d(u, v) (--max_dis)"),
    "pooling": ModelOption("uG", str, "readout: uG = vertex-subgraph pooling (main_zinc.py's "
                           "VS models), vG = subgraph-vertex pooling", ("uG", "vG")),
    "node_encoder": ModelOption("linear", str, "encoder of x: a linear map of dense x, ZINC "
                                "atom types or OGB atom ids", NODE_ENCODERS),
    "edge_encoder": ModelOption("none", str, "bond encoder of every local (uL, vL) block: ZINC "
                                "bond types, OGB bond ids, a linear map, or 'none'",
                                EDGE_ENCODERS),
}, _swl, "Zhang et al.'s subgraph WL networks SSWL/SSWL+/PSWL/GSWL (gnnkit.models.swl.SWL)"))


# ESAN's DS-GNN / DSS-GNN (gnnkit.models.esan); the keys' help names beabevi/ESAN's flags
_ESAN = {
    "hidden_channels": ModelOption(300, int, "width d of every layer (--emb_dim)"),
    "num_layers": ModelOption(5, int, "layers on the bag (--num_layer)"),
    "policy": ModelOption("edge_deleted", str, "bag of subgraphs (--policy)",
                          ("node_deleted", "edge_deleted", "ego_nets", "ego_nets_plus")),
    "num_hops": ModelOption(2, int, "ego-net depth k (--num_hops; data.py uses 3 on ZINC)"),
    "fraction": ModelOption(1.0, float, "share of each bag drawn per batch, 1 = full bag "
                                        "(--fraction)"),
    "votes": ModelOption(5, int, "subsamples averaged in evaluation when fraction < 1 "
                                 "(main.py's voting_times)"),
    "node_encoder": ModelOption("none", str, "encoder of x: 'none' feeds dense x as it is "
                                "(ESAN on TU/EXP), or ZINC atom types / OGB atom ids / linear",
                                ("none", *NODE_ENCODERS)),
    "edge_encoder": ModelOption("none", str, "bond embedding of every base GNN (zincgin / "
                                "OGB gin); 'none' = GIN without edge features (originalgin)",
                                EDGE_ENCODERS),
    "learn_eps": ModelOption(True, bool, "learn GIN's epsilon (zincgin, gin); false = "
                                         "originalgin's fixed 0"),
    "seed": ModelOption(None, int, "seed of the subsampling generator (unset: drawn from "
                                   "torch's seeded global generator)"),
}


def _esan_common(c: Mapping[str, Any], edge_channels: int) -> dict[str, Any]:
    return {"num_layers": c["num_layers"], "policy": c["policy"], "num_hops": c["num_hops"],
            "fraction": c["fraction"], "votes": c["votes"], "node_encoder": c["node_encoder"],
            "edge_encoder": c["edge_encoder"],
            "edge_channels": edge_channels if c["edge_encoder"] != "none" else None,
            "learn_eps": c["learn_eps"], "seed": c["seed"]}


def _ds(c: Mapping[str, Any], *, in_channels: int, out_channels: int,
        edge_channels: int) -> nn.Module:
    from .esan import DSGNN  # here, not at the top: the entry is self-contained

    return DSGNN(in_channels, c["hidden_channels"], out_channels, dropout=c["dropout"],
                 jk=c["jk"], subgraph_pooling=c["subgraph_pooling"],
                 deepsets_channels=(c["deepsets_channels"],) * c["deepsets_layers"],
                 invariant=c["invariant"], **_esan_common(c, edge_channels))


def _dss(c: Mapping[str, Any], *, in_channels: int, out_channels: int,
         edge_channels: int) -> nn.Module:
    from .esan import DSSGNN

    return DSSGNN(in_channels, c["hidden_channels"], out_channels, bag_reduce=c["bag_reduce"],
                  subgraph_pooling=c["subgraph_pooling"], **_esan_common(c, edge_channels))


register_model(ModelEntry("ds", GRAPH[::-1], {
    **_ESAN,
    "dropout": ModelOption(0.5, float, "dropout after every layer (--drop_ratio)"),
    "jk": ModelOption("last", str, "node representation: last layer or concatenation of all "
                                   "(--jk)", ("last", "concat")),
    "subgraph_pooling": ModelOption("sum", str, "readout of a subgraph's nodes (ESAN: sum for "
                                    "zincgin / originalgin, mean for OGB's gin)",
                                    ("sum", "mean")),
    "deepsets_channels": ModelOption(64, int, "width of every DeepSets layer (--channels)"),
    "deepsets_layers": ModelOption(2, int, "DeepSets layers (entries of --channels)"),
    "invariant": ModelOption(False, bool, "invariant DeepSets (ESAN on ZINC) instead of the "
                                          "equivariant one (ESAN elsewhere)"),
}, _ds, "ESAN's DS-GNN: a GNN per subgraph + DeepSets over the bag (gnnkit.models.esan.DSGNN)"))

register_model(ModelEntry("dss", GRAPH[::-1], {
    **_ESAN,
    "bag_reduce": ModelOption("mean", str, "aggregation over the bag of the information-"
                              "sharing branch (the reference code's mean)", ("mean", "sum")),
    "subgraph_pooling": ModelOption("mean", str, "readout of a subgraph's nodes (ESAN's DSS: "
                                    "mean)", ("sum", "mean")),
}, _dss, "ESAN's DSS-GNN: Siamese + information-sharing layers on the bag "
         "(gnnkit.models.esan.DSSGNN)"))


# --------------------------------------------------------------------------- recommenders
RECOMMENDATION = ("recommendation",)
_EMBEDDINGS = {
    "embedding_dim": ModelOption(64, int, "width d of the user and item embeddings "
                                          "(--recdim)"),
    "init_std": ModelOption(0.1, float, "standard deviation of the N(0, std²) initialisation "
                                        "(LightGCN's 0.1; LightGCN-PyTorch's PureMF keeps "
                                        "PyTorch's 1.0)"),
}


def _mf_bpr(c: Mapping[str, Any], *, num_users: int, num_items: int) -> nn.Module:
    from gnnkit.nn.recsys import MFBPR  # here, not at the top: the section is self-contained

    return MFBPR(num_users, num_items, c["embedding_dim"], init_std=c["init_std"])


def _lightgcn(c: Mapping[str, Any], *, num_users: int, num_items: int) -> nn.Module:
    from gnnkit.nn.recsys import LightGCN

    return LightGCN(num_users, num_items, c["embedding_dim"], c["num_layers"],
                    init_std=c["init_std"])


register_model(ModelEntry("mf-bpr", RECOMMENDATION, dict(_EMBEDDINGS), _mf_bpr,
                          "matrix factorisation trained with BPR (gnnkit.nn.recsys.MFBPR)"))
register_model(ModelEntry("lightgcn", RECOMMENDATION, {
    **_EMBEDDINGS,
    "num_layers": ModelOption(3, int, "light graph convolutions K; the final embedding is the "
                                      "mean of layers 0..K (--layer)"),
}, _lightgcn, "He et al.'s LightGCN (gnnkit.nn.recsys.LightGCN)"))


def _ultragcn(c: Mapping[str, Any], *, num_users: int, num_items: int) -> nn.Module:
    from gnnkit.nn.recsys import UltraGCN

    return UltraGCN(num_users, num_items, c["embedding_dim"], init_std=c["init_std"],
                    w1=c["w1"], w2=c["w2"], w3=c["w3"], w4=c["w4"],
                    negative_weight=c["negative_weight"], item_weight=c["item_weight"],
                    num_neighbours=c["num_neighbours"],
                    zero_item_diagonal=c["zero_item_diagonal"])


register_model(ModelEntry("ultragcn", RECOMMENDATION, {
    "embedding_dim": _EMBEDDINGS["embedding_dim"],
    "init_std": ModelOption(1e-4, float, "standard deviation of the N(0, std²) initialisation "
                                         "(initial_weight)"),
    "w1": ModelOption(1e-6, float, "constant weight of the positive constraint (w1)"),
    "w2": ModelOption(1.0, float, "weight of beta_ui in the positive constraint (w2)"),
    "w3": ModelOption(1e-6, float, "constant weight of the negative constraint (w3)"),
    "w4": ModelOption(1.0, float, "weight of beta_uj in the negative constraint (w4)"),
    "negative_weight": ModelOption(300.0, float, "weight of the mean negative loss "
                                                 "(negative_weight)"),
    "item_weight": ModelOption(5e-4, float, "weight lambda of the item-item loss (lambda)"),
    "num_neighbours": ModelOption(10, int, "item neighbours K per item (ii_neighbor_num)"),
    "zero_item_diagonal": ModelOption(False, bool, "drop G_ii from the item-item graph "
                                                   "(ii_diagonal_zero)"),
}, _ultragcn, "Mao et al.'s UltraGCN (gnnkit.nn.recsys.UltraGCN)"))


def _sheaf4rec(c: Mapping[str, Any], *, num_users: int, num_items: int) -> nn.Module:
    from gnnkit.nn.recsys import Sheaf4Rec

    return Sheaf4Rec(num_users, num_items, c["embedding_dim"], c["num_layers"],
                     stalk_dim=c["stalk_dim"], maps=c["maps"], step_size=c["step_size"],
                     init_std=c["init_std"])


register_model(ModelEntry("sheaf4rec", RECOMMENDATION, {
    **_EMBEDDINGS,
    "num_layers": ModelOption(5, int, "sheaf convolutions K; the final embedding is the mean "
                                      "of layers 0..K (--layers; 5 in the official runs)"),
    "stalk_dim": ModelOption(1, int, "stalk dimension D (embedding_dim / D channels per stalk "
                                     "dimension); 1 = the official scalar restriction maps"),
    "maps": ModelOption("diag", str, "restriction maps: diag (D numbers per incidence) or "
                                     "general (D x D)", choices=("diag", "general")),
    "step_size": ModelOption(1.0, float, "diffusion step alpha in X - alpha L (X W + b) "
                                         "(step_size, 1.0)"),
}, _sheaf4rec, "Purificato et al.'s Sheaf4Rec (gnnkit.nn.recsys.Sheaf4Rec)"))
