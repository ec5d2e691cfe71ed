"""VSSD v1 re-implementation: official parameter counts, state_dict names, FLOPs, NC-SSD algebra, shapes,
checkpoint loading (``model`` vs ``model_ema``) and the dense-prediction backbone."""
from __future__ import annotations

import copy
import functools
import sys
import types
from pathlib import Path

import pytest
import timm
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import bench.methods.vssd.model as vssd_model
from bench.checkpoint import CheckpointError
from bench.methods.vssd import (NCSSD, VSSD, VSSD_VARIANTS, VSSDBackbone, load_vssd_weights,
                                nc_ssd, select_state_dict)

# Derived by instantiating the official v1 classes (classification/models/mamba2.py) with 1000 classes.
OFFICIAL_PARAMS = {"vssd_micro": 13_512_964, "vssd_tiny": 24_270_724, "vssd_small": 40_075_650,
                   "vssd_base": 88_823_151}
OFFICIAL_STATE_KEYS = {"vssd_micro": 379, "vssd_tiny": 421, "vssd_small": 730, "vssd_base": 730}
README_GFLOPS = {"vssd_micro": 2.3, "vssd_tiny": 4.5, "vssd_small": 7.4, "vssd_base": 16.1}  # fvcore, 224²
# torch FlopCounterMode / 2 at 224² (full count of every matmul, norms not counted).
TORCH_GMACS = {"vssd_micro": 2.3874, "vssd_tiny": 4.6638, "vssd_small": 7.7089, "vssd_base": 16.6488}


@functools.lru_cache(maxsize=None)
def meta_model(name: str) -> VSSD:
    """A 1000-class variant on the meta device: shapes only, no memory or init cost (shared, do not modify)."""
    with torch.device("meta"):
        return VSSD(**VSSD_VARIANTS[name]).eval()


@pytest.fixture(scope="module")
def micro() -> dict:
    """Two differently initialised 1000-class Micro models (the 'raw' and the 'EMA' weights), an input, logits."""
    models = {}
    for seed, key in ((1, "model"), (2, "model_ema")):
        torch.manual_seed(seed)
        models[key] = VSSD(**VSSD_VARIANTS["vssd_micro"]).eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = {key: model(x) for key, model in models.items()}
    return {"models": models, "state": {k: m.state_dict() for k, m in models.items()}, "x": x, "logits": out}


def test_variants_are_the_four_official_ones():
    assert set(VSSD_VARIANTS) == set(OFFICIAL_PARAMS)


@pytest.mark.parametrize("name", list(OFFICIAL_PARAMS))
def test_parameter_counts_match_official(name: str):
    model = meta_model(name)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMS[name]
    assert len(model.state_dict()) == OFFICIAL_STATE_KEYS[name]


def test_state_dict_names_follow_official_layout():
    sd = meta_model("vssd_micro").state_dict()  # E=48, d_state=48, heads 2-4-8-16
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["patch_embed.conv1.conv.weight"] == (24, 3, 3, 3)
    for key in ("patch_embed.conv1.norm.running_var", "patch_embed.conv2.0.conv.weight",
                "patch_embed.conv2.1.norm.num_batches_tracked", "patch_embed.conv3.0.conv.weight"):
        assert key in sd
    assert shapes["patch_embed.conv3.1.conv.weight"] == (48, 192, 1, 1)
    assert not any(k.startswith("patch_embed.") and k.endswith("conv.bias") for k in sd)  # stem convs: no bias
    block = "layers.0.blocks.1."
    for name in ("cpe1.weight", "cpe1.bias", "norm1.weight", "cpe2.bias", "norm2.bias", "mlp.fc1.weight",
                 "mlp.fc2.bias"):
        assert block + name in sd
    mixer = {k[len(block + "attn."):]: v for k, v in shapes.items() if k.startswith(block + "attn.")}
    # in_proj rows: z (96) + x (96) + B (48) + C (48) + dt (2 heads); depth-wise conv over x, B, C
    assert mixer == {"in_proj.weight": (290, 48), "conv2d.weight": (192, 1, 3, 3), "conv2d.bias": (192,),
                     "dt_bias": (2,), "A_log": (2,), "D": (2,), "norm.weight": (96,), "norm.bias": (96,),
                     "out_proj.weight": (48, 96)}
    mhsa = {k[len("layers.3.blocks.0.attn."):]: v for k, v in shapes.items() if k.startswith("layers.3.blocks.0.attn.")}
    assert mhsa == {"to_qkv.weight": (1152, 384), "to_out.weight": (384, 384), "to_out.bias": (384,)}
    assert shapes["layers.0.downsample.conv.0.conv.weight"] == (384, 48, 1, 1)
    assert shapes["layers.0.downsample.conv.1.conv.weight"] == (384, 1, 3, 3)
    assert shapes["layers.0.downsample.conv.2.conv.weight"] == (96, 384, 1, 1)
    assert "layers.2.downsample.conv.2.norm.running_mean" in sd and "layers.2.downsample.conv.0.conv.bias" in sd
    assert not any(".downsample.conv.0.norm" in k or ".downsample.conv.1.norm" in k for k in sd)
    assert not any(k.startswith("layers.3.downsample") for k in sd)
    assert shapes["norm.weight"] == (384,) and shapes["head.weight"] == (1000, 384)
    assert {k.split(".")[0] for k in sd} == {"patch_embed", "layers", "norm", "head"}


