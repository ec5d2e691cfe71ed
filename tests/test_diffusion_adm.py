"""ADM U-Net / classifier (guided-diffusion layout): golden outputs from the official code, released key layouts,
strict loading and its errors, fp16 torso."""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bench.methods.diffusion.adm import (
    ADM_PRESETS,
    ADMClassifier,
    ADMUNet,
    GroupNorm32,
    adm_classifier_flags,
    adm_model_flags,
    build_adm,
    iddpm_model_flags,
    load_adm,
)
from bench.methods.diffusion.unet import ModelLayoutError
from helpers import layer_roundings, rounding_tolerance, seeded_state_dict


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """The models here are tiny: intra-op threads only add OpenMP overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = {"image_size": 16, "in_channels": 3, "model_channels": 32, "num_res_blocks": 1, "attention_resolutions": (1, 2),
        "channel_mult": (1, 2)}
UNETS = {
    # class-conditional, learn_sigma, resblock up/down, 8-channel heads in the new qkv order, scale-shift norm
    "A": {**TINY, "out_channels": 6, "num_classes": 10, "num_head_channels": 8, "use_new_attention_order": True,
          "use_scale_shift_norm": True, "resblock_updown": True},
    # unconditional, 3 levels, 2 blocks, conv resampling, 2 heads down / 4 heads up in the legacy order, additive emb
    "B": {**TINY, "image_size": 32, "out_channels": 3, "num_res_blocks": 2, "attention_resolutions": (2, 4),
          "channel_mult": (1, 2, 2), "num_heads": 2, "num_heads_upsample": 4, "use_scale_shift_norm": False,
          "resblock_updown": False},
    # class-conditional, no resampling convs (nearest / average pool), 8-channel heads in the legacy order
    "C": {**TINY, "out_channels": 6, "num_classes": 10, "num_head_channels": 8, "use_scale_shift_norm": True,
          "resblock_updown": False, "conv_resample": False},
}
CLASSIFIERS = {
    f"D-{pool}": {**TINY, "out_channels": 10, "num_head_channels": 8, "use_scale_shift_norm": True,
                  "resblock_updown": True, "pool": pool} for pool in ("attention", "spatial_v2")
}

# Golden float64 numbers from the OFFICIAL openai/guided-diffusion UNetModel / EncoderUNetModel (HEAD 22e0df8;
# printed by tests/golden/guided_diffusion_adm.py, which applies the edits below as patches) given the same state
# dict (helpers.seeded_state_dict) and inputs (_inputs). For float64 the official code needed three dtype-only edits
# (GroupNorm32 and the attention softmax upcast with promote_types instead of .float(), the float32 timestep embedding
# cast to the time_embed dtype, model.dtype set to float64). Measured in development: max |Δ| = 0.0 (bit-identical)
# for A, B, C and the classifier with each of the four pools, in float64, in float32 (unmodified official code) and
# in float32 after convert_to_fp16 on CPU; the input gradients matched bit for bit too.
GOLDEN = {
    "A": {"sum": -327.372504865564, "abs": 1208.9591318407554,
          "at": {(0, 0, 0, 0): 0.01929729678126516, (1, 5, 7, 3): 0.6366572360331476,
                 (1, 2, -1, -1): -0.2060497054532105}},
    "B": {"sum": -320.0328723699496, "abs": 2430.9803111130677,
          "at": {(0, 0, 0, 0): 0.28003446810726934, (1, 2, -1, -1): -0.004429289946663697}},
    "C": {"sum": 358.25498598028406, "abs": 1127.0979869371777,
          "at": {(0, 0, 0, 0): -0.013531314378989244, (1, 5, 7, 3): -0.5010614792123039,
                 (1, 2, -1, -1): 0.39095410297371747}},
    "D-attention": {"sum": 0.5279183998044896, "abs": 1.137826878494305,
                    "at": {(0, 0): 0.08658995095407274, (1, 3): 0.1096055071250287, (1, 9): 0.041751285965651384},
                    "grad_sum": 0.00265604506486698, "grad_abs": 0.3504127564630425},
    "D-spatial_v2": {"sum": -14.462312249808651, "abs": 25.09017910554356,
                     "at": {(0, 0): 1.6929972948194445, (1, 3): -0.7804469824955281, (1, 9): -0.5980559695969003},
                     "grad_sum": 1.9019973545033062, "grad_abs": 12.999706266216764},
}

# Parameter count and sha256 of the sorted "key:shape" lines of each released checkpoint's architecture, computed from
# the OFFICIAL create_model_and_diffusion / create_classifier with the README's flags (parsed by the official argparse
# helpers from the README's classifier_sample.py commands), built on the meta device.
LAYOUTS = {
    "64x64_diffusion.pt": (295904454, "c64d29bfa6a2c3d011136c6175d4da57d79b9d35c8801880d6693e8622eccd2d"),
    "128x128_diffusion.pt": (421529606, "b5b578e2234923ba105bbfc518b37674f55cf6b8f6f4e4d887337349227717d5"),
    "256x256_diffusion.pt": (553838086, "bc509c99735dd0c5ca7db2ee45639290d7797280dc5412258cf102979b541a8a"),
    "256x256_diffusion_uncond.pt": (552814086, "77426b1717ef703c9571d14dd0f89b54ce78ce1bc1eb0749c2ade3807bda89a5"),
    "512x512_diffusion.pt": (558997638, "1bf98f93544ecd42ee96802f07677d11457d3621d703bbba43aa259e93b2b049"),
    "64x64_classifier.pt": (65438568, "417394aa32490615cc9b9b834618f12bb5ffc9540ab74b9d7c0262b3de1b1a41"),
    "128x128_classifier.pt": (42568040, "8267182372f6425410076de517ceeff13d19a9bf64a589115d6c755e5ba1ada5"),
    "256x256_classifier.pt": (54096360, "a9f3b0ab8b3b30c4da56dce8dabcde25bdea520d86ca5e540c16e3d00daa1dd6"),
    "512x512_classifier.pt": (54448360, "2295e0a2a93ab6598732f80de04b30fc9e4fc893b33d031ea78b73c3f8069438"),
    # openai/improved-diffusion HEAD 1bc7bbb, create_model_and_diffusion(**model_and_diffusion_defaults() updated with
    # the README's MODEL_FLAGS + DIFFUSION_FLAGS), meta device, 2026-12-05. Side by side once with the same weights
    # (its random init plus N(0, 0.02) noise) at float timesteps [308.5, 4.25]: max |output diff| 1.25e-6 in float32,
    # 0.0 once the original's SiLU (x * sigmoid(x)) is swapped for torch's fused nn.SiLU that ADMUNet uses; through
    # build_backbone(preset, respacing "250") its p_mean_variance means matched to 1.2e-7 at indices 249, 120, 0.
    "cifar10_uncond_50M_500K.pt": (52546438, "390d473d399ef711e0a49f16b7f55ab8dfde98084f2b0e175de3797907ccf7f3"),
    "cifar10_uncond_vlb_50M_500K.pt": (52546438, "390d473d399ef711e0a49f16b7f55ab8dfde98084f2b0e175de3797907ccf7f3"),
}
# The class-conditional CIFAR-10 model AMG samples: the same flags plus --class_cond True, built by the same official
# code with NUM_CLASSES = 10 (the AMG fork's only change to script_util.py; its unet.py is the original's).
CIFAR10_CLASS_COND = (52551558, "ea394bb903b56879c90f2146597994b8d0cc34164d5402350bd8cca6ea67f59a")


def _inputs(config: dict, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    size = config["image_size"]
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1234), dtype=torch.float64).to(dtype)
    return x, torch.tensor([3, 917]), (torch.tensor([1, 7]) if config.get("num_classes") else None)


def _close(value: float, expected: float, tol: float) -> bool:
    return math.isclose(value, expected, rel_tol=0, abs_tol=tol)


def _tiny(name: str, dtype: torch.dtype = torch.float64) -> ADMUNet | ADMClassifier:
    config = {**UNETS, **CLASSIFIERS}[name]
    torch.manual_seed(0)
    model = (ADMUNet if name in UNETS else ADMClassifier)(**config).to(dtype)
    model.load_state_dict(seeded_state_dict(model, dtype), strict=True)
    return model.eval()


@pytest.mark.parametrize("name", list(UNETS) + list(CLASSIFIERS))
def test_matches_official_outputs(name: str) -> None:
    config = {**UNETS, **CLASSIFIERS}[name]
    model = _tiny(name)
    x, t, y = _inputs(config)
    x.requires_grad_(True)
    out = model(x, t, y) if name in UNETS else model(x, t)
    golden = GOLDEN[name]
    assert out.dtype == torch.float64
    # layers x eps(float64) x magnitude: sum of |out| for the sums, max |out| for an entry (around 1e-13 and 1e-15)
    sum_tol = rounding_tolerance(torch.float64, golden["abs"], layer_roundings(model))
    entry_tol = rounding_tolerance(torch.float64, out.abs().max().item(), layer_roundings(model))
    assert _close(out.sum().item(), golden["sum"], sum_tol) and _close(out.abs().sum().item(), golden["abs"], sum_tol)
    for index, expected in golden["at"].items():
        assert _close(out[index].item(), expected, entry_tol), (index, out[index].item(), expected)
    if name in CLASSIFIERS:  # the classifier-guidance gradient: d log p(y | x_t) / d x_t
        torch.log_softmax(out, dim=-1)[torch.arange(2), torch.tensor([1, 7])].sum().backward()
        # forward + backward: twice the dependent roundings
        grad_tol = rounding_tolerance(torch.float64, golden["grad_abs"], 2 * layer_roundings(model))
        assert _close(x.grad.sum().item(), golden["grad_sum"], grad_tol)
        assert _close(x.grad.abs().sum().item(), golden["grad_abs"], grad_tol)


def test_gradient_checkpointing_changes_nothing() -> None:
    reference = _tiny("A")
    config = {**UNETS["A"], "use_checkpoint": True}
    checkpointed = ADMUNet(**config).double().eval()
    checkpointed.load_state_dict(reference.state_dict(), strict=True)
    grads = []
    for model in (reference, checkpointed):
        x, t, y = _inputs(config)
        x.requires_grad_(True)
        model(x, t, y).square().sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_preset_layout_matches_official(name: str) -> None:
    with torch.device("meta"):
        model = build_adm(name)
    state = model.state_dict()
    lines = sorted(f"{key}:{tuple(value.shape)}" for key, value in state.items())
    count, digest = LAYOUTS[name]
    assert sum(value.numel() for value in state.values()) == count
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest() == digest
    assert isinstance(model, ADMUNet if ADM_PRESETS[name]["kind"] == "diffusion" else ADMClassifier)


def test_presets_carry_the_diffusion_process() -> None:
    schedules = {name: p["diffusion"]["noise_schedule"] for name, p in ADM_PRESETS.items() if p["kind"] == "diffusion"}
    assert schedules == {"64x64_diffusion.pt": "cosine", "128x128_diffusion.pt": "linear",
                         "256x256_diffusion.pt": "linear", "256x256_diffusion_uncond.pt": "linear",
                         "512x512_diffusion.pt": "linear", "cifar10_uncond_50M_500K.pt": "cosine",
                         "cifar10_uncond_vlb_50M_500K.pt": "cosine"}
    for name in schedules:
        improved = name.startswith("cifar10")
        assert ADM_PRESETS[name]["diffusion"]["steps"] == (4000 if improved else 1000)
        assert ADM_PRESETS[name]["diffusion"]["learn_sigma"] and ADM_PRESETS[name]["flags"]["out_channels"] == 6
        # improved-diffusion feeds t * 1000 / T as a float (its default rescale_timesteps=True); guided-diffusion ints
        assert ADM_PRESETS[name]["diffusion"]["rescale_timesteps"] is improved
        assert ADM_PRESETS[name]["url"].startswith("https://openaipublic.blob.core.windows.net/diffusion/"
                                                   + ("march-2021/" if improved else "jul-2021/"))
    assert ADM_PRESETS["256x256_diffusion_uncond.pt"]["flags"]["num_classes"] is None
    assert ADM_PRESETS["64x64_diffusion.pt"]["flags"]["attention_resolutions"] == (2, 4, 8)
    assert ADM_PRESETS["64x64_classifier.pt"]["flags"]["num_res_blocks"] == 4


def test_improved_diffusion_cifar10_presets() -> None:
    plain, vlb = ADM_PRESETS["cifar10_uncond_50M_500K.pt"], ADM_PRESETS["cifar10_uncond_vlb_50M_500K.pt"]
    assert plain["flags"] == vlb["flags"]  # the same network; only the objective (use_kl) differs
    flags = plain["flags"]
    assert flags["channel_mult"] == (1, 2, 2, 2) and flags["attention_resolutions"] == (2, 4)  # "16,8" at 32
    assert flags["num_heads"] == 4 and flags["num_head_channels"] == -1 and flags["dropout"] == 0.3
    assert flags["use_scale_shift_norm"] and not flags["resblock_updown"] and not flags["use_new_attention_order"]
    assert plain["diffusion"] == {"steps": 4000, "noise_schedule": "cosine", "learn_sigma": True,
                                  "sigma_small": False, "predict_xstart": False, "use_kl": False,
                                  "rescale_timesteps": True, "rescale_learned_sigmas": True,
                                  "timestep_respacing": "250"}
    assert vlb["diffusion"]["use_kl"] and vlb["train_flags"]["schedule_sampler"] == "loss-second-moment"
    assert plain["train_flags"] == {"lr": 1e-4, "batch_size": 128}


def test_iddpm_model_flags_class_conditional_matches_official() -> None:
    flags = iddpm_model_flags(image_size=32, num_channels=128, num_res_blocks=3, learn_sigma=True, dropout=0.3,
                              class_cond=True)
    assert flags["num_classes"] == 10
    with torch.device("meta"):
        state = build_adm(flags).state_dict()
    lines = sorted(f"{key}:{tuple(value.shape)}" for key, value in state.items())
    assert (sum(v.numel() for v in state.values()),
            hashlib.sha256("\n".join(lines).encode()).hexdigest()) == CIFAR10_CLASS_COND
    assert iddpm_model_flags(image_size=32, class_cond=True, num_classes=1000)["num_classes"] == 1000


def test_iddpm_model_flags_small_models() -> None:
    grey = iddpm_model_flags(image_size=8, in_channels=1, num_channels=32, num_res_blocks=1, channel_mult=(1, 2),
                             attention_resolutions="4", num_heads=1, learn_sigma=True)
    assert grey["in_channels"] == 1 and grey["out_channels"] == 2 and grey["attention_resolutions"] == (2,)
    # the same layout and count as the official UNetModel(in_channels=1, model_channels=32, out_channels=2,
    # num_res_blocks=1, attention_resolutions=(2,), channel_mult=(1, 2), num_heads=1, use_scale_shift_norm=True)
    # without classes: 756,578 with 10 classes minus the 10 x 128 label embedding
    assert sum(p.numel() for p in build_adm(grey).parameters()) == 756578 - 10 * 128
    assert iddpm_model_flags(image_size=64)["channel_mult"] == (1, 2, 3, 4)
    with pytest.raises(ValueError, match=r"no channel_mult for image_size 8 \(it knows \[32, 64, 256\]\); pass "
                                         r"channel_mult"):
        iddpm_model_flags(image_size=8)


def _save_tiny(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    flags = adm_classifier_flags(16, classifier_width=64, classifier_depth=1, classifier_attention_resolutions="16,8",
                                 channel_mult=(1, 2))
    torch.manual_seed(0)
    state = build_adm(flags).state_dict()
    torch.save(state, path)
    return flags, state


def test_load_adm_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "64x64_classifier.pt"
    flags, state = _save_tiny(path)
    model, facts = load_adm(path, flags=flags)
    assert isinstance(model, ADMClassifier) and not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]) and value.dtype == torch.float32
    assert facts["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert facts["path"] == str(path) and facts["preset"] is None and facts["kind"] == "classifier"
    assert facts["parameters"] == sum(v.numel() for v in state.values())
    assert facts["flags"]["attention_resolutions"] == [1, 2]
    half, half_facts = load_adm(path, flags=flags, use_fp16=True)
    assert half.dtype == torch.float16 and half_facts["flags"]["use_fp16"] is True


def test_load_adm_wrong_preset(tmp_path: Path) -> None:
    path = tmp_path / "64x64_classifier.pt"  # named like the release, holding a tiny classifier
    _save_tiny(path)
    with pytest.raises(ModelLayoutError) as error:
        load_adm(path)
    message = str(error.value)
    assert str(path) in message and "'64x64_classifier.pt'" in message
    assert "missing keys (238): input_blocks.4.0.emb_layers.1.bias," in message  # depth 4 there, 1 here
    assert "unexpected keys (14): input_blocks.1.1.norm.bias," in message  # attention at 16x16 only here
    assert "shape mismatches (62): input_blocks.0.0.bias: checkpoint (64,) vs model (128,)" in message
    assert "fix: pass preset=" in message
    with pytest.raises(ModelLayoutError, match=r"unexpected keys \((?!0\))"):
        load_adm(path, flags=adm_model_flags(16, num_channels=32, channel_mult=(1, 2), attention_resolutions="16"))


def test_load_adm_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="256x256_diffusion.pt"):
        load_adm(tmp_path / "256x256_diffusion.pt")
    with pytest.raises(FileNotFoundError, match="512x512_classifier.pt"):
        load_adm(tmp_path / "weights.pt", preset="512x512_classifier.pt")
    with pytest.raises(FileNotFoundError, match="64x64_diffusion.pt, 128x128_diffusion.pt"):
        load_adm(tmp_path / "weights.pt")
    with pytest.raises(FileNotFoundError, match=r"\(cifar10_uncond_50M_500K.pt\) from https://openaipublic.blob."
                                                r"core.windows.net/diffusion/march-2021/<file>$"):
        load_adm(tmp_path / "cifar10_uncond_50M_500K.pt")
    _save_tiny(tmp_path / "weights.pt")
    with pytest.raises(ValueError, match="pass preset="):  # exists, but the name does not say which model it is
        load_adm(tmp_path / "weights.pt")


def _cpu_half_conv() -> bool:
    try:
        F.conv2d(torch.ones(1, 1, 3, 3, dtype=torch.float16), torch.ones(1, 1, 3, 3, dtype=torch.float16))
    except RuntimeError:
        return False
    return True


@pytest.mark.skipif(not _cpu_half_conv(), reason="this torch build has no float16 conv2d on CPU")
def test_fp16_torso(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = _tiny("A", torch.float32)
    model = _tiny("A", torch.float32)
    model.convert_to_fp16()
    assert model.dtype == torch.float16
    assert model.input_blocks[1][0].in_layers[2].weight.dtype == torch.float16
    assert model.middle_block[1].qkv.weight.dtype == torch.float16
    for kept in (model.input_blocks[1][0].emb_layers[1], model.input_blocks[1][0].in_layers[0], model.time_embed[0],
                 model.label_emb, model.out[2]):  # as the official convert_module_to_f16: convolutions only
        assert kept.weight.dtype == torch.float32
    seen: list[torch.dtype] = []
    group_norm = F.group_norm

    def recording(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        seen.append(x.dtype)
        return group_norm(x, *args, **kwargs)

    inputs: list[tuple[torch.dtype, torch.dtype]] = []
    model.middle_block[0].in_layers[0].register_forward_hook(lambda m, args, out: inputs.append((args[0].dtype,
                                                                                                 out.dtype)))
    monkeypatch.setattr(F, "group_norm", recording)
    x, t, y = _inputs(UNETS["A"], torch.float32)
    with torch.no_grad():
        out, expected = model(x, t, y), reference(x, t, y)
    assert out.dtype == torch.float32
    assert seen and set(seen) == {torch.float32}  # every GroupNorm computes in float32 ...
    assert inputs == [(torch.float16, torch.float16)]  # ... on half activations, and hands back half
    torch.testing.assert_close(out, expected, rtol=0, atol=5e-2)
    assert (out - expected).abs().max() > 0  # the torso really ran in half precision
    assert isinstance(model.out[0], GroupNorm32)
