"""CollagePrompt's predictor: HGP-SL pieces against dense computations, grid graphs and their symmetries, training,
and the official weights' key map on a file written here in the layout of ``499.pth``."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.checkpoint import CheckpointError
from bench.methods.collage_prompting.hgpsl import HGPSLPool, WeightedGCN, information_score, sparsemax
from bench.methods.collage_prompting.official_weights import OFFICIAL_KEY_MAP, load_official_predictor
from bench.methods.collage_prompting.predictor import (
    CollageAccuracyPredictor,
    batched_grid_edges,
    grid_edges,
    score_arrangements,
    train_predictor,
)


def dense_sparsemax(row: np.ndarray) -> np.ndarray:
    """Sparsemax of one vector by its definition: the Euclidean projection onto the simplex."""
    z = np.sort(row)[::-1]
    k = np.arange(1, len(z) + 1)
    support = 1 + k * z > np.cumsum(z)
    size = k[support][-1]
    tau = (np.cumsum(z)[size - 1] - 1) / size
    return np.maximum(row - tau, 0)


def test_sparsemax_matches_the_simplex_projection_per_group():
    gen = torch.Generator().manual_seed(0)
    src = torch.randn(30, generator=gen, dtype=torch.float64) * 2
    index = torch.randint(0, 6, (30,), generator=gen)
    index[index == 4] = 3  # group 4 empty
    out = sparsemax(src, index, 6)
    for group in range(6):
        mask = (index == group).numpy()
        if mask.any():
            np.testing.assert_allclose(out.numpy()[mask], dense_sparsemax(src.numpy()[mask]), atol=1e-12)
            assert out[torch.from_numpy(mask)].sum().item() == pytest.approx(1.0)
    assert (out == 0).sum() > 0  # sparse, unlike softmax


def test_sparsemax_gradient_is_its_jacobian_on_the_support():
    src = torch.tensor([1.2, 1.0, -2.0, 0.3, 0.25], dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 0, 0, 1, 1])
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    (sparsemax(src, index, 2) * weights).sum().backward()
    # group 0: support {0, 1} (k = 2): d/dz_j sum_i w_i (z_i - tau) = w_j - mean(w on support); off support 0
    assert src.grad.tolist() == pytest.approx([1.0 - 1.5, 2.0 - 1.5, 0.0, 4.0 - 4.5, 5.0 - 4.5])


def small_graph():
    """5 nodes: a weighted, asymmetric edge set with one self-loop and one isolated node (4)."""
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 0, 2], [1, 0, 2, 3, 0, 0, 1]])
    weight = torch.tensor([0.5, 1.0, 2.0, 0.7, 1.5, 0.3, 0.9], dtype=torch.float64)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    dense = torch.zeros(5, 5, dtype=torch.float64)
    dense[edge_index[0], edge_index[1]] = weight
    return x, edge_index, weight, dense


def dense_propagation(dense: torch.Tensor) -> torch.Tensor:
    """D^-1/2 A^T D^-1/2 with D the source-side (row-sum) degree, 0 for isolated nodes."""
    deg = dense.sum(1)
    inv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return (inv[:, None] * dense * inv[None, :]).t()


def test_information_score_and_weighted_gcn_against_dense_matrices():
    x, edge_index, weight, dense = small_graph()
    expected = (x - dense_propagation(dense) @ x).abs().sum(1)
    torch.testing.assert_close(information_score(x, edge_index, weight), expected)
    assert information_score(x, edge_index, weight)[4] == pytest.approx(x[4].abs().sum().item())  # isolated: x

    gcn = WeightedGCN(4, 3).double()
    with torch.no_grad():
        gcn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    torch.testing.assert_close(gcn(x, edge_index, weight),
                               dense_propagation(dense) @ (x @ gcn.lin.weight.t()) + gcn.bias)


def pool_reference(pool: HGPSLPool, x, dense, mode: str):
    """HGP-SL on one graph, from dense matrices: top-k by information score, then the learned adjacency."""
    score = (x - dense_propagation(dense) @ x).abs().sum(1)
    k = int(np.ceil(pool.ratio * x.shape[0]))
    keep = torch.argsort(score, descending=True)[:k]
    xk = x[keep]
    h = pool.in_channels
    att = pool.att[0].detach().double()
    logits = F.leaky_relu((xk @ att[:h])[:, None] + (xk @ att[h:])[None, :], 0.2)
    if mode == "sample":  # candidates: edges of A or A^2, plus self-loops; A's weight added
        reach = ((dense != 0).double() + (dense != 0).double() @ (dense != 0).double()) > 0
        candidate = reach[keep][:, keep] | torch.eye(k, dtype=torch.bool)
    else:
        candidate = torch.ones(k, k, dtype=torch.bool)
    logits = logits + dense[keep][:, keep] * pool.lamb
    logits = logits.masked_fill(~candidate, float("-inf"))
    if mode == "sparse":
        learned = torch.stack([torch.from_numpy(dense_sparsemax(row.numpy())) for row in logits])
    else:
        learned = torch.softmax(logits, dim=1)
    return keep, xk, learned


@pytest.mark.parametrize("mode", ["softmax", "sparse", "sample"])
def test_hgpsl_pool_keeps_top_nodes_and_learns_the_dense_structure(mode):
    x, edge_index, weight, dense = small_graph()
    torch.manual_seed(0)
    pool = HGPSLPool(4, ratio=0.5, sample=mode == "sample", sparse=mode == "sparse", lamb=0.7).double()
    with torch.no_grad():
        pool.att.mul_(4.0)  # sharper attention, so sparsemax zeroes some pairs
    out_x, out_index, out_weight, out_batch = pool(x, edge_index, weight)
    keep, xk, learned = pool_reference(pool, x, dense, mode)
    assert out_x.shape == (3, 4) and out_batch.tolist() == [0, 0, 0]  # ceil(0.5 * 5) nodes
    torch.testing.assert_close(out_x, xk)
    got = torch.zeros(3, 3, dtype=torch.float64)
    got[out_index[0], out_index[1]] = out_weight
    torch.testing.assert_close(got, learned)
    assert (out_weight > 0).all()  # exact zeros are dropped
    torch.testing.assert_close(got.sum(1), torch.ones(3, dtype=torch.float64))  # normalised per source node


def test_hgpsl_pool_batches_graphs_and_without_structure_learning_keeps_the_induced_subgraph():
    x, edge_index, weight, dense = small_graph()
    torch.manual_seed(0)
    pool = HGPSLPool(4, ratio=0.5).double()
    # the same graph twice in one batch: each copy pooled alone
    two_x = torch.cat([x, x])
    two_index = torch.cat([edge_index, edge_index + 5], dim=1)
    out_x, out_index, out_weight, out_batch = pool(two_x, two_index, torch.cat([weight, weight]),
                                                   torch.tensor([0] * 5 + [1] * 5))
    single = pool(x, edge_index, weight)
    assert out_batch.tolist() == [0, 0, 0, 1, 1, 1] and out_index.shape[1] == 2 * single[1].shape[1] == 18
    torch.testing.assert_close(out_x, torch.cat([single[0], single[0]]))
    torch.testing.assert_close(out_weight, torch.cat([single[2], single[2]]))
    assert ((out_index[0] < 3) == (out_index[1] < 3)).all()  # no edge between the two graphs

    pool.sl = False
    kept_x, induced, induced_weight, _ = pool(x, edge_index, weight)
    keep = pool_reference(pool, x, dense, "softmax")[0]
    position = {int(node): i for i, node in enumerate(keep)}
    expected = {(position[int(a)], position[int(b)]): float(w) for (a, b), w in zip(edge_index.t(), weight, strict=True)
                if int(a) in position and int(b) in position}
    assert dict(zip(map(tuple, induced.t().tolist()), induced_weight.tolist(), strict=True)) == expected


def test_tied_information_scores_keep_the_earlier_node():
    """Two nodes with row-stochastic weights (what structure learning hands the second 2x2 pooling): the residuals
    are exact negatives, so the scores tie and the earlier node is kept, whichever way rounding leans."""
    x = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    edge_index = torch.tensor([[0, 0, 1, 1], [0, 1, 0, 1]])
    weight = torch.tensor([0.1, 0.9, 0.35, 0.65])
    score = information_score(x, edge_index, weight)
    assert score[0] < score[1] and score[0].item() == pytest.approx(score[1].item(), rel=1e-6)  # rounding leans to 1
    pool = HGPSLPool(16, ratio=0.5)
    assert torch.equal(pool(x, edge_index, weight)[0], x[:1])
    flipped = pool(x.flip(0), 1 - edge_index, weight)[0]  # the same graph with the nodes swapped
    assert torch.equal(flipped, x[1:])


def test_grid_edges_join_4_neighbours_of_the_arrangement():
    edges = grid_edges(torch.tensor([2, 0, 1, 3]), 2)  # 2 0 / 1 3
    assert sorted(map(tuple, edges.t().tolist())) == sorted([(2, 0), (0, 2), (1, 3), (3, 1), (2, 1), (1, 2),
                                                            (0, 3), (3, 0)])
    assert grid_edges(torch.tensor([2, 0, 1, 3]), 2, rows_only=True).t().tolist() == [[0, 2], [1, 3], [2, 0],
                                                                                     [3, 1]]
    assert grid_edges(torch.arange(9), 3).shape == (2, 24)  # 12 grid edges, both directions
    with pytest.raises(ValueError, match=r"1 row\(s\) are not permutations of 0..3, first row 0: \[0, 0, 1, 3\]"):
        grid_edges(torch.tensor([0, 0, 1, 3]), 2)
    with pytest.raises(ValueError, match=r"must be an integer tensor \[P, 9\]"):
        grid_edges(torch.arange(4), 3)


def random_model(in_dim: int = 8, hidden: int = 16, seed: int = 0) -> CollageAccuracyPredictor:
    """A predictor with every parameter drawn from N(0, 0.3^2): far from the default init's dead ReLUs, so
    different graphs get different scores."""
    model = CollageAccuracyPredictor(in_dim=in_dim, hidden=hidden)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=gen) * 0.3)
    return model


def test_2x2_scores_depend_only_on_the_diagonal_pairs():
    model = random_model()
    torch.manual_seed(0)
    features = torch.randn(4, 8)
    perms = torch.tensor(list(itertools.permutations(range(4))))
    scores = score_arrangements(model, features, perms, 2)
    # positions 0-3 and 1-2 are the diagonals: the pair {arr[0], arr[3]} fixes the graph
    by_diagonal: dict[frozenset, set] = {}
    for perm, score in zip(perms.tolist(), scores.tolist(), strict=True):
        diagonals = frozenset([frozenset((perm[0], perm[3])), frozenset((perm[1], perm[2]))])
        by_diagonal.setdefault(diagonals, set()).add(round(score, 6))
    assert len(by_diagonal) == 3 and all(len(values) == 1 for values in by_diagonal.values())
    # At most 3 values; in fact 2: the first GCN layer gives node v (S - x_partner(v)) W / 3 (all degrees 3 with
    # the self-loop), so the 4 node embeddings are the same set in all 3 graphs, only their pairing differs, and
    # the pooled pair of most informative nodes is the same; the score then depends only on whether that pair is
    # adjacent (2 of the 3 graphs) or diagonal. The official 2x2 weights show the same 2 values.
    assert len({value for values in by_diagonal.values() for value in values}) == 2


def grid_symmetries(grid: int) -> list[list[int]]:
    """Each of the 8 symmetries of the square grid as a position map: new position p holds old position map[p]."""
    cells = np.arange(grid * grid).reshape(grid, grid)
    maps = []
    for k in range(4):
        rotated = np.rot90(cells, k)
        maps += [rotated.reshape(-1).tolist(), np.fliplr(rotated).reshape(-1).tolist()]
    return maps


def test_3x3_arrangements_related_by_a_grid_symmetry_score_identically():
    model = random_model()
    torch.manual_seed(0)
    features = torch.randn(9, 8)
    base = torch.randperm(9, generator=torch.Generator().manual_seed(3))
    symmetric = torch.stack([base[torch.tensor(m)] for m in grid_symmetries(3)])
    assert len({tuple(row) for row in symmetric.tolist()}) == 8
    scores = score_arrangements(model, features, symmetric, 3)
    assert torch.equal(scores, scores[:1].expand(8))  # the same graph, the same edge order: bitwise equal
    swapped = base.clone()
    swapped[[0, 4]] = swapped[[4, 0]]  # a corner and the centre swap: another graph
    assert score_arrangements(model, features, swapped.view(1, -1), 3).item() != pytest.approx(scores[0].item())


def test_batched_scores_equal_one_at_a_time_and_are_destandardised():
    torch.manual_seed(0)
    model = CollageAccuracyPredictor(in_dim=8, hidden=16)
    model.target_mean.fill_(0.6)
    model.target_std.fill_(0.2)
    features = torch.randn(9, 8)
    population = torch.stack([torch.randperm(9) for _ in range(20)])
    batched = score_arrangements(model, features, population, 3)
    single = torch.cat([score_arrangements(model, features, row.view(1, -1), 3) for row in population])
    torch.testing.assert_close(batched, single)
    x = features.repeat(2, 1)
    raw = model(x, batched_grid_edges(population[:2], 3), torch.tensor([0] * 9 + [1] * 9))
    torch.testing.assert_close(batched[:2], raw.detach() * 0.2 + 0.6)
    with pytest.raises(ValueError, match=r"features must be \[9, D\]"):
        score_arrangements(model, features[:4], population, 3)


def same_class_adjacency_data(num: int, dim: int = 8):
    """Collages of two classes whose 'accuracy' is the fraction of grid-adjacent pairs of the same class (the
    paper's finding: grouping a class helps), so it depends on the arrangement, not only on the images."""
    gen = torch.Generator().manual_seed(0)
    classes = torch.randint(0, 2, (num, 9), generator=gen)
    features = F.one_hot(classes, dim).float() + 0.1 * torch.randn(num, 9, dim, generator=gen)
    arrangements = torch.stack([torch.randperm(9, generator=gen) for _ in range(num)])
    placed = torch.gather(classes, 1, arrangements)
    edges = grid_edges(torch.arange(9), 3)
    accuracy = (placed[:, edges[0]] == placed[:, edges[1]]).float().mean(1)
    return features, arrangements, accuracy


def test_training_learns_an_arrangement_dependent_target():
    features, arrangements, accuracy = same_class_adjacency_data(300)
    model, history = train_predictor(features, arrangements, accuracy, 3, epochs=20, batch_size=64, lr=1e-2,
                                     weight_decay=0.0, hidden=16)
    assert history["num_train"] == 270 and history["num_val"] == 30  # int(N * 0.9), as the official split
    assert history["mean"] == pytest.approx(accuracy.double().mean().item())
    assert history["std"] == pytest.approx(accuracy.double().std().item())
    assert len(history["val_loss"]) == 20 and history["val_loss"][-1] < 0.7 * history["val_loss"][0]
    one_class = F.one_hot(torch.tensor([0] * 5 + [1] * 4), 8).float()
    grouped, checkerboard = torch.arange(9), torch.tensor([0, 5, 1, 6, 2, 7, 3, 8, 4])  # 8/12 vs 0/12 same-class
    scores = score_arrangements(model, one_class, torch.stack([grouped, checkerboard]), 3)
    assert scores[0] > scores[1]
    again, _ = train_predictor(features, arrangements, accuracy, 3, epochs=2, batch_size=64, hidden=16)
    again2, _ = train_predictor(features, arrangements, accuracy, 3, epochs=2, batch_size=64, hidden=16)
    pairs = zip(again.state_dict().values(), again2.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)  # seeded: the same weights


def test_training_refuses_a_constant_target_and_mismatched_shapes():
    features, arrangements, _ = same_class_adjacency_data(10)
    with pytest.raises(ValueError, match="all 10 collages have the same accuracy 0.5000"):
        train_predictor(features, arrangements, torch.full((10,), 0.5), 3, epochs=1)
    with pytest.raises(ValueError, match=r"must describe the same N collages"):
        train_predictor(features, arrangements[:5], torch.rand(10), 3, epochs=1)


def official_layout_state(hidden: int = 16, in_dim: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """The 14 tensors of ``499.pth`` under the official names and layouts (``conv*.weight`` is ``[in, out]``)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {"conv1.weight": (in_dim, hidden), "conv1.bias": (hidden,), "conv2.weight": (hidden, hidden),
              "conv2.bias": (hidden,), "conv3.weight": (hidden, hidden), "conv3.bias": (hidden,),
              "pool1.att": (1, 2 * hidden), "pool2.att": (1, 2 * hidden), "lin1.weight": (hidden, 2 * hidden),
              "lin1.bias": (hidden,), "lin2.weight": (hidden // 2, hidden), "lin2.bias": (hidden // 2,),
              "lin3.weight": (1, hidden // 2), "lin3.bias": (1,)}
    return {key: torch.randn(shape, generator=gen) * 0.3 for key, shape in shapes.items()}


def write_legacy(state, path):
    """As torch 1.4 wrote ``499.pth``: the pre-zip serialisation, pickle protocol 2."""
    torch.save(state, path, _use_new_zipfile_serialization=False, pickle_protocol=2)
    assert path.read_bytes()[:2] == b"\x80\x02"  # a pickle stream, not a zip archive (b"PK")
    return path


def test_official_weights_load_through_the_key_map(tmp_path):
    state = official_layout_state()
    path = write_legacy(state, tmp_path / "499.pth")
    model = load_official_predictor(path, mean=0.55, std=0.25)
    assert set(OFFICIAL_KEY_MAP) == set(state)
    own = model.state_dict()
    for key in ("conv1", "conv2", "conv3"):
        assert torch.equal(own[f"{key}.lin.weight"], state[f"{key}.weight"].t())
    for key in ("conv1.bias", "pool1.att", "pool2.att", "lin1.weight", "lin3.bias"):
        assert torch.equal(own[key], state[key])
    assert (model.conv1.in_channels, model.lin1.in_features) == (32, 32) and not model.training
    # the forward uses x @ W (official layout) for the first layer
    x = torch.randn(4, 32)
    edges = grid_edges(torch.arange(4), 2)
    norm_in = model.conv1(x, edges)
    deg = torch.full((4,), 3.0)  # 2 neighbours + the self-loop GCNConv adds
    adjacency = torch.zeros(4, 4)
    adjacency[edges[0], edges[1]] = 1
    adjacency += torch.eye(4)
    expected = (adjacency / torch.sqrt(deg[:, None] * deg[None, :])) @ (x @ state["conv1.weight"]) + state["conv1.bias"]
    torch.testing.assert_close(norm_in, expected)
    raw = model(x, edges, torch.zeros(4, dtype=torch.long)).item()
    assert score_arrangements(model, x, torch.arange(4).view(1, -1), 2).item() == pytest.approx(raw * 0.25 + 0.55)


def test_official_weights_with_unmatched_keys_name_the_file_and_the_keys(tmp_path):
    state = official_layout_state()
    state["conv4.weight"] = state.pop("pool2.att")
    path = write_legacy(state, tmp_path / "renamed.pth")
    with pytest.raises(CheckpointError) as error:
        load_official_predictor(path)
    message = str(error.value)
    assert str(path) in message
    assert "official keys missing (1): pool2.att; unmatched keys (1): conv4.weight" in message
    with pytest.raises(ValueError, match="give both mean and std"):
        load_official_predictor(path, mean=0.5)