def fvcore_convention_gmacs(model: VSSD, size: int = 224) -> tuple[float, float]:
    """(torch total / 2, the same re-weighted the way fvcore counts the official model) in G.

    FlopCounterMode counts 2 per multiply-add; fvcore and the papers count 1. fvcore also differs in two ways:
    its ``aten::matmul`` rule is prod(lhs)·rhs[-1], which drops the head dimension that the official NC-SSD
    matmuls broadcast over ((B,1,N,L)@(B,H,L,P)), so it sees 1/H of them; and it adds 5·numel per LayerNorm
    and 2·numel per eval-mode BatchNorm, which FlopCounterMode ignores.
    """
    norm_numel = {"ln": 0, "bn": 0}

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        norm_numel["ln" if isinstance(module, nn.LayerNorm) else "bn"] += inputs[0].numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d))]
    tokens = []
    hooks.append(model.norm.register_forward_hook(lambda module, inputs, output: tokens.append(output.shape)))
    counter = FlopCounterMode(display=False)
    with torch.device("meta"), torch.no_grad(), counter:
        logits = model(torch.empty(1, 3, size, size))
    for h in hooks:
        h.remove()
    # the forward doubles as a shape check of every variant at 224²
    assert tokens == [(1, (size // 32) ** 2, model.num_features)] and logits.shape == (1, model.num_classes)
    counts = counter.get_flop_counts()
    total = counter.get_total_flops() / 2
    fvcore = total + 5 * norm_numel["ln"] + 2 * norm_numel["bn"]
    for name, module in model.named_modules():
        if isinstance(module, NCSSD):  # the two nc_ssd einsums: mixer minus its projections and conv
            def macs(suffix: str, _name: str = name) -> float:
                return sum(counts.get(f"VSSD.{_name}{suffix}", {}).values()) / 2

            core = macs("") - macs(".in_proj") - macs(".out_proj") - macs(".conv2d")
            fvcore -= core * (1 - 1 / module.nheads)
    return total / 1e9, fvcore / 1e9


@pytest.mark.parametrize("name", list(README_GFLOPS))
def test_flops_at_224(name: str):
    torch_gmacs, fvcore_gmacs = fvcore_convention_gmacs(meta_model(name))
    assert fvcore_gmacs == pytest.approx(README_GFLOPS[name], rel=0.02)
    # the full count is 3.4-4.6% above the README: the NC-SSD head dimension fvcore does not see
    assert torch_gmacs == pytest.approx(TORCH_GMACS[name], rel=1e-3)


def test_nc_ssd_equals_quadratic_form():
    g = torch.Generator().manual_seed(0)
    batch, L, heads, headdim, d_state = 2, 37, 3, 5, 7
    x = torch.randn(batch, L, heads, headdim, generator=g, dtype=torch.float64)
    B, C = (torch.randn(batch, L, d_state, generator=g, dtype=torch.float64) for _ in range(2))
    D = torch.randn(heads, generator=g, dtype=torch.float64)
    for weight in (torch.rand(batch, L, heads, generator=g, dtype=torch.float64),
                   -torch.rand(batch, L, heads, generator=g, dtype=torch.float64)):
        y = nc_ssd(x, B, C, weight, D)
        # Y_i = Σ_j (C_i·B_j) m_j X_j + D X_i : the L×L "attention" form, every pair, no causal mask
        direct = torch.zeros_like(x)
        for i in range(L):
            for j in range(L):
                direct[:, i] += (C[:, i] * B[:, j]).sum(-1)[:, None, None] * weight[:, j, :, None] * x[:, j]
            direct[:, i] += D[:, None] * x[:, i]
        torch.testing.assert_close(y, direct, rtol=1e-12, atol=1e-12)


def quadratic_nc_ssd(x, B, C, weight, D):
    scores = torch.einsum("bin,bjn->bij", C, B)
    return torch.einsum("bij,bjh,bjhp->bihp", scores, weight, x) + x * D[:, None]


def test_mixer_computes_nc_ssd_with_positive_dA(monkeypatch: pytest.MonkeyPatch):
    torch.manual_seed(0)
    mixer = NCSSD(dim=16, num_heads=4, d_state=8).double()
    u = torch.randn(2, 6 * 5, 16, dtype=torch.float64)
    seen = {}

    def spy(x, B, C, weight, D):
        seen["weight"] = weight
        return quadratic_nc_ssd(x, B, C, weight, D)

    linear = mixer(u, 6, 5)
    monkeypatch.setattr(vssd_model, "nc_ssd", spy)
    torch.testing.assert_close(mixer(u, 6, 5), linear, rtol=1e-10, atol=1e-12)
    assert (seen["weight"] > 0).all()  # m = Δ·exp(A_log)
    dt = torch.nn.functional.softplus(mixer.in_proj(u)[..., -4:] + mixer.dt_bias)
    torch.testing.assert_close(seen["weight"], dt * torch.exp(mixer.A_log))
    # official inits: A in [1, 16], Δ = softplus(dt_bias) in [1e-3, 0.1], D = 1
    assert ((mixer.A_log.exp() >= 1) & (mixer.A_log.exp() <= 16)).all()
    dt0 = torch.nn.functional.softplus(mixer.dt_bias)
    assert ((dt0 >= 1e-3 - 1e-9) & (dt0 <= 0.1 + 1e-9)).all() and (mixer.D == 1).all()


def check_shapes(model: VSSD, in_chans: int = 3, sizes: tuple[int, ...] = (64, 96)) -> None:
    width = model.num_features
    with torch.no_grad():
        for size in sizes:
            tokens = model.forward_features(torch.randn(2, in_chans, size, size))
            assert tokens.shape == (2, (size // 32) ** 2, width)
            assert model.forward_head(tokens, pre_logits=True).shape == (2, width)
            assert model.forward_head(tokens).shape == (2, model.num_classes)


@pytest.mark.parametrize("name", ["vssd_micro", "vssd_tiny"])
def test_output_shapes(name: str):
    """All four variants are shape-checked at 224² on the meta device by the FLOPs test; these run for real."""
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=10, in_chans=1).eval()
    assert model.num_features == VSSD_VARIANTS[name]["embed_dim"] * 8 and model.num_classes == 10
    assert model.patch_embed.conv1.conv.in_channels == 1
    check_shapes(model, in_chans=1)
    cfg = timm.data.resolve_data_config({}, model=model)  # the official evaluation preprocessing
    assert cfg["crop_pct"] == 0.875 and cfg["interpolation"] == "bicubic" and cfg["input_size"][1:] == (224, 224)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vssd_small", "vssd_base"])
def test_output_shapes_large_variants(name: str):
    torch.manual_seed(0)
    check_shapes(timm.create_model(name, num_classes=5).eval())


def test_timm_entrypoint_options(micro: dict):
    assert set(timm.list_models("vssd_*")) >= set(VSSD_VARIANTS)
    with pytest.raises(ValueError, match="pretrained_file"):
        timm.create_model("vssd_micro", pretrained=True)
    headless = copy.deepcopy(micro["models"]["model"])
    headless.reset_classifier(0)
    with torch.no_grad():
        assert headless(micro["x"]).shape == (1, 384)


def test_any_input_size(micro: dict):
    """The official classifier floor-halves H, W and fails unless sides are multiples of 32; ours does not."""
    with torch.no_grad():
        assert micro["models"]["model"].forward_features(torch.randn(1, 3, 72, 88)).shape == (1, 3 * 3, 384)


def test_backward_reaches_every_parameter(micro: dict):
    model = copy.deepcopy(micro["models"]["model"]).train()
    model(torch.randn(2, 3, 64, 64)).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_eval_is_deterministic_and_positive_dA_matters(micro: dict):
    model, x = micro["models"]["model"], micro["x"]
    with torch.no_grad():
        first, second = model(x), model(x)
    assert torch.equal(first, second) and torch.equal(first, micro["logits"]["model"])
    negative = VSSD(**VSSD_VARIANTS["vssd_micro"], positive_dA=False).eval()
    negative.load_state_dict(micro["state"]["model"])
    with torch.no_grad():
        assert not torch.allclose(negative(x), first, atol=1e-4)


def test_grad_checkpointing_is_transparent(micro: dict):
    model = copy.deepcopy(micro["models"]["model"])
    model.set_grad_checkpointing(True)
    for stage in model.layers:  # checkpointing runs in training only; keep dropout, DropPath and BN in eval
        stage.training = True
    out = model(micro["x"])
    torch.testing.assert_close(out, micro["logits"]["model"])
    out.sum().backward()
    assert model.layers[0].blocks[0].attn.A_log.grad is not None


# --- checkpoints ---------------------------------------------------------------------------------------------


def save_official_style_checkpoint(path: Path, model: dict, model_ema: dict) -> Path:
    """What ``save_checkpoint_ema`` writes: raw and EMA weights, optimizer/scheduler state, a yacs config."""
    yacs, yacs_config = types.ModuleType("yacs"), types.ModuleType("yacs.config")

    class CfgNode(dict):
        def __init__(self, init: dict | None = None) -> None:
            super().__init__(init or {})
            self.__dict__["__immutable__"] = True
            self.__dict__["__deprecated_keys__"] = set()

    CfgNode.__module__, CfgNode.__qualname__ = "yacs.config", "CfgNode"
    yacs_config.CfgNode = CfgNode
    with pytest.MonkeyPatch.context() as patch:  # yacs only exists while pickling, as on a machine without it
        patch.setitem(sys.modules, "yacs", yacs)
        patch.setitem(sys.modules, "yacs.config", yacs_config)
        config = CfgNode({"MODEL": CfgNode({"TYPE": "vmamba2", "NAME": "vssd_micro_e300"})})
        torch.save({"model": model, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0]}]},
                    "lr_scheduler": {"t_initial": 300}, "max_accuracy": 82.5, "scaler": {"scale": 65536.0},
                    "epoch": 299, "config": config, "steps": 0, "model_ema": model_ema, "max_accuray_ema": 82.6},
                   path)
    return path


