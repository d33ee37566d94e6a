"""Input encoders: OGB's vocabularies and encoders (against the ``ogb`` package, optional), ZINC's
dictionaries (against the dataset's own pickles), the categorical sum against explicit
indexing, and the named input errors."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path
from types import ModuleType

import pytest
import torch
from shared_data import SHARED_DATASETS, require_shared_datasets

from gnnkit.data import collate
from gnnkit.datasets import read_ogb, read_zinc
from gnnkit.nn.encoders import (
    EDGE_ENCODERS,
    NODE_ENCODERS,
    OGB_ATOM_COLUMNS,
    OGB_ATOM_VOCAB_SIZES,
    OGB_BOND_COLUMNS,
    OGB_BOND_VOCAB_SIZES,
    ZINC_NUM_ATOM_TYPES,
    ZINC_NUM_BOND_TYPES,
    AtomEncoder,
    BondEncoder,
    CategoricalEncoder,
    LinearEncoder,
    ZincAtomEncoder,
    ZincBondEncoder,
    make_edge_encoder,
    make_node_encoder,
)

# our column name → the key of ogb.utils.features.allowable_features it is built from
OGB_KEYS = {
    "atomic_num": "possible_atomic_num_list", "chirality": "possible_chirality_list",
    "degree": "possible_degree_list", "formal_charge": "possible_formal_charge_list",
    "num_hs": "possible_numH_list", "num_radical_electrons": "possible_number_radical_e_list",
    "hybridization": "possible_hybridization_list", "is_aromatic": "possible_is_aromatic_list",
    "is_in_ring": "possible_is_in_ring_list", "bond_type": "possible_bond_type_list",
    "bond_stereo": "possible_bond_stereo_list", "is_conjugated": "possible_is_conjugated_list",
}


def _ogb_mol_encoder() -> ModuleType:
    """``ogb.graphproppred.mol_encoder``, loaded from its file: importing it as a submodule runs
    ``ogb.graphproppred``'s ``__init__``, which imports PyG, pandas and scikit-learn (seconds)
    for nothing the encoders use (they need only ``ogb.utils.features``)."""
    features = pytest.importorskip("ogb.utils.features")
    path = Path(features.__file__).resolve().parents[1] / "graphproppred" / "mol_encoder.py"
    spec = importlib.util.spec_from_file_location("ogb_mol_encoder_under_test", path)
    assert spec is not None and spec.loader is not None, f"no OGB mol_encoder at {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ids(rows: int, sizes: tuple[int, ...], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, s, (rows,), generator=gen) for s in sizes], dim=1)


# ------------------------------------------------------------------------------- OGB
def test_ogb_vocabularies_are_ogbs() -> None:
    features = pytest.importorskip("ogb.utils.features")
    assert list(OGB_ATOM_VOCAB_SIZES) == features.get_atom_feature_dims()
    assert list(OGB_BOND_VOCAB_SIZES) == features.get_bond_feature_dims()
    # the names we quote in errors label the right columns
    allowed = features.allowable_features
    assert [len(allowed[OGB_KEYS[c]]) for c in OGB_ATOM_COLUMNS] == list(OGB_ATOM_VOCAB_SIZES)
    assert [len(allowed[OGB_KEYS[c]]) for c in OGB_BOND_COLUMNS] == list(OGB_BOND_VOCAB_SIZES)


@pytest.fixture(scope="module")
def molbace():  # type: ignore[no-untyped-def]
    require_shared_datasets("ogbg-molbace")
    return read_ogb(SHARED_DATASETS / "ogbg-molbace")


def test_atom_and_bond_encoders_match_ogb_on_molbace(molbace) -> None:  # type: ignore[no-untyped-def]
    mol_encoder = _ogb_mol_encoder()
    batch = collate([molbace[i] for i in range(0, len(molbace), 37)])
    for ours_cls, theirs_cls, tables, data in [
        (AtomEncoder, mol_encoder.AtomEncoder, "atom_embedding_list", batch.x),
        (BondEncoder, mol_encoder.BondEncoder, "bond_embedding_list", batch.edge_attr),
    ]:
        # Same seed, same draws: the tables are created and Glorot-initialised in OGB's order.
        torch.manual_seed(7)
        theirs = theirs_cls(12)
        torch.manual_seed(7)
        ours = ours_cls(12)
        their_tables = getattr(theirs, tables)
        assert len(ours.embeddings) == len(their_tables)
        for mine, their in zip(ours.embeddings, their_tables, strict=True):
            torch.testing.assert_close(mine.weight, their.weight)
        out_ours, out_theirs = ours(data), theirs(data)
        torch.testing.assert_close(out_ours, out_theirs)
        weight = torch.randn_like(out_ours)
        (out_ours * weight).sum().backward()
        (out_theirs * weight).sum().backward()
        for mine, their in zip(ours.embeddings, their_tables, strict=True):
            torch.testing.assert_close(mine.weight.grad, their.weight.grad)


def test_ogb_encoders_accept_the_whole_dataset(molbace) -> None:  # type: ignore[no-untyped-def]
    assert AtomEncoder(4)(molbace.x).shape == (molbace.x.shape[0], 4)
    assert BondEncoder(4)(molbace.edge_attr).shape == (molbace.edge_attr.shape[0], 4)


def test_ogb_initialisation_is_glorot_uniform_per_table() -> None:
    encoder = AtomEncoder(50)
    for size, table in zip(OGB_ATOM_VOCAB_SIZES, encoder.embeddings, strict=True):
        bound = (6.0 / (size + 50)) ** 0.5
        assert table.weight.abs().max() <= bound
        if size > 10:  # large tables fill most of the interval (not N(0, 1), not tiny)
            assert table.weight.abs().max() > 0.8 * bound


# ------------------------------------------------------------------------------- ZINC
class _Dictionary:
    """Stands in for benchmarking-gnns' ``data.molecules.Dictionary`` (pickled from __main__)."""


