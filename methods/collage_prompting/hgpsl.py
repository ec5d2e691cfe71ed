"""HGP-SL pooling with structure learning (Zhang et al., 2019) as CollagePrompt's predictor uses it, on current PyG.

The official predictor (``baseline/lcp/util/layers.py``) runs on torch-geometric 1.3 with torch-scatter and
torch-sparse; this is a re-implementation with ``torch_geometric.utils`` (``scatter``, ``softmax``, ``coalesce``,
``add_remaining_self_loops``) and ``torch_geometric.nn.pool.select.topk``, keeping the official semantics where they
are unusual, so the official weights give the official outputs:

- messages go from ``edge_index[0]`` (source) to ``edge_index[1]`` (target), and the symmetric normalisation uses
  the *source-side* weighted degree (``deg = scatter(w, row)``), also on the asymmetric learned graph;
- the node information score is ``|| x - D^-1/2 A^T D^-1/2 x ||_1`` per node, with existing self-loops kept in
  ``A`` and in the degree (``NodeInformationScore``);
- structure learning scores every ordered pair of kept nodes of a graph (self-pairs included) with
  ``leaky_relu(att . [x_i || x_j], 0.2) + lamb * A_induced[i, j]`` and normalises over each source node with
  softmax or sparsemax; exact zeros are dropped (sparsemax makes many).

One deliberate difference: scores that agree to :data:`TIE_TOLERANCE` (relative to the graph's largest) count as
tied and the earlier node wins. In a 2x2 collage the second pooling (2 nodes -> 1) always compares two scores that
are mathematically equal (the two residuals are exact negatives of each other), so the official code keeps whichever
node float rounding favours; here the choice is deterministic and the same in a batch and alone.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.pool.connect.filter_edges import filter_adj
from torch_geometric.nn.pool.select.topk import topk
from torch_geometric.utils import add_remaining_self_loops, coalesce, cumsum, scatter, softmax


#: relative difference under which two information scores count as tied (the earlier node is kept)
TIE_TOLERANCE = 1e-5


def sparsemax(src: Tensor, index: Tensor, num_segments: int) -> Tensor:
    """Sparsemax (Martins & Astudillo, 2016) of ``src`` within each group ``index`` (values in ``[0, num_segments)``).

    ``out_e = max(z_e - tau_g, 0)`` where ``z`` is ``src`` minus its group maximum and ``tau_g`` is the threshold
    that makes each group sum to 1: with ``z`` sorted descending, ``k`` = the largest rank with ``1 + k z_(k) >
    sum_{j<=k} z_(j)`` and ``tau = (sum_{j<=k} z_(j) - 1) / k``. Differentiable through autograd (the gradient is
    sparsemax's Jacobian: ``delta_ij - 1/k`` on the support).
    """
    if src.numel() == 0:
        return src
    group_max = scatter(src.detach(), index, dim=0, dim_size=num_segments, reduce="max")
    z = src - group_max[index]
    # group-major, value-descending order (two stable sorts)
    by_value = torch.argsort(z.detach(), descending=True, stable=True)
    order = by_value[torch.argsort(index[by_value], stable=True)]
    z_sorted, group = z[order], index[order]
    counts = scatter(torch.ones_like(index), index, dim=0, dim_size=num_segments, reduce="sum")
    start = cumsum(counts)[:-1]
    rank = torch.arange(1, z.numel() + 1, device=z.device) - start[group]
    running = torch.cumsum(z_sorted, 0)
    before_group = running[start.clamp(max=z.numel() - 1)] - z_sorted[start.clamp(max=z.numel() - 1)]
    group_cumsum = running - before_group[group]
    support = rank.to(z.dtype) * z_sorted > group_cumsum - 1
    size = scatter(support.long(), group, dim=0, dim_size=num_segments, reduce="sum").clamp(min=1)
    last = (start + size - 1).clamp(max=z.numel() - 1)
    tau = (group_cumsum[last] - 1) / size.to(z.dtype)
    return torch.clamp(z - tau[index], min=0)


def _source_normalised(edge_index: Tensor, edge_weight: Tensor, num_nodes: int) -> Tensor:
    """``d_src^-1/2 * w * d_dst^-1/2`` per edge, with ``d`` the weighted degree summed over *source* nodes (the
    official ``GCN.norm``); isolated nodes get 0 instead of inf."""
    row, col = edge_index
    deg = scatter(edge_weight, row, dim=0, dim_size=num_nodes, reduce="sum")
    inv_sqrt = deg.pow(-0.5)
    inv_sqrt = inv_sqrt.masked_fill(torch.isinf(inv_sqrt), 0.0)
    return inv_sqrt[row] * edge_weight * inv_sqrt[col]


def _unit_weights(edge_index: Tensor, dtype: torch.dtype) -> Tensor:
    return torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)


class WeightedGCN(nn.Module):
    """The official ``GCN`` layer used after each pooling: ``out = D^-1/2 A^T D^-1/2 (x W) + b`` over the given
    (learned, weighted) edges, no self-loops added (structure learning already scores every self-pair).

    Parameters sit where current PyG's ``GCNConv`` keeps them (``lin.weight`` ``[out, in]``, ``bias``).
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.xavier_uniform_(self.lin.weight)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        x = self.lin(x)
        weight = _unit_weights(edge_index, x.dtype) if edge_weight is None else edge_weight
        norm = _source_normalised(edge_index, weight, x.size(0))
        out = scatter(norm.unsqueeze(1) * x[edge_index[0]], edge_index[1], dim=0, dim_size=x.size(0), reduce="sum")
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"


def information_score(x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
    """HGP-SL's node information score ``|| x_i - (D^-1/2 A^T D^-1/2 x)_i ||_1``: how badly a node is predicted
    by its neighbours (existing self-loops stay in ``A`` and the degree, as the official ``NodeInformationScore``)."""
    weight = _unit_weights(edge_index, x.dtype) if edge_weight is None else edge_weight
    norm = _source_normalised(edge_index, weight, x.size(0))
    smoothed = scatter(norm.unsqueeze(1) * x[edge_index[0]], edge_index[1], dim=0, dim_size=x.size(0), reduce="sum")
    return (x - smoothed).abs().sum(dim=1)


def tie_broken_score(score: Tensor, batch: Tensor) -> Tensor:
    """``score`` as distinct float64 keys for ``topk``: quantised to :data:`TIE_TOLERANCE` of the graph's largest
    absolute score, ties ordered by node position (earlier first), so near-equal scores never select by rounding."""
    num_graphs = int(batch.max()) + 1
    sizes = scatter(torch.ones_like(batch), batch, dim=0, dim_size=num_graphs, reduce="sum")
    local = torch.arange(batch.numel(), device=batch.device) - cumsum(sizes)[:-1][batch]
    scale = scatter(score.detach().abs(), batch, dim=0, dim_size=num_graphs, reduce="max")[batch]
    scale = scale.double().clamp(min=torch.finfo(torch.float64).tiny)
    quantised = torch.round(score.detach().double() / scale / TIE_TOLERANCE)
    span = int(sizes.max()) + 1
    return quantised * span + (span - 1 - local).double()


def _all_pairs(batch: Tensor) -> tuple[Tensor, Tensor]:
    """Every ordered pair ``(i, j)`` of nodes in the same graph (self-pairs included), row-major, for a ``batch``
    vector that is grouped by graph; and, per node ``i``, the offset that puts pair ``(i, j)`` at ``offset[i] + j``."""
    num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    sizes = scatter(torch.ones_like(batch), batch, dim=0, dim_size=num_graphs, reduce="sum")
    node_start = cumsum(sizes)[:-1][batch]
    per_node = sizes[batch]
    first = cumsum(per_node)[:-1]
    row = torch.repeat_interleave(torch.arange(batch.numel(), device=batch.device), per_node)
    offset = torch.arange(row.numel(), device=batch.device) - first[row]
    return torch.stack([row, node_start[row] + offset]), first - node_start


def _two_hop(edge_index: Tensor, edge_attr: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """Edges of ``A`` and ``A^2`` (self-loops from ``i -> j -> i`` included); edges only two hops away get weight 0,
    edges of ``A`` keep theirs (the official ``TwoHopNeighborhood``)."""
    row, col = edge_index
    order = torch.argsort(row, stable=True)
    targets = col[order]  # out-neighbours, grouped by source
    out_degree = scatter(torch.ones_like(row), row, dim=0, dim_size=num_nodes, reduce="sum")
    start = cumsum(out_degree)[:-1]
    fan = out_degree[col]  # each edge (i, j) continues along j's out-edges
    edge = torch.repeat_interleave(torch.arange(row.numel(), device=row.device), fan)
    step = torch.arange(edge.numel(), device=row.device) - cumsum(fan)[:-1][edge]
    hop = torch.stack([row[edge], targets[start[col[edge]] + step]])
    index = torch.cat([edge_index, hop], dim=1)
    attr = torch.cat([edge_attr, torch.full((hop.size(1),), float("inf"), dtype=edge_attr.dtype,
                                            device=edge_attr.device)])
    index, attr = coalesce(index, attr, num_nodes, reduce="min")
    return index, attr.masked_fill(torch.isinf(attr), 0.0)


class HGPSLPool(nn.Module):
    """Hierarchical graph pooling with structure learning: keep the ``ceil(ratio * n)`` nodes per graph with the
    largest information score, then learn the pooled graph's edges (see the module docstring).

    Args:
        in_channels: node feature size.
        ratio: fraction of nodes kept per graph (``k = ceil(ratio * n)``).
        sample: structure-learn only among 2-hop neighbours of the original graph (the official fast mode for
            large graphs) instead of all pairs of kept nodes.
        sparse: sparsemax instead of softmax for the learned edge weights.
        sl: learn the structure at all; without it the pooled graph is the induced subgraph.
        lamb: weight of the induced (original) edges added to the attention logits.
        negative_slope: leaky-ReLU slope of the attention.
    """

    def __init__(self, in_channels: int, ratio: float = 0.8, sample: bool = False, sparse: bool = False,
                 sl: bool = True, lamb: float = 1.0, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.in_channels, self.ratio, self.sample, self.sparse = in_channels, ratio, sample, sparse
        self.sl, self.lamb, self.negative_slope = sl, lamb, negative_slope
        self.att = nn.Parameter(torch.empty(1, 2 * in_channels))
        nn.init.xavier_uniform_(self.att)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None,
                batch: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
        """Pooled ``(x, edge_index, edge_attr, batch)``; ``batch`` must be grouped by graph (a PyG ``Batch`` is)."""
        if batch is None:
            batch = edge_index.new_zeros(x.size(0))
        num_nodes = x.size(0)
        score = information_score(x, edge_index, edge_attr)
        perm = topk(tie_broken_score(score, batch), self.ratio, batch)
        original_x, x, batch = x, x[perm], batch[perm]
        induced_index, induced_attr = filter_adj(edge_index, edge_attr, perm, num_nodes=num_nodes)
        if not self.sl:
            return x, induced_index, induced_attr, batch

        source, target = self.att[0, :self.in_channels], self.att[0, self.in_channels:]
        if self.sample:
            weight = _unit_weights(edge_index, x.dtype) if edge_attr is None else edge_attr
            hop_index, hop_attr = _two_hop(edge_index, weight, original_x.size(0))
            pair_index, pair_attr = filter_adj(hop_index, hop_attr, perm, num_nodes=num_nodes)
            pair_index, pair_attr = add_remaining_self_loops(pair_index, pair_attr, 0.0, x.size(0))
            pair_index, pair_attr = coalesce(pair_index, pair_attr, x.size(0))
            row, col = pair_index
            logits = F.leaky_relu(x[row] @ source + x[col] @ target, self.negative_slope) + pair_attr * self.lamb
            keep = logits != 0  # the official dense round trip drops exact zeros before normalising
            pair_index, logits = pair_index[:, keep], logits[keep]
        else:
            pair_index, first = _all_pairs(batch)
            row, col = pair_index
            logits = F.leaky_relu(x[row] @ source + x[col] @ target, self.negative_slope)
            induced_row, induced_col = induced_index
            weight = _unit_weights(induced_index, x.dtype) if induced_attr is None else induced_attr
            position = first[induced_row] + induced_col
            logits = logits.index_put((position,), logits[position] + weight * self.lamb)
        row = pair_index[0]
        if self.sparse:
            edge_weight = sparsemax(logits, row, x.size(0))
        else:
            edge_weight = softmax(logits, row, num_nodes=x.size(0))
        keep = edge_weight != 0
        return x, pair_index[:, keep], edge_weight[keep], batch

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, ratio={self.ratio}, sample={self.sample}, sparse={self.sparse}, sl={self.sl}, "
                f"lamb={self.lamb}")