@pytest.fixture(scope="module")
def official_checkpoint(micro: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = micro["state"]
    return save_official_style_checkpoint(tmp_path_factory.mktemp("vssd") / "vssd_micro_best_ema.pth",
                                          state["model"], state["model_ema"])


def test_checkpoint_round_trip_picks_ema_or_raw(official_checkpoint: Path, micro: dict):
    x, expected = micro["x"], micro["logits"]
    assert not torch.allclose(expected["model"], expected["model_ema"])
    for key, used in (("auto", "model_ema"), ("model", "model")):
        model = timm.create_model("vssd_micro", pretrained_file=str(official_checkpoint), checkpoint_key=key).eval()
        assert model.load_report["state_dict_key"] == used
        assert model.load_report["missing_keys"] == [] and model.load_report["unexpected_keys"] == []
        with torch.no_grad():
            torch.testing.assert_close(model(x), expected[used], rtol=0, atol=0)
    raw = micro["state"]["model"]
    assert select_state_dict({"model": raw, "epoch": 1}, "auto")[1] == "model"
    assert select_state_dict({"model": raw, "model_ema": raw}, "model_ema")[1] == "model_ema"
    with pytest.raises(CheckpointError, match="no 'model_ema' entry"):
        select_state_dict({"model": raw, "epoch": 1}, "model_ema")
    with pytest.raises(ValueError, match="checkpoint_key"):
        select_state_dict({"model": raw}, "ema")


def test_plain_and_safetensors_state_dicts(tmp_path: Path, micro: dict):
    raw, x = micro["state"]["model"], micro["x"]
    plain = tmp_path / "plain.pth"
    torch.save(raw, plain)
    model = timm.create_model("vssd_micro", pretrained_file=plain).eval()
    assert model.load_report["state_dict_key"] is None
    with torch.no_grad():
        torch.testing.assert_close(model(x), micro["logits"]["model"], rtol=0, atol=0)
    safetensors_torch = pytest.importorskip("safetensors.torch")
    st = tmp_path / "plain.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in raw.items()}, str(st))
    model = VSSD(**VSSD_VARIANTS["vssd_micro"]).eval()
    load_vssd_weights(model, st)
    with torch.no_grad():
        torch.testing.assert_close(model(x), micro["logits"]["model"], rtol=0, atol=0)


def test_mismatched_checkpoint_names_the_keys(tmp_path: Path, micro: dict):
    broken = dict(micro["state"]["model"])
    broken["layers.0.blocks.0.attn.A"] = broken.pop("layers.0.blocks.0.attn.A_log")
    path = tmp_path / "broken.pth"
    torch.save({"model": broken}, path)
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): layers\.0\.blocks\.0\.attn\.A_log[\s\S]*"
                                              r"unexpected keys \(1\): layers\.0\.blocks\.0\.attn\.A\n"):
        timm.create_model("vssd_micro", pretrained_file=path)


