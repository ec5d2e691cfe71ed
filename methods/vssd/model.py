"""VSSD v1 (arXiv 2407.18559): a hierarchical vision backbone whose stages 1-3 mix tokens with NC-SSD.

NC-SSD is Mamba2's state space duality made non-causal: every token writes into one global state per head,
weighted by its Δ-derived factor m, and every token reads from it. Stage 4 uses standard multi-head attention.
Module and parameter names follow the official v1 code (``classification/models/mamba2.py``: ``VMAMBA2``,
``Backbone_VMAMBA2``), so official ``vssd_*`` checkpoints load with ``strict=True``. Pure PyTorch: no
mamba_ssm, Triton or einops (the released configs only use the pure-PyTorch NC-SSD path).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp, trunc_normal_
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from bench.checkpoint import CheckpointError, extract_state_dict, load_checkpoint_file, mismatch_message
from bench.io import sha256_file

__all__ = ["VSSD", "VSSDBackbone", "VSSD_VARIANTS", "NCSSD", "StandardAttention", "VSSDBlock", "Stem",
           "PatchMerging", "nc_ssd", "load_vssd_weights", "select_state_dict"]

_logger = logging.getLogger(__name__)

CHECKPOINT_KEYS = ("auto", "model", "model_ema")

# Official configs ``classification/configs/vssd/vssd_*_e300.yaml``. The model builder reads
# ``MODEL.VMAMBA2.DROP_PATH_RATE``; Micro's yaml sets only ``MODEL.DROP_PATH_RATE: 0.1``, so Micro trained with
# the VMAMBA2 default 0.2 (Tiny's yaml has 0.2 in both places).
VSSD_VARIANTS: dict[str, dict[str, Any]] = {
    "vssd_micro": dict(embed_dim=48, depths=(2, 2, 8, 4), num_heads=(2, 4, 8, 16), d_state=48, drop_path_rate=0.2),
    "vssd_tiny": dict(embed_dim=64, depths=(2, 4, 8, 4), num_heads=(2, 4, 8, 16), d_state=64, drop_path_rate=0.2),
    "vssd_small": dict(embed_dim=64, depths=(3, 4, 21, 5), num_heads=(2, 4, 8, 16), d_state=64, drop_path_rate=0.4),
    "vssd_base": dict(embed_dim=96, depths=(3, 4, 21, 5), num_heads=(3, 6, 12, 24), d_state=64, drop_path_rate=0.6),
}


def nc_ssd(x: Tensor, B: Tensor, C: Tensor, weight: Tensor, D: Tensor) -> Tensor:
    """Non-causal SSD in its linear (state) form: Y = C·(Bᵀ·(X ⊙ m)) + D ⊙ X, per head.

    x: (batch, L, heads, headdim) values X; B, C: (batch, L, d_state) keys/queries shared by all heads (one
    group); weight: (batch, L, heads) per-token factor m (Δ·exp(A_log) with positive dA); D: (heads,) skip.
    Returns (batch, L, heads, headdim). No causal mask, no scan, no normalisation by Σm (as in the v1 code);
    costs O(L·d_state·headdim) per head instead of the quadratic form's O(L²·(d_state + headdim)).
    """
    state = torch.einsum("bln,blhp->bhnp", B, x * weight.unsqueeze(-1))  # one global state per head
    return torch.einsum("bln,bhnp->blhp", C, state) + x * D[:, None]


class NCSSD(nn.Module):
    """NC-SSD token mixer (official ``Mamba2`` with ``linear_attn_duality=True``, ``ngroups=1``) on (B, L, C)."""

    def __init__(self, dim: int, num_heads: int, d_state: int = 64, expansion: int = 2, d_conv: int = 3,
                 positive_dA: bool = True, A_init_range: tuple[float, float] = (1.0, 16.0), dt_min: float = 1e-3,
                 dt_max: float = 0.1, dt_init_floor: float = 1e-4) -> None:
        super().__init__()
        self.d_inner = expansion * dim
        self.headdim = self.d_inner // num_heads
        if self.headdim * num_heads != self.d_inner:
            raise ValueError(f"d_inner {self.d_inner} is not divisible by {num_heads} heads")
        self.nheads, self.d_state, self.positive_dA = num_heads, d_state, positive_dA
        # in_proj order: [z, x, B, C, dt]; the depth-wise 2-D conv runs over [x, B, C]
        self.in_proj = nn.Linear(dim, 2 * self.d_inner + 2 * d_state + num_heads, bias=False)
        conv_dim = self.d_inner + 2 * d_state
        self.conv2d = nn.Conv2d(conv_dim, conv_dim, d_conv, padding=(d_conv - 1) // 2, groups=conv_dim, bias=True)
        self.act = nn.SiLU()
        # Mamba2 inits: Δ log-uniform in [dt_min, dt_max] stored through the inverse softplus; A ~ U(A_init_range)
        dt = torch.exp(torch.rand(num_heads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.empty(num_heads).uniform_(*A_init_range)))
        self.D = nn.Parameter(torch.ones(num_heads))
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True  # as the official code marks them
        self.norm = nn.LayerNorm(self.d_inner)  # v1 replaced Mamba2's gated RMSNorm by a plain LayerNorm
        self.out_proj = nn.Linear(self.d_inner, dim, bias=False)

    def forward(self, u: Tensor, H: int, W: int) -> Tensor:
        batch, L, _ = u.shape
        z, xBC, dt = torch.split(self.in_proj(u), [self.d_inner, self.d_inner + 2 * self.d_state, self.nheads], -1)
        dt = F.softplus(dt + self.dt_bias)  # Δ: (batch, L, heads)
        xBC = self.act(self.conv2d(xBC.transpose(1, 2).reshape(batch, -1, H, W))).flatten(2).transpose(1, 2)
        x, B, C = torch.split(xBC, [self.d_inner, self.d_state, self.d_state], dim=-1)
        dA = dt * -torch.exp(self.A_log)  # Δ·A with A < 0
        weight = -dA if self.positive_dA else dA  # ``ssd_positve_dA`` flips the sign so that m > 0
        y = nc_ssd(x.reshape(batch, L, self.nheads, self.headdim), B, C, weight, self.D)
        y = self.norm(y.reshape(batch, L, self.d_inner)) * z  # gate by z itself: no SiLU on z in v1
        return self.out_proj(y)


class StandardAttention(nn.Module):
    """Stage-4 multi-head softmax self-attention (official ``StandardAttention``), head dim = dim / heads."""

    def __init__(self, dim: int, num_heads: int, attn_drop: float = 0.0) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        inner = self.head_dim * num_heads
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim)
        self.attn_drop = attn_drop

    def forward(self, x: Tensor, H: int, W: int) -> Tensor:
        batch, L, _ = x.shape
        q, k, v = self.to_qkv(x).reshape(batch, L, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.to_out(out.transpose(1, 2).reshape(batch, L, -1))


class VSSDBlock(nn.Module):
    """MLLA-style pre-norm block (official ``VMAMBA2Block``): conv position encodings around mixer and MLP."""

    def __init__(self, dim: int, num_heads: int, mixer: str = "nc_ssd", d_state: int = 64, ssd_expansion: int = 2,
                 mlp_ratio: float = 4.0, drop: float = 0.0, drop_path: float = 0.0, positive_dA: bool = True) -> None:
        super().__init__()
        self.cpe1 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim)
        if mixer == "nc_ssd":
            self.attn: nn.Module = NCSSD(dim, num_heads, d_state, ssd_expansion, positive_dA=positive_dA)
        elif mixer == "attention":
            self.attn = StandardAttention(dim, num_heads, attn_drop=drop)
        else:
            raise ValueError(f"unknown mixer {mixer!r}; expected 'nc_ssd' or 'attention'")
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.cpe2 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=drop)

    @staticmethod
    def _cpe(conv: nn.Conv2d, x: Tensor, H: int, W: int) -> Tensor:
        return conv(x.transpose(1, 2).reshape(x.shape[0], -1, H, W)).flatten(2).transpose(1, 2)

    def forward(self, x: Tensor, H: int, W: int) -> Tensor:
        x = x + self._cpe(self.cpe1, x, H, W)
        x = x + self.drop_path(self.attn(self.norm1(x), H, W))
        x = x + self._cpe(self.cpe2, x, H, W)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ConvLayer(nn.Module):
    """Conv2d → optional BatchNorm → optional ReLU (official ``ConvLayer``; keys ``conv``/``norm``)."""

    def __init__(self, in_chans: int, out_chans: int, kernel_size: int = 3, stride: int = 1, padding: int = 0,
                 groups: int = 1, bias: bool = True, norm: bool = True, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, out_chans, kernel_size, stride, padding, groups=groups, bias=bias)
        self.norm = nn.BatchNorm2d(out_chans) if norm else None
        self.act = nn.ReLU() if act else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return self.act(x) if self.act is not None else x


class Stem(nn.Module):
    """Overlapping stride-4 stem: 3×3 s2 → residual pair of 3×3 → 3×3 s2 to 4E → 1×1 to E (NCHW out)."""

    def __init__(self, in_chans: int = 3, embed_dim: int = 96) -> None:
        super().__init__()
        half = embed_dim // 2
        self.conv1 = ConvLayer(in_chans, half, 3, stride=2, padding=1, bias=False)
        self.conv2 = nn.Sequential(ConvLayer(half, half, 3, padding=1, bias=False),
                                   ConvLayer(half, half, 3, padding=1, bias=False, act=False))
        self.conv3 = nn.Sequential(ConvLayer(half, embed_dim * 4, 3, stride=2, padding=1, bias=False),
                                   ConvLayer(embed_dim * 4, embed_dim, 1, bias=False, act=False))

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        return self.conv3(self.conv2(x) + x)


class PatchMerging(nn.Module):
    """Stride-2 downsample between stages: 1×1 to 8C (ReLU) → depth-wise 3×3 s2 (ReLU) → 1×1 + BN to 2C."""

    def __init__(self, dim: int, ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(2 * dim * ratio)
        self.conv = nn.Sequential(ConvLayer(dim, hidden, 1, norm=False),
                                  ConvLayer(hidden, hidden, 3, stride=2, padding=1, groups=hidden, norm=False),
                                  ConvLayer(hidden, 2 * dim, 1, act=False))

    def forward(self, x: Tensor, H: int, W: int) -> tuple[Tensor, int, int]:
        """(B, H·W, C) tokens → (B, ⌈H/2⌉·⌈W/2⌉, 2C) tokens and the new grid size."""
        x = self.conv(x.transpose(1, 2).reshape(x.shape[0], -1, H, W))
        return x.flatten(2).transpose(1, 2), x.shape[-2], x.shape[-1]


class VSSDStage(nn.Module):
    """One resolution level (official ``BasicLayer``): ``blocks`` then an optional ``downsample``."""

    def __init__(self, dim: int, depth: int, num_heads: int, mixer: str, drop_path: Sequence[float],
                 downsample: bool, **block_kwargs: Any) -> None:
        super().__init__()
        self.dim = dim
        self.grad_checkpointing = False
        self.blocks = nn.ModuleList([VSSDBlock(dim, num_heads, mixer, drop_path=drop_path[i], **block_kwargs)
                                     for i in range(depth)])
        self.downsample = PatchMerging(dim) if downsample else None

    def forward_blocks(self, x: Tensor, H: int, W: int) -> Tensor:
        for blk in self.blocks:
            if self.grad_checkpointing and self.training and not torch.jit.is_scripting():
                x = checkpoint(blk, x, H, W, use_reentrant=False)
            else:
                x = blk(x, H, W)
        return x

    def forward(self, x: Tensor, H: int, W: int) -> tuple[Tensor, int, int]:
        x = self.forward_blocks(x, H, W)
        return self.downsample(x, H, W) if self.downsample is not None else (x, H, W)


class VSSD(nn.Module):
    """VSSD classifier (official ``VMAMBA2``): Stem → 4 stages (E, 2E, 4E, 8E) → LayerNorm → avg pool → head.

    Differs from the official class only where it cannot change results: the grid size after each stride-2
    conv is read from the conv output (⌈H/2⌉) instead of floor-halving, so inputs whose sides are not multiples
    of 32 run instead of failing (the backbone wrapper's rule); multiples of 32 are computed identically.
    """

    def __init__(self, embed_dim: int, depths: Sequence[int], num_heads: Sequence[int], d_state: int,
                 ssd_expansion: int = 2, mlp_ratio: float = 4.0, drop_path_rate: float = 0.0,
                 num_classes: int = 1000, in_chans: int = 3, positive_dA: bool = True, drop_rate: float = 0.0,
                 mixers: Sequence[str] = ("nc_ssd", "nc_ssd", "nc_ssd", "attention"),
                 global_pool: str = "avg") -> None:
        super().__init__()
        if len(depths) != len(num_heads) or len(depths) != len(mixers):
            raise ValueError("depths, num_heads and mixers need one entry per stage")
        self.num_classes, self.global_pool = num_classes, global_pool
        self.num_layers = len(depths)
        self.embed_dim = embed_dim
        self.num_features = embed_dim * 2 ** (self.num_layers - 1)
        self.patch_embed = Stem(in_chans, embed_dim)
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()  # stochastic depth decay rule
        self.layers = nn.ModuleList()
        for i, (depth, heads, mixer) in enumerate(zip(depths, num_heads, mixers, strict=True)):
            start = sum(depths[:i])
            self.layers.append(VSSDStage(embed_dim * 2 ** i, depth, heads, mixer, dpr[start:start + depth],
                                         downsample=i < self.num_layers - 1, d_state=d_state,
                                         ssd_expansion=ssd_expansion, mlp_ratio=mlp_ratio, drop=drop_rate,
                                         positive_dA=positive_dA))
        self.norm = nn.LayerNorm(self.num_features)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        """Official init: truncated-normal(0.02) Linear weights, zero biases, unit LayerNorms; convs default."""
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for stage in self.layers:
            stage.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A fresh ``head`` for ``num_classes`` (0: identity, ``forward`` returns pooled features)."""
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = global_pool
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if num_classes > 0:
            self._init_weights(self.head)

    def forward_tokens(self, x: Tensor) -> tuple[Tensor, int, int]:
        """Stem and the four stages: (B, L, 8E) tokens and their grid size, before the final norm."""
        x = self.patch_embed(x)
        H, W = x.shape[-2:]
        x = self.pos_drop(x.flatten(2).transpose(1, 2))
        for stage in self.layers:
            x, H, W = stage(x, H, W)
        return x, H, W

    def forward_features(self, x: Tensor) -> Tensor:
        """Normalised final tokens (B, L, num_features), before pooling (timm convention)."""
        return self.norm(self.forward_tokens(x)[0])

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if self.global_pool == "avg":
            x = x.mean(dim=1)
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class VSSDBackbone(VSSD):
    """Dense-prediction backbone (official ``Backbone_VMAMBA2``/``MM_VSSD``): four NCHW maps at strides 4-32.

    Adds ``outnorm{i}`` LayerNorms on each stage's output before its downsample and drops ``norm``/``head``.
    Any input size works: each level is ⌈H/2⌉ of the previous.
    """

    def __init__(self, out_indices: Sequence[int] = (0, 1, 2, 3), pretrained: str | Path | None = None,
                 key: str = "model", **kwargs: Any) -> None:
        kwargs.setdefault("num_classes", 0)
        super().__init__(**kwargs)
        self.out_indices = tuple(out_indices)
        for i in self.out_indices:
            self.add_module(f"outnorm{i}", nn.LayerNorm(self.layers[i].dim))
        del self.norm, self.head
        self.load_report: dict[str, Any] | None = self.load_pretrained(pretrained, key) if pretrained else None

    def load_pretrained(self, path: str | Path, key: str = "model", strict: bool = True) -> dict[str, Any]:
        """Load classification weights ``ckpt[key]`` with ``strict=False``, as the official wrapper does.

        ``outnorm*`` keys are expected to be missing and ``norm.*``/``head.*`` to be unexpected; both are
        reported. Unlike the official wrapper (which prints and carries on with random weights), any other
        mismatch raises ``CheckpointError`` when ``strict``.
        """
        checkpoint_obj = _read_checkpoint(path)
        if key not in CHECKPOINT_KEYS[1:] or not isinstance(checkpoint_obj, dict) or key not in checkpoint_obj:
            available = sorted(checkpoint_obj) if isinstance(checkpoint_obj, dict) else []
            raise CheckpointError(f"{path} has no {key!r} entry (top-level keys: {available[:10]})")
        result = self.load_state_dict(_strip_module_prefix(checkpoint_obj[key]), strict=False)
        missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
        bad_missing = [k for k in missing if not k.startswith("outnorm")]
        bad_unexpected = [k for k in unexpected if not k.startswith(("norm.", "head."))]
        _logger.info("VSSD backbone from %s[%r]: missing %s (expected: outnorm*), unexpected %s", path, key,
                     missing, unexpected)
        if strict and (bad_missing or bad_unexpected):
            raise CheckpointError(mismatch_message(path, self, bad_missing, bad_unexpected, hint=VSSD_HINT))
        return {"path": str(path), "sha256": sha256_file(path), "state_dict_key": key, "missing_keys": missing,
                "unexpected_keys": unexpected}

    def forward_features(self, x: Tensor) -> list[Tensor]:
        x = self.patch_embed(x)
        H, W = x.shape[-2:]
        x = self.pos_drop(x.flatten(2).transpose(1, 2))
        outs = []
        for i, stage in enumerate(self.layers):
            x = stage.forward_blocks(x, H, W)
            if i in self.out_indices:
                out = getattr(self, f"outnorm{i}")(x)
                outs.append(out.transpose(1, 2).reshape(x.shape[0], -1, H, W).contiguous())
            if stage.downsample is not None:
                x, H, W = stage.downsample(x, H, W)
        return outs

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.forward_features(x)


# --- checkpoints -------------------------------------------------------------------------------------------


def _read_checkpoint(path: str | Path) -> Any:
    """A ``.pth`` (weights-only unpickling, bench allowlist) or a ``.safetensors`` file, on CPU."""
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import load_file

        if not Path(path).is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        return load_file(str(path), device="cpu")
    return load_checkpoint_file(path)


def _strip_module_prefix(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop a DistributedDataParallel ``module.`` prefix when every key has it."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def select_state_dict(checkpoint_obj: Any, checkpoint_key: str = "auto") -> tuple[dict[str, Tensor], str | None]:
    """The weights in an official checkpoint and the entry they came from (None: a plain state dict).

    ``auto`` takes ``model_ema`` when present (the ``*_best_ema.pth`` files), else ``model``, else the object
    itself; ``model``/``model_ema`` force that entry and fail when it is absent.
    """
    if checkpoint_key not in CHECKPOINT_KEYS:
        raise ValueError(f"checkpoint_key must be one of {CHECKPOINT_KEYS}, got {checkpoint_key!r}")
    keys = ("model_ema", "model") if checkpoint_key == "auto" else (checkpoint_key,)
    if isinstance(checkpoint_obj, dict):
        for key in keys:
            if isinstance(checkpoint_obj.get(key), dict):
                return _strip_module_prefix(checkpoint_obj[key]), key
    if checkpoint_key != "auto":
        available = sorted(checkpoint_obj)[:10] if isinstance(checkpoint_obj, dict) else []
        raise CheckpointError(f"checkpoint has no {checkpoint_key!r} entry (top-level keys: {available})")
    return _strip_module_prefix(extract_state_dict(checkpoint_obj, keys=())), None


VSSD_HINT = "Check the variant (embed_dim, depths, heads, d_state) and that this is a v1 VSSD checkpoint."


def load_vssd_weights(model: VSSD, path: str | Path, checkpoint_key: str = "auto",
                      strict: bool = True) -> dict[str, Any]:
    """Load an official VSSD checkpoint (or plain/``.safetensors`` state dict) into ``model``.

    With ``strict``, any missing or unexpected key raises ``CheckpointError`` listing them. A classifier
    that does not fit ``model.head`` (other ``num_classes``, or none) is not loaded: the head keeps its fresh
    init and the skipped keys are reported under ``reset_keys``. Returns provenance: path, sha256, the entry
    used and the key lists.
    """
    state, used_key = select_state_dict(_read_checkpoint(path), checkpoint_key)
    own_head = model.head.state_dict() if isinstance(model.head, nn.Linear) else {}
    reset = [k for k in state if k.startswith("head.")
             and (k[len("head."):] not in own_head or own_head[k[len("head."):]].shape != state[k].shape)]
    if reset:
        _logger.warning("%s: classifier %s does not fit num_classes=%d; keeping a fresh head", path,
                        tuple(state["head.weight"].shape) if "head.weight" in state else "?", model.num_classes)
        state = {k: v for k, v in state.items() if k not in reset}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k not in reset]
    unexpected = list(result.unexpected_keys)
    if strict and (missing or unexpected):
        raise CheckpointError(mismatch_message(path, model, missing, unexpected, hint=VSSD_HINT))
    return {"path": str(path), "sha256": sha256_file(path), "state_dict_key": used_key, "missing_keys": missing,
            "unexpected_keys": unexpected, "reset_keys": reset}


# --- timm registration ----------------------------------------------------------------------------------------


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Evaluation preprocessing of the official repo: resize 256 (bicubic), centre crop 224, ImageNet mean/std."""
    return {"url": "", "num_classes": 1000, "input_size": (3, 224, 224), "pool_size": (7, 7), "crop_pct": 0.875,
            "interpolation": "bicubic", "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
            "first_conv": "patch_embed.conv1.conv", "classifier": "head", "license": "unknown",
            "paper_ids": "arXiv:2407.18559", "origin_url": "https://github.com/YuHengsss/VSSD", **kwargs}


# No download URLs: official weights are local files passed as ``pretrained_file``.
default_cfgs = generate_default_cfgs({name: _cfg() for name in VSSD_VARIANTS})


def _create_vssd(variant: str, pretrained: bool = False, pretrained_file: str | Path | None = None,
                 checkpoint_key: str = "auto", **kwargs: Any) -> VSSD:
    if pretrained and pretrained_file is None:
        raise ValueError(f"{variant}: no download source is registered; pass pretrained_file=<official .pth>")
    model_kwargs = {**VSSD_VARIANTS[variant], **kwargs}
    model = build_model_with_cfg(VSSD, variant, pretrained=False, **model_kwargs)
    if pretrained_file is not None:
        model.load_report = load_vssd_weights(model, pretrained_file, checkpoint_key)
    return model


@register_model
def vssd_micro(pretrained: bool = False, pretrained_file: str | Path | None = None, checkpoint_key: str = "auto",
               **kwargs: Any) -> VSSD:
    """VSSD-Micro: E=48, depths 2-2-8-4, d_state 48 (13.5M parameters, 2.3 GMACs)."""
    return _create_vssd("vssd_micro", pretrained, pretrained_file, checkpoint_key, **kwargs)


@register_model
def vssd_tiny(pretrained: bool = False, pretrained_file: str | Path | None = None, checkpoint_key: str = "auto",
              **kwargs: Any) -> VSSD:
    """VSSD-Tiny: E=64, depths 2-4-8-4 (24.3M parameters, 4.5 GMACs)."""
    return _create_vssd("vssd_tiny", pretrained, pretrained_file, checkpoint_key, **kwargs)


@register_model
def vssd_small(pretrained: bool = False, pretrained_file: str | Path | None = None, checkpoint_key: str = "auto",
               **kwargs: Any) -> VSSD:
    """VSSD-Small: E=64, depths 3-4-21-5 (40.1M parameters, 7.4 GMACs)."""
    return _create_vssd("vssd_small", pretrained, pretrained_file, checkpoint_key, **kwargs)


@register_model
def vssd_base(pretrained: bool = False, pretrained_file: str | Path | None = None, checkpoint_key: str = "auto",
              **kwargs: Any) -> VSSD:
    """VSSD-Base: E=96, depths 3-4-21-5, heads 3-6-12-24 (88.8M parameters, 16.1 GMACs)."""
    return _create_vssd("vssd_base", pretrained, pretrained_file, checkpoint_key, **kwargs)