class _DictionaryUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:
        if (module, name) == ("__main__", "Dictionary"):
            return _Dictionary
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in a ZINC dictionary")


def _zinc_dictionary(path: Path) -> list[str]:
    with path.open("rb") as handle:
        return list(_DictionaryUnpickler(handle).load().idx2word)


def test_zinc_vocabularies_are_benchmarking_gnns_dictionaries() -> None:
    root = require_shared_datasets("zinc-subset") / "zinc-subset" / "dicts"
    atoms = _zinc_dictionary(root / "atom_dict.pickle")
    bonds = _zinc_dictionary(root / "bond_dict.pickle")
    assert len(atoms) == ZINC_NUM_ATOM_TYPES and atoms[:3] == ["C", "O", "N"]
    assert bonds == ["NONE", "SINGLE", "DOUBLE", "TRIPLE"]
    assert len(bonds) == ZINC_NUM_BOND_TYPES


def test_zinc_encoders_cover_the_data_and_embed_by_type() -> None:
    require_shared_datasets("zinc-subset")
    zinc = read_zinc(SHARED_DATASETS / "zinc-subset")
    x, edge_attr = zinc.x, zinc.edge_attr
    assert x.shape[1] == 1 and edge_attr.dim() == 1  # (N, 1) atom types, (E,) bond types
    assert int(x.min()) >= 0 and int(x.max()) < ZINC_NUM_ATOM_TYPES
    assert int(edge_attr.min()) >= 1 and int(edge_attr.max()) < ZINC_NUM_BOND_TYPES
    atoms, bonds = ZincAtomEncoder(6), ZincBondEncoder(6)
    torch.testing.assert_close(atoms(x), atoms.embeddings[0].weight[x[:, 0]])
    torch.testing.assert_close(bonds(edge_attr), bonds.embeddings[0].weight[edge_attr])
    # benchmarking-gnns keeps nn.Embedding's N(0, 1) initialisation
    torch.manual_seed(3)
    reference = torch.nn.Embedding(ZINC_NUM_ATOM_TYPES, 6)
    torch.manual_seed(3)
    torch.testing.assert_close(ZincAtomEncoder(6).embeddings[0].weight, reference.weight)
    assert ZincAtomEncoder(6, num_types=21).vocab_sizes == (21,)


# ------------------------------------------------------------------------ categorical sum
@pytest.mark.parametrize("sizes", [(7,), (3, 1, 5), OGB_BOND_VOCAB_SIZES])
def test_categorical_encoder_is_the_sum_of_per_column_lookups(sizes: tuple[int, ...]) -> None:
    encoder = CategoricalEncoder(sizes, 4)
    x = _ids(25, sizes, seed=len(sizes))
    expected = torch.zeros(25, 4)
    for i in range(25):
        for c in range(len(sizes)):
            expected[i] += encoder.embeddings[c].weight[x[i, c]]
    torch.testing.assert_close(encoder(x), expected)
    torch.testing.assert_close(encoder(x.int()), expected)  # int32 ids work too
    torch.testing.assert_close(encoder(x.to(torch.uint8)), expected)
    if len(sizes) == 1:
        torch.testing.assert_close(encoder(x[:, 0]), expected)  # (N,) for one column
    assert encoder(x[:0]).shape == (0, 4)


def test_categorical_encoder_in_float64() -> None:
    encoder = CategoricalEncoder((4, 6), 3)
    x = _ids(9, (4, 6), seed=1)
    single = encoder(x)
    out = encoder.double()(x)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, single.double())


def test_reset_parameters_redraws_every_table() -> None:
    encoder = CategoricalEncoder((4, 6), 3, init="normal")
    before = [t.weight.clone() for t in encoder.embeddings]
    encoder.reset_parameters()
    assert all(not torch.equal(b, t.weight) for b, t in zip(before, encoder.embeddings,
                                                               strict=True))