def test_new_num_classes_keeps_a_fresh_head(official_checkpoint: Path, micro: dict):
    model = timm.create_model("vssd_micro", pretrained_file=official_checkpoint, num_classes=3)
    assert model.load_report["reset_keys"] == ["head.weight", "head.bias"]
    assert model.head.out_features == 3
    assert torch.equal(model.norm.weight, micro["state"]["model_ema"]["norm.weight"])
    headless = timm.create_model("vssd_micro", pretrained_file=official_checkpoint, num_classes=0)
    assert headless.load_report["reset_keys"] == ["head.weight", "head.bias"]


# --- dense-prediction backbone -------------------------------------------------------------------------------


def test_backbone_maps_and_pretrained_loading(official_checkpoint: Path, micro: dict, tmp_path: Path):
    ema = micro["state"]["model_ema"]
    backbone = VSSDBackbone(**VSSD_VARIANTS["vssd_micro"]).eval()
    keys = set(backbone.state_dict())
    assert {f"outnorm{i}.weight" for i in range(4)} <= keys
    assert not any(k.startswith(("norm.", "head.")) for k in keys)
    report = backbone.load_pretrained(official_checkpoint, key="model_ema")
    assert sorted(report["missing_keys"]) == sorted(f"outnorm{i}.{p}" for i in range(4) for p in ("weight", "bias"))
    assert sorted(report["unexpected_keys"]) == ["head.bias", "head.weight", "norm.bias", "norm.weight"]
    assert torch.equal(backbone.layers[2].blocks[0].attn.A_log, ema["layers.2.blocks.0.attn.A_log"])
    with torch.no_grad():
        for size, grids in (((64, 64), [(16, 16), (8, 8), (4, 4), (2, 2)]),
                            ((72, 88), [(18, 22), (9, 11), (5, 6), (3, 3)])):
            maps = backbone(torch.randn(1, 3, *size))
            assert [tuple(m.shape) for m in maps] == [(1, 48 * 2 ** i, *g) for i, g in enumerate(grids)]
        # the last map is the classifier's final tokens when outnorm3 carries the classifier's norm
        backbone.outnorm3.load_state_dict({"weight": ema["norm.weight"], "bias": ema["norm.bias"]})
        tokens = micro["models"]["model_ema"].forward_features(micro["x"])
        torch.testing.assert_close(backbone(micro["x"])[3].flatten(2).transpose(1, 2), tokens)
    broken = tmp_path / "broken.pth"
    state = {k: v for k, v in ema.items() if not k.startswith("layers.3.blocks.3.")}  # a missing block
    torch.save({"model": state}, broken)
    with pytest.raises(CheckpointError, match=r"missing keys \(\d+\): layers\.3\.blocks\.3\."):
        backbone.load_pretrained(broken)
    torch.save(ema, broken)
    with pytest.raises(CheckpointError, match="no 'model' entry"):
        backbone.load_pretrained(broken)
