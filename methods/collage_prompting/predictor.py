"""CollagePrompt's collage-accuracy predictor: a graph network over the tiles of one arrangement, and its training.

Nodes are the g*g images of a collage (their feature vectors); edges join images on 4-neighbouring grid positions.
The network (official ``baseline/lcp/models.py``): GCNConv -> HGPSLPool -> GCN -> HGPSLPool -> GCN, a
``[global max || global mean]`` readout after each of the three levels, the three readouts summed, then an MLP
``2h -> h -> h/2 -> 1``. It predicts the collage's mean per-tile correctness, standardised by the training mean and
std (kept in the buffers ``target_mean`` / ``target_std`` so scores come back as accuracies).

Arrangement convention: ``arr[p]`` is the index (into the collage's list of images) of the image placed at grid
position ``p`` (row-major). The official metainfo's ``ord`` is exactly this (``ord2edge`` joins ``ord[p]`` and
``ord[p + 1]``; the GA's ``image_list = [sources[i] for i in solution]`` places ``solution[p]`` at ``p``).

Because the arrangement enters only through an unweighted graph, arrangements related by a grid symmetry (8 for
3x3; for 2x2 every arrangement is a 4-cycle, so 24 permutations give 3 graphs) score identically.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv, global_max_pool, global_mean_pool

from .hgpsl import HGPSLPool, WeightedGCN


class CollageAccuracyPredictor(nn.Module):
    """Predicted (standardised) mean correctness of a batch of collage graphs.

    Args:
        in_dim: per-image feature size (512 in the official data).
        hidden: GCN width ``h``; the MLP is ``2h -> h -> h/2 -> 1``.
        pool_ratio: fraction of nodes each HGP-SL pooling keeps.
        dropout: dropout between the MLP layers (training only).
        sample_neighbor, sparse_attention, structure_learning, lamb: the HGP-SL options (official: False, False,
            True, 1.0).
    """

    target_mean: Tensor
    target_std: Tensor

    def __init__(self, in_dim: int = 512, hidden: int = 128, pool_ratio: float = 0.5, dropout: float = 0.0, *,
                 sample_neighbor: bool = False, sparse_attention: bool = False, structure_learning: bool = True,
                 lamb: float = 1.0) -> None:
        super().__init__()
        self.dropout = dropout
        self.conv1 = GCNConv(in_dim, hidden)
        self.conv2 = WeightedGCN(hidden, hidden)
        self.conv3 = WeightedGCN(hidden, hidden)
        self.pool1 = HGPSLPool(hidden, pool_ratio, sample_neighbor, sparse_attention, structure_learning, lamb)
        self.pool2 = HGPSLPool(hidden, pool_ratio, sample_neighbor, sparse_attention, structure_learning, lamb)
        self.lin1 = nn.Linear(2 * hidden, hidden)
        self.lin2 = nn.Linear(hidden, hidden // 2)
        self.lin3 = nn.Linear(hidden // 2, 1)
        self.register_buffer("target_mean", torch.tensor(0.0))
        self.register_buffer("target_std", torch.tensor(1.0))

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor, num_graphs: int | None = None) -> Tensor:
        """Standardised predictions ``[num_graphs]`` for node features ``x``, edges and a graph-grouped ``batch``."""
        size = int(batch.max()) + 1 if num_graphs is None else num_graphs

        def readout(h: Tensor, b: Tensor) -> Tensor:
            return torch.cat([global_max_pool(h, b, size), global_mean_pool(h, b, size)], dim=1)

        x = F.relu(self.conv1(x, edge_index))
        x, edge_index, edge_attr, batch = self.pool1(x, edge_index, None, batch)
        x1 = readout(x, batch)
        x = F.relu(self.conv2(x, edge_index, edge_attr))
        x, edge_index, edge_attr, batch = self.pool2(x, edge_index, edge_attr, batch)
        x2 = readout(x, batch)
        x = F.relu(self.conv3(x, edge_index, edge_attr))
        x3 = readout(x, batch)
        x = F.relu(x1) + F.relu(x2) + F.relu(x3)
        x = F.dropout(F.relu(self.lin1(x)), self.dropout, self.training)
        x = F.dropout(F.relu(self.lin2(x)), self.dropout, self.training)
        return self.lin3(x).view(-1)

    def destandardise(self, prediction: Tensor) -> Tensor:
        """Standardised predictions back to mean correctness (``pred * std + mean``)."""
        return prediction * self.target_std + self.target_mean


def _grid_pairs(grid: int, rows_only: bool) -> Tensor:
    """Undirected position pairs ``[2, E]`` of 4-neighbouring grid cells (row-major positions); ``rows_only`` keeps
    the horizontal ones."""
    pairs = [(r * grid + c, r * grid + c + 1) for r in range(grid) for c in range(grid - 1)]
    if not rows_only:
        pairs += [(r * grid + c, (r + 1) * grid + c) for r in range(grid - 1) for c in range(grid)]
    return torch.tensor(pairs, dtype=torch.long).t()


def check_arrangements(arrangements: Tensor, grid: int, what: str = "arrangements") -> Tensor:
    """``arrangements`` as a LongTensor ``[P, g*g]`` whose rows are permutations; ValueError naming what is wrong."""
    if grid < 1:
        raise ValueError(f"grid must be a positive integer (2 or 3 in the paper), got {grid}")
    n = grid * grid
    if arrangements.is_floating_point() or arrangements.ndim != 2 or arrangements.shape[1] != n:
        raise ValueError(f"{what} must be an integer tensor [P, {n}] (one permutation of 0..{n - 1} per row for a "
                         f"{grid}x{grid} grid), got dtype {arrangements.dtype}, shape {tuple(arrangements.shape)}")
    arrangements = arrangements.long()
    expected = torch.arange(n, device=arrangements.device)
    bad = (arrangements.sort(dim=1).values != expected).any(dim=1).nonzero().view(-1)
    if bad.numel():
        row = int(bad[0])
        raise ValueError(f"{what}: {bad.numel()} row(s) are not permutations of 0..{n - 1}, first row {row}: "
                         f"{arrangements[row].tolist()} (arr[p] = index of the image at grid position p)")
    return arrangements


def batched_grid_edges(arrangements: Tensor, grid: int, *, rows_only: bool = False) -> Tensor:
    """``edge_index`` of a batch of collage graphs (graph ``k``'s nodes are ``k*n .. k*n + n - 1``), both directions,
    sorted by (source, target), so arrangements that give the same graph give the same tensor."""
    n = grid * grid
    pairs = _grid_pairs(grid, rows_only).to(arrangements.device)
    offset = (torch.arange(arrangements.shape[0], device=arrangements.device) * n).unsqueeze(1)
    a, b = arrangements[:, pairs[0]] + offset, arrangements[:, pairs[1]] + offset
    row, col = torch.cat([a, b], dim=1).reshape(-1), torch.cat([b, a], dim=1).reshape(-1)
    order = torch.argsort(row * (arrangements.shape[0] * n) + col)
    return torch.stack([row[order], col[order]])


def grid_edges(arrangement: Tensor, grid: int, *, rows_only: bool = False) -> Tensor:
    """``edge_index [2, E]`` joining images on 4-neighbouring positions of ``arrangement`` (``arr[p]`` = image at
    position ``p``), both directions, sorted.

    ``rows_only`` keeps only horizontal neighbours: the graph the official 2x2 *training* set builds
    (``Imagenet2x2GridDataset.ord2edge`` pairs ``ord[0]-ord[1]`` and ``ord[2]-ord[3]``), while its 2x2 inference
    (``ord_grid_adj_2x2``) scores the full 4-cycle; the 3x3 scripts use the full grid for both.
    """
    arrangement = check_arrangements(torch.as_tensor(arrangement).view(1, -1), grid, "arrangement")
    return batched_grid_edges(arrangement, grid, rows_only=rows_only)


def _batch_inputs(features: Tensor, arrangements: Tensor, grid: int, rows_only: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(x, edge_index, batch) for graphs ``k`` with node features ``features[k]`` ``[P, n, D]``."""
    num, n, dim = features.shape
    edge_index = batched_grid_edges(arrangements, grid, rows_only=rows_only)
    batch = torch.arange(num, device=features.device).repeat_interleave(n)
    return features.reshape(num * n, dim), edge_index, batch


@torch.no_grad()
def score_arrangements(model: CollageAccuracyPredictor, features: Tensor, arrangements: Tensor, grid: int, *,
                       rows_only: bool = False) -> Tensor:
    """Predicted mean correctness ``[P]`` of one collage's images ``features [n, D]`` under each of
    ``arrangements [P, n]``, all in one batched forward pass (de-standardised with the model's target buffers)."""
    n = grid * grid
    if features.ndim != 2 or features.shape[0] != n:
        raise ValueError(f"features must be [{n}, D] (one row per image of a {grid}x{grid} collage), got "
                         f"{tuple(features.shape)}")
    device = model.target_mean.device
    arrangements = check_arrangements(torch.as_tensor(arrangements).to(device), grid)
    features = features.to(device=device, dtype=torch.float32)
    x, edge_index, batch = _batch_inputs(features.expand(arrangements.shape[0], n, -1), arrangements, grid,
                                         rows_only)
    was_training = model.training
    model.eval()
    try:
        return model.destandardise(model(x, edge_index, batch, arrangements.shape[0]))
    finally:
        model.train(was_training)


def _check_training_inputs(features: Tensor, arrangements: Tensor, accuracy: Tensor, grid: int) -> Tensor:
    n = grid * grid
    if features.ndim != 3 or features.shape[1] != n:
        raise ValueError(f"features must be [N, {n}, D] (N collages of {grid}x{grid} images), got "
                         f"{tuple(features.shape)}")
    arrangements = check_arrangements(arrangements, grid)
    if arrangements.shape[0] != features.shape[0] or accuracy.shape != (features.shape[0],):
        raise ValueError(f"features {tuple(features.shape)}, arrangements {tuple(arrangements.shape)} and accuracy "
                         f"{tuple(accuracy.shape)} must describe the same N collages ([N, n, D], [N, n], [N])")
    if not torch.isfinite(accuracy).all():
        raise ValueError("accuracy holds NaN or inf; each collage needs its mean per-tile correctness in [0, 1]")
    return arrangements


def train_predictor(features: Tensor, arrangements: Tensor, accuracy: Tensor, grid: int, epochs: int = 500,
                    seed: int = 777, lr: float = 1e-3, weight_decay: float = 0.01, batch_size: int = 512,
                    val_fraction: float = 0.1, *, rows_only: bool = False, device: str | torch.device = "cpu",
                    **model_kwargs: Any) -> tuple[CollageAccuracyPredictor, dict[str, Any]]:
    """Train a :class:`CollageAccuracyPredictor` as the official scripts do and return it with its history.

    The target is each collage's mean correctness ``accuracy [N]`` standardised by the mean and (unbiased) std over
    *all* N collages (before the split, as ``dataset.data.y`` is); ``int(N * (1 - val_fraction))`` collages train
    and the rest validate (a seeded random split); MSE loss, Adam(lr, weight_decay), shuffled mini-batches, every
    epoch; the model after the last epoch is returned (the official weights are ``499.pth``). ``seed`` fixes the
    initialisation, split and shuffling without touching the global RNG. ``device``: where the model and data live
    (the official scripts train on ``cuda:0``; the split and shuffling are drawn on the CPU either way).

    History: ``train_loss`` (mean batch MSE per epoch, standardised), ``val_loss`` (MSE on the validation
    collages, standardised), ``val_mae`` (the official "Validation MAE": mean ``|pred - y|`` in accuracy units),
    ``mean``, ``std``, ``num_train``, ``num_val``.
    """
    arrangements = _check_training_inputs(features, arrangements, accuracy, grid)
    num = features.shape[0]
    if num < 2 or epochs < 1:
        raise ValueError(f"training needs at least 2 collages and 1 epoch, got {num} collages and {epochs} epochs")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    target = accuracy.double()
    mean, std = float(target.mean()), float(target.std())
    if not std > 0:
        raise ValueError(f"all {num} collages have the same accuracy {mean:.4f}; the standardised target is "
                         "undefined (std 0): record collages whose correctness varies")
    y = ((target - mean) / std).float().to(device)
    features, arrangements = features.float().to(device), arrangements.to(device)
    generator = torch.Generator().manual_seed(seed)
    num_train = int(num * (1.0 - val_fraction))
    if num_train < 1:
        raise ValueError(f"val_fraction {val_fraction} leaves no training collage out of {num}")
    split = torch.randperm(num, generator=generator)
    train_idx, val_idx = split[:num_train], split[num_train:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CollageAccuracyPredictor(in_dim=features.shape[2], **model_kwargs).to(device)
    model.target_mean.fill_(mean)
    model.target_std.fill_(std)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history: dict[str, Any] = {"train_loss": [], "val_loss": [], "val_mae": [], "mean": mean, "std": std,
                               "num_train": num_train, "num_val": int(val_idx.numel())}

    def forward(idx: Tensor) -> Tensor:
        idx = idx.to(device)
        x, edge_index, batch = _batch_inputs(features[idx], arrangements[idx], grid, rows_only)
        return model(x, edge_index, batch, idx.numel())

    for _ in range(epochs):
        model.train()
        losses = []
        order = train_idx[torch.randperm(num_train, generator=generator)]
        for start in range(0, num_train, batch_size):
            idx = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = F.mse_loss(forward(idx), y[idx.to(device)])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history["train_loss"].append(sum(losses) / len(losses))
        if val_idx.numel():
            model.eval()
            with torch.no_grad():
                pred = torch.cat([forward(val_idx[s:s + batch_size]) for s in range(0, val_idx.numel(), batch_size)])
            target_val = y[val_idx.to(device)]
            history["val_loss"].append(F.mse_loss(pred, target_val).item())
            history["val_mae"].append((pred - target_val).abs().mean().item() * std)
    model.eval()
    if any(not math.isfinite(v) for v in history["train_loss"]):
        raise ValueError("training diverged (a NaN or inf loss); lower lr or check the features for NaN/inf")
    return model, history
