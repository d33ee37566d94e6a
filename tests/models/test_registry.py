"""The one model registry: validation of configurations and the builders of every entry."""

from __future__ import annotations

import pytest
import torch

from gnnkit.models import (
    GAT,
    GCN,
    MODELS,
    ModelConfigError,
    ModelEntry,
    ModelOption,
    build_model,
    model_config,
    model_names,
    register_model,
)
from gnnkit.nn.linkpred import (
    DotProductScorer,
    HadamardMLPScorer,
    LinkEncoder,
    NCNCPredictor,
    NCNPredictor,
)


def test_models_are_registered_per_task() -> None:
    assert model_names("node_classification") == ("gat", "gcn", "nsd-bundle", "nsd-diag",
                                                   "nsd-general", "sage")
    assert model_names("graph_classification") == ("ds", "dss", "gin", "gine", "swl")
    assert model_names("graph_property") == ("ds", "dss", "gin", "gine", "swl")
    assert model_names("recommendation") == ("lightgcn", "mf-bpr", "sheaf4rec", "ultragcn")
    assert model_names("link_prediction") == ("gae", "gae-dot", "ncn", "ncnc")
    assert set(model_names()) >= {"gcn", "gat", "ncn", "ncnc", "gae", "gae-dot"}


def test_configuration_is_validated_with_key_value_and_allowed_values() -> None:
    with pytest.raises(ModelConfigError, match=r"model\.name must be one of \['gat', 'gcn', "
                                               r"'nsd-bundle', 'nsd-diag', 'nsd-general', "
                                               r"'sage'\]"):
        model_config({"name": "ncn"}, task="node_classification")
    with pytest.raises(ModelConfigError, match=r"unknown model key\(s\) \['hidden'\] for model "
                                               r"'gcn'; allowed: \['bias', ") as info:
        model_config({"name": "gcn", "hidden": 3})
    assert info.value.key == "hidden"
    with pytest.raises(ModelConfigError, match=r"model\.dropout must be float, got 'x'"):
        model_config({"name": "gat", "dropout": "x"})
    with pytest.raises(ModelConfigError, match=r"model\.bias must be bool, got 1"):
        model_config({"name": "gcn", "bias": 1})
    with pytest.raises(ModelConfigError, match=r"model\.num_layers must be int, got True"):
        model_config({"name": "gcn", "num_layers": True})
    with pytest.raises(ModelConfigError, match=r"model\.encoder must be one of \["):
        model_config({"name": "ncn", "encoder": "transformer"})
    with pytest.raises(ModelConfigError, match=r"missing key model\.name"):
        model_config({"hidden_channels": 4})
    # completion keys belong to ncnc only
    with pytest.raises(ModelConfigError, match=r"\['depth'\] for model 'ncn'"):
        model_config({"name": "ncn", "depth": 2})


def test_defaults_are_filled_and_ints_become_floats() -> None:
    config = model_config({"name": "gcn", "dropout": 0})
    assert config == {"name": "gcn", "hidden_channels": 16, "num_layers": 2, "dropout": 0.0,
                      "bias": True, "cached": True}
    assert isinstance(config["dropout"], float)
    assert model_config({"name": "ncnc"})["train_max_candidates"] is None


def test_node_models_are_built_with_their_hyperparameters() -> None:
    gcn = build_model({"name": "gcn", "hidden_channels": 5, "num_layers": 3},
                      task="node_classification", in_channels=4, num_classes=2)
    assert isinstance(gcn, GCN) and len(gcn.convs) == 3
    gat = build_model({"name": "gat", "heads": 2}, in_channels=4, num_classes=3)
    assert isinstance(gat, GAT)
    x = torch.randn(3, 4)
    graph = torch.tensor([[0, 1, 2], [1, 2, 0]])
    assert gat.eval()(x, graph).shape == (3, 3)


def test_link_models_from_flat_configuration() -> None:
    def build(config: dict, in_channels: int = 5) -> tuple:
        return build_model(config, task="link_prediction", in_channels=in_channels,
                           num_nodes=10)

    encoder, predictor = build({"name": "ncn", "hidden_channels": 8, "variant": "ncn-diff",
                                "node_mlp": True})
    assert isinstance(encoder, LinkEncoder) and encoder.hidden_channels == 8
    assert isinstance(predictor, NCNPredictor) and predictor.variant == "ncn-diff"
    assert predictor.node_mlp is not None
    _, ncnc = build({"name": "ncnc", "hidden_channels": 8, "depth": 2, "pt": 0.3,
                     "test_max_candidates": 16})
    assert isinstance(ncnc, NCNCPredictor) and ncnc.depth == 2
    assert float(ncnc.pt) == pytest.approx(0.3) and ncnc.test_max_candidates == 16
    assert ncnc.official_recursion  # the official code's candidate scoring by default
    _, plain = build({"name": "ncnc", "hidden_channels": 8, "official_recursion": False})
    assert isinstance(plain, NCNCPredictor) and not plain.official_recursion
    encoder, gae = build({"name": "gae", "hidden_channels": 8, "node_embedding": True,
                          "encoder": "puresum"}, in_channels=0)
    assert isinstance(gae, HadamardMLPScorer) and encoder.embedding is not None
    assert isinstance(build({"name": "gae-dot"})[1], DotProductScorer)
    assert set(MODELS["ncnc"].options) >= {"scale", "offset", "pt", "alpha", "depth"}


def test_new_models_register_with_their_options() -> None:
    entry = ModelEntry("test-mlp", ("node_classification",),
                       {"hidden_channels": ModelOption(4, int, "width")},
                       lambda c, *, in_channels, num_classes: torch.nn.Sequential(
                           torch.nn.Linear(in_channels, c["hidden_channels"]),
                           torch.nn.Linear(c["hidden_channels"], num_classes)))
    register_model(entry)
    try:
        model = build_model({"name": "test-mlp"}, task="node_classification", in_channels=3,
                            num_classes=2)
        assert model[0].out_features == 4
        with pytest.raises(ValueError, match="already registered"):
            register_model(entry)
    finally:
        del MODELS["test-mlp"]
    with pytest.raises(ValueError, match="'name' is reserved"):
        ModelEntry("x", (), {"name": ModelOption("x", str)}, lambda c: None)
