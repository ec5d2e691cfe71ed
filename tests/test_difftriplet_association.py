"""DiffTriplet association guidance: the mapping matrices and the guidance update against the formula."""
import numpy as np
import pytest
import torch

from bench.formats.cholec import official_mapping
from bench.methods.difftriplet.association import AssociationGuidance, component_matrix


@pytest.fixture(scope="module")
def mapping():
    return official_mapping()


def test_component_matrices_have_one_component_per_triplet(mapping):
    for component, column, size in (("i", 1, 6), ("v", 2, 10), ("t", 3, 15)):
        matrix = component_matrix(mapping, component)
        assert matrix.shape == (size, 100)
        assert (matrix.sum(0) == 1).all()  # every triplet has exactly one instrument / verb / target
        for k in (0, 22, 57, 99):
            assert matrix[mapping[k, column], k] == 1
    # official map: triplets 94..99 are "<instrument>, null_verb, null_target" (verb 9, target 14)
    assert component_matrix(mapping, "v")[9, 94:].sum() == 6 and component_matrix(mapping, "t")[14, 94:].sum() == 6
    with pytest.raises(ValueError, match="component"):
        component_matrix(mapping, "iv")


def direct_guidance(probs: np.ndarray, mapping: np.ndarray, scale: float, components: tuple[str, ...]) -> np.ndarray:
    """x_ivt <- (1 - λ) x_ivt + λ x_ivt Π_c p_c[map_c(k)], frame by frame, triplet by triplet."""
    offsets = {"i": (100, 1), "v": (106, 2), "t": (116, 3)}
    out = probs.copy()
    for frame in range(probs.shape[1]):
        for k in range(100):
            g = 1.0
            for component in components:
                start, column = offsets[component]
                g *= probs[start + mapping[k, column], frame]
            out[k, frame] = (1 - scale) * probs[k, frame] + scale * probs[k, frame] * g
    return out


@pytest.mark.parametrize("scale, components", [(1.0, ("i", "v", "t")), (0.5, ("i",)), (0.3, ("v", "t"))])
def test_guidance_matches_the_formula(mapping, scale, components):
    probs = np.random.default_rng(0).random((131, 7))
    guided = AssociationGuidance(mapping, scale, components)(torch.from_numpy(probs)[None])[0].numpy()
    np.testing.assert_allclose(guided, direct_guidance(probs, mapping, scale, components), rtol=1e-12)
    assert np.array_equal(guided[100:], probs[100:])  # component channels are left alone


def test_guidance_suppresses_triplets_whose_components_are_absent(mapping):
    probs = torch.full((1, 131, 1), 0.9, dtype=torch.float64)
    probs[0, 100 + 2] = 0.0  # instrument 2 (hook) absent
    guided = AssociationGuidance(mapping, 1.0, ("i",))(probs)[0, :100, 0]
    hook = torch.from_numpy(mapping[:, 1] == 2)
    assert torch.all(guided[hook] == 0) and torch.allclose(guided[~hook], torch.tensor(0.81, dtype=torch.float64))
    assert AssociationGuidance(mapping, 0.0)(probs) is probs  # λ = 0 is the identity
    with pytest.raises(ValueError, match="subset"):
        AssociationGuidance(mapping, 1.0, ("iv",))