def test_out_of_vocabulary_ids_name_column_row_and_value() -> None:
    encoder = AtomEncoder(4)
    x = _ids(6, OGB_ATOM_VOCAB_SIZES, seed=0)
    x[4, 2] = 12  # degree vocabulary is 0..11
    x[5, 2] = 40
    with pytest.raises(ValueError, match=r"AtomEncoder: column 2 \(degree\) holds 12 at row 4, "
                                         r"outside its vocabulary 0\.\.11 \(size 12\); 2 "
                                         r"value\(s\)"):
        encoder(x)
    x = _ids(3, (5,), seed=0)
    x[1, 0] = -1
    with pytest.raises(ValueError, match=r"column 0 holds -1 at row 1"):
        CategoricalEncoder((5,), 2)(x)
    with pytest.raises(ValueError, match=r"ZincAtomEncoder: column 0 \(atom_type\) holds 28"):
        ZincAtomEncoder(2)(torch.tensor([[3], [28]]))


def test_categorical_input_errors_name_the_fix() -> None:
    encoder = CategoricalEncoder((3, 4), 2)
    with pytest.raises(TypeError, match=r"integer category ids, got dtype torch\.float32.*"
                                        r"x\.long\(\)"):
        encoder(torch.zeros(2, 2))
    with pytest.raises(TypeError, match=r"dtype torch\.bool"):
        encoder(torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"shape \(N, 2\) \(one column per vocabulary \[3, 4\]\)"
                                         r", got shape \(5, 3\)"):
        encoder(torch.zeros(5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        encoder(torch.zeros(5, dtype=torch.long))
    with pytest.raises(TypeError, match=r"got list"):
        encoder([[0, 1]])  # type: ignore[arg-type]


def test_categorical_constructor_errors() -> None:
    with pytest.raises(ValueError, match="at least one column"):
        CategoricalEncoder([], 3)
    with pytest.raises(ValueError, match=r"vocab_sizes\[1\] must be a positive int, got 0"):
        CategoricalEncoder([3, 0], 3)
    with pytest.raises(ValueError, match="embedding_dim must be a positive int"):
        CategoricalEncoder([3], 0)
    with pytest.raises(ValueError, match=r"init must be one of \['xavier_uniform', 'normal'\]"):
        CategoricalEncoder([3], 2, init="zeros")
    with pytest.raises(ValueError, match="column_names has 1 names but vocab_sizes has 2"):
        CategoricalEncoder([3, 2], 2, column_names=["a"])


# ---------------------------------------------------------------------------- linear, names
def test_linear_encoder_checks_its_input() -> None:
    encoder = LinearEncoder(1, 3)
    e = torch.randn(5)
    torch.testing.assert_close(encoder(e), e[:, None] @ encoder.weight.T + encoder.bias)
    with pytest.raises(TypeError, match=r"floating-point features, got dtype torch\.int64.*"
                                        r"categorical encoder"):
        encoder(torch.ones(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \(N, 1\), got shape \(5, 2\)"):
        encoder(torch.randn(5, 2))
    with pytest.raises(TypeError, match=r"dtype torch\.float64 but the encoder's weights "
                                        r"torch\.float32"):
        encoder(torch.randn(5, 1, dtype=torch.float64))
    assert encoder.double()(torch.randn(5, 1, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        LinearEncoder(0, 3)


def test_encoders_by_name() -> None:
    assert NODE_ENCODERS == ("ogb-atom", "zinc-atom", "linear")
    assert EDGE_ENCODERS == ("ogb-bond", "zinc-bond", "linear", "none")
    assert isinstance(make_node_encoder("ogb-atom", 9, 5), AtomEncoder)
    assert isinstance(make_node_encoder("zinc-atom", None, 5), ZincAtomEncoder)
    assert isinstance(make_node_encoder("linear", 7, 5), LinearEncoder)
    assert isinstance(make_edge_encoder("ogb-bond", 3, 5), BondEncoder)
    assert isinstance(make_edge_encoder("zinc-bond", 1, 5), ZincBondEncoder)
    assert isinstance(make_edge_encoder("linear", 4, 5), LinearEncoder)
    assert make_edge_encoder("none", 0, 5) is None
    with pytest.raises(ValueError, match=r"node encoder 'ogb-atom' reads 9 categorical "
                                         r"column\(s\) .* but the data has 1"):
        make_node_encoder("ogb-atom", 1, 5)
    with pytest.raises(ValueError, match=r"edge encoder 'zinc-bond' reads 1 .* has 3"):
        make_edge_encoder("zinc-bond", 3, 5)
    with pytest.raises(ValueError, match=r"'linear' edge encoder needs edge_channels ≥ 1"):
        make_edge_encoder("linear", 0, 5)
    with pytest.raises(ValueError, match=r"node encoder must be one of"):
        make_node_encoder("atom", 9, 5)
    with pytest.raises(ValueError, match=r"edge encoder must be one of"):
        make_edge_encoder("bond", 3, 5)
