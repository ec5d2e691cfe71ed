"""Original DDPM UNet → diffusers UNet2DModel: key map, output parity, preset sizes and local-only loading."""
from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from ddpm_reference import ReferenceDDPM
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

from bench.methods.diffusion import unet as unet_module
from bench.methods.diffusion.unet import (
    DDPM_PRESETS,
    ModelLayoutError,
    convert_ddpm_state_dict,
    ddpm_key_map,
    ddpm_unet_config,
    load_scheduler_config,
    load_unet,
)

TINY = {"resolution": 16, "ch": 32, "ch_mult": (1, 2), "num_res_blocks": 1, "attn_resolutions": (8,), "dropout": 0.0}
CONFIGS = {
    "2lvl-1blk-attn8": TINY,
    "2lvl-2blk-attn16": {**TINY, "num_res_blocks": 2, "attn_resolutions": (16,)},
    "3lvl-2blk-attn8": {**TINY, "ch_mult": (1, 2, 2), "num_res_blocks": 2},
    "3lvl-1blk-attn4+16-dropout": {**TINY, "ch_mult": (1, 2, 2), "attn_resolutions": (4, 16), "dropout": 0.1},
}
CIFAR10_PARAMS = 35_746_307  # the official CIFAR-10 DDPM (model-790000.ckpt); google/ddpm-cifar10-32 has the same
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """The models here are tiny: intra-op threads only add OpenMP overhead (seconds per forward on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def reference(seed: int = 0, **kwargs) -> ReferenceDDPM:
    """A random original-layout model; GroupNorm affine parameters are perturbed from 1/0 so a swapped norm shows."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = ReferenceDDPM(**kwargs).eval()
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "norm" in name:
                    param.add_(0.1 * torch.randn_like(param))
    return model


def inputs(resolution: int, batch: int = 2, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, resolution, resolution, generator=generator, dtype=dtype)
    return x, torch.tensor([0, 421, 999][:batch])


def max_diff(ref: torch.nn.Module, unet: UNet2DModel, resolution: int, dtype: torch.dtype) -> float:
    x, t = inputs(resolution, dtype=dtype)
    with torch.no_grad():
        return (ref(x, t) - unet(x, t).sample).abs().max().item()


def converted_unet(ref: ReferenceDDPM, kwargs: dict) -> UNet2DModel:
    config = ddpm_unet_config(**kwargs)
    unet = UNet2DModel(**config).eval()
    unet.load_state_dict(convert_ddpm_state_dict(ref.state_dict(), config), strict=True)
    return unet


# ------------------------------------------------------------------------------------------ parity and key map


@pytest.mark.parametrize("name", list(CONFIGS))
def test_converted_unet_matches_reference(name: str) -> None:
    kwargs = CONFIGS[name]
    ref = reference(**kwargs)
    unet = converted_unet(ref, kwargs)
    diff32 = max_diff(ref, unet, kwargs["resolution"], torch.float32)
    diff64 = max_diff(ref.double(), unet.double(), kwargs["resolution"], torch.float64)
    print(f"{name}: max |ref - unet| fp32 {diff32:.3g}, fp64 {diff64:.3g}")
    assert diff32 < 1e-5, f"{name}: fp32 max abs diff {diff32}"
    assert diff64 < 1e-9, f"{name}: fp64 max abs diff {diff64}"


def test_every_original_key_is_consumed_and_up_levels_reverse() -> None:
    ref = reference(**TINY)
    config = ddpm_unet_config(**TINY)
    state = ref.state_dict()
    converted = convert_ddpm_state_dict(state, config)
    assert len(converted) == len(state)
    assert set(converted) == set(UNet2DModel(**config).state_dict())
    key_map = ddpm_key_map(config)
    assert set(key_map) == set(state)
    # up[i] works at resolution / 2**i; diffusers runs up_blocks from the lowest resolution: k = L - 1 - i
    assert key_map["up.0.block.1.nin_shortcut.weight"] == "up_blocks.1.resnets.1.conv_shortcut.weight"
    assert key_map["up.1.upsample.conv.weight"] == "up_blocks.0.upsamplers.0.conv.weight"
    assert key_map["up.1.attn.0.proj_out.weight"] == "up_blocks.0.attentions.0.to_out.0.weight"
    assert key_map["down.0.downsample.conv.bias"] == "down_blocks.0.downsamplers.0.conv.bias"
    assert key_map["temb.dense.1.weight"] == "time_embedding.linear_2.weight"
    assert key_map["mid.attn_1.norm.weight"] == "mid_block.attentions.0.group_norm.weight"
    assert key_map["norm_out.bias"] == "conv_norm_out.bias"
    q = state["down.1.attn.0.q.weight"]
    assert q.shape == (64, 64, 1, 1)
    assert torch.equal(converted["down_blocks.1.attentions.0.to_q.weight"], q[:, :, 0, 0])


def test_unknown_missing_and_misshaped_keys_raise() -> None:
    config = ddpm_unet_config(**TINY)
    state = reference(**TINY).state_dict()
    with pytest.raises(ValueError, match=r"unknown keys \(1\): logvar"):
        convert_ddpm_state_dict({**state, "logvar": torch.zeros(1000)}, config)
    missing = {k: v for k, v in state.items() if k != "mid.attn_1.q.bias"}
    with pytest.raises(ValueError, match=r"missing keys \(1\): mid\.attn_1\.q\.bias"):
        convert_ddpm_state_dict(missing, config)
    misshaped = {**state, "conv_out.bias": torch.zeros(4)}
    with pytest.raises(ValueError, match=r"conv_out\.bias \(4,\)"):
        convert_ddpm_state_dict(misshaped, config)
    other = ddpm_unet_config(**{**TINY, "num_res_blocks": 2})  # state dict of another architecture
    with pytest.raises(ValueError, match=r"missing keys \(\d+\): .*down\.0\.block\.1\.norm1\.weight"):
        convert_ddpm_state_dict(state, other)


def test_dataparallel_prefix_is_stripped() -> None:
    ref = reference(**TINY)
    config = ddpm_unet_config(**TINY)
    plain = convert_ddpm_state_dict(ref.state_dict(), config)
    prefixed = convert_ddpm_state_dict({f"module.{k}": v for k, v in ref.state_dict().items()}, config)
    assert plain.keys() == prefixed.keys()
    assert all(torch.equal(plain[k], prefixed[k]) for k in plain)


def test_unsupported_original_configs_are_rejected() -> None:
    with pytest.raises(ValueError, match="ch_mult must start with 1"):
        ddpm_unet_config(32, ch_mult=(2, 2))
    with pytest.raises(ValueError, match="resamp_with_conv=False"):
        ddpm_unet_config(32, resamp_with_conv=False)


# ------------------------------------------------------------------------------------------------------ presets


@pytest.mark.parametrize("name", list(DDPM_PRESETS))
def test_preset_parameter_count_and_key_map_match_reference(name: str) -> None:
    kwargs = DDPM_PRESETS[name]["model"]
    with torch.device("meta"):
        ref = ReferenceDDPM(**kwargs)
        unet = UNet2DModel(**ddpm_unet_config(**kwargs))
    ref_count = sum(p.numel() for p in ref.parameters())
    unet_count = sum(p.numel() for p in unet.parameters())
    print(f"{name}: {unet_count:,} parameters")
    assert unet_count == ref_count
    converted = convert_ddpm_state_dict(ref.state_dict(), ddpm_unet_config(**kwargs))  # names and shapes, on meta
    assert len(converted) == len(ref.state_dict())
    if name == "cifar10":
        assert unet_count == CIFAR10_PARAMS


def test_presets_follow_the_ams_configs() -> None:
    assert {name: p["var_type"] for name, p in DDPM_PRESETS.items()} == {
        "cifar10": "fixedlarge", "celeba": "fixedlarge", "lsun_bedroom": "fixedsmall", "lsun_church": "fixedsmall"}
    assert DDPM_PRESETS["cifar10"]["model"]["ch_mult"] == (1, 2, 2, 2)
    assert DDPM_PRESETS["celeba"]["model"]["ch_mult"] == (1, 2, 2, 2, 4)
    assert DDPM_PRESETS["lsun_church"]["model"]["ch_mult"] == (1, 1, 2, 2, 4, 4)
    assert [DDPM_PRESETS[n]["model"]["dropout"] for n in DDPM_PRESETS] == [0.1, 0.1, 0.0, 0.0]
    config = ddpm_unet_config(**DDPM_PRESETS["cifar10"]["model"])
    assert config["down_block_types"] == ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"]
    assert config["up_block_types"] == ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"]
    assert config["block_out_channels"] == [128, 256, 256, 256]
    bedroom = ddpm_unet_config(**DDPM_PRESETS["lsun_bedroom"]["model"])
    assert bedroom["down_block_types"].index("AttnDownBlock2D") == 4  # 256 / 2**4 = 16


# ------------------------------------------------------------------------------------------------------ loading


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny reference model, its converted UNet, and the model saved in every layout."""
    root = tmp_path_factory.mktemp("ddpm")
    ref = reference(**TINY)
    unet = converted_unet(ref, TINY)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", variance_type="fixed_large",
                              clip_sample=False)
    DDPMPipeline(unet=unet, scheduler=scheduler).save_pretrained(root / "pipeline")
    unet.save_pretrained(root / "bare")
    scheduler.save_config(root / "bare")
    unet.save_pretrained(root / "bare_bin", safe_serialization=False)
    scheduler.save_config(root / "bare_bin")
    torch.save(ref.state_dict(), root / "model.ckpt")
    return {"root": root, "ref": ref, "unet": unet, "scheduler": scheduler}


def fake_hf_cache(cache: Path, bare: Path, repo_id: str = "google/ddpm-cifar10-32") -> Path:
    storage = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(bare, storage / "snapshots" / COMMIT)
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(COMMIT)
    return storage / "snapshots" / COMMIT


def assert_same_outputs(a: UNet2DModel, b: torch.nn.Module, atol: float = 0.0) -> float:
    x, t = inputs(16)
    with torch.no_grad():
        out_b = b(x, t)
        diff = (a(x, t).sample - (out_b.sample if hasattr(out_b, "sample") else out_b)).abs().max().item()
    assert diff <= atol
    return diff


def test_load_pipeline_folder(tiny: dict) -> None:
    model, facts = load_unet(tiny["root"] / "pipeline")
    weights = tiny["root"] / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors"
    assert facts["format"] == "diffusers_pipeline" and facts["subfolder"] == "unet"
    assert facts["weights_file"] == str(weights) and facts["sha256"] == sha256(weights)
    assert "repo_id" not in facts and not model.training
    assert_same_outputs(model, tiny["unet"])
    assert_same_outputs(model, tiny["ref"], atol=1e-5)
    # the architecture is checked against the original config when one is given
    load_unet(tiny["root"] / "pipeline", original_config=TINY)
    with pytest.raises(ValueError, match="layers_per_block"):
        load_unet(tiny["root"] / "pipeline", original_config={**TINY, "num_res_blocks": 2})


def test_preset_check_catches_multi_head_default(tiny: dict, tmp_path: Path) -> None:
    """A config.json without attention_head_dim builds UNet2DModel's default (8 channels a head), not the one-head
    original; the weights still load, so only the architecture check against the original config can tell."""
    folder = tmp_path / "no_head_dim"
    shutil.copytree(tiny["root"] / "bare", folder)
    config = json.loads((folder / "config.json").read_text())
    del config["attention_head_dim"]
    (folder / "config.json").write_text(json.dumps(config))
    assert load_unet(folder)[0].config.attention_head_dim == 8
    with pytest.raises(ValueError, match="attention_head_dim: 8 != None"):
        load_unet(folder, original_config=TINY)


@pytest.mark.parametrize("folder, weights_name", [("bare", "diffusion_pytorch_model.safetensors"),
                                                  ("bare_bin", "diffusion_pytorch_model.bin")])
def test_load_bare_model_folder(tiny: dict, folder: str, weights_name: str) -> None:
    model, facts = load_unet(tiny["root"] / folder, dtype=torch.float64)
    weights = tiny["root"] / folder / weights_name
    assert facts["format"] == "diffusers_model" and facts["subfolder"] is None
    assert facts["weights_file"] == str(weights) and facts["sha256"] == sha256(weights)
    assert model.dtype == torch.float64
    assert_same_outputs(model.float(), tiny["unet"])


def test_load_repo_id_from_local_hf_cache(tiny: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = fake_hf_cache(tmp_path / "hub", tiny["root"] / "bare")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    model, facts = load_unet("google/ddpm-cifar10-32")
    assert facts["repo_id"] == "google/ddpm-cifar10-32" and facts["revision"] == COMMIT
    assert Path(facts["weights_file"]).resolve() == (snapshot / "diffusion_pytorch_model.safetensors").resolve()
    assert facts["sha256"] == sha256(snapshot / "diffusion_pytorch_model.safetensors")
    assert_same_outputs(model, tiny["unet"])
    assert load_scheduler_config("google/ddpm-cifar10-32")["variance_type"] == "fixed_large"
    # HF_HOME/hub when HF_HUB_CACHE is unset
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    fake_hf_cache(tmp_path / "home" / "hub", tiny["root"] / "bare", "google/ddpm-church-256")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert load_unet("google/ddpm-church-256")[1]["revision"] == COMMIT


def test_load_original_checkpoint(tiny: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tiny["root"] / "model.ckpt"
    model, facts = load_unet(path, original_config={**TINY, "var_type": "fixedlarge"})
    assert facts["format"] == "original_checkpoint" and facts["state_dict_entry"] == "state_dict"
    assert facts["weights_file"] == str(path) and facts["sha256"] == sha256(path)
    diff = assert_same_outputs(model, tiny["ref"], atol=1e-5)
    print(f"original .ckpt → UNet2DModel: max abs diff {diff:.3g}")
    # a preset names the architecture; dtype casts the weights
    monkeypatch.setitem(DDPM_PRESETS, "tiny", {"model": TINY, "var_type": "fixedsmall", "checkpoint": "tiny.ckpt",
                                               "url": "https://example.invalid/tiny.ckpt", "origin": "test"})
    model64, facts64 = load_unet(path, preset="tiny", dtype=torch.float64)
    assert facts64["preset"] == "tiny" and model64.dtype == torch.float64
    x, t = inputs(16, dtype=torch.float64)
    with torch.no_grad():
        assert (model64(x, t).sample - tiny["ref"].double()(x, t)).abs().max().item() < 1e-9
    tiny["ref"].float()
    with pytest.raises(ValueError, match="pass preset="):
        load_unet(path)


def test_load_ddim_training_state_uses_ema(tiny: dict, tmp_path: Path) -> None:
    """ermongroup/ddim saves [model (DataParallel keys), optimizer, epoch, step, ema]; the EMA weights are loaded."""
    raw, ema = reference(seed=1, **TINY), reference(seed=2, **TINY)
    optimizer = torch.optim.Adam(raw.parameters(), lr=1e-4).state_dict()
    states = [{f"module.{k}": v for k, v in raw.state_dict().items()}, optimizer, 3, 1000, ema.state_dict()]
    torch.save(states, tmp_path / "ckpt.pth")
    model, facts = load_unet(tmp_path / "ckpt.pth", original_config=TINY)
    assert "EMA" in facts["state_dict_entry"]
    assert_same_outputs(model, ema, atol=1e-5)
    torch.save(states[:4], tmp_path / "no_ema.pth")
    model, facts = load_unet(tmp_path / "no_ema.pth", original_config=TINY)
    assert "raw" in facts["state_dict_entry"]
    assert_same_outputs(model, raw, atol=1e-5)


def test_load_scheduler_config_in_every_layout(tiny: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {k: v for k, v in tiny["scheduler"].config.items() if not k.startswith("_")}
    for folder in ("pipeline", "bare"):
        config = load_scheduler_config(tiny["root"] / folder)
        assert {k: config[k] for k in expected} == {k: list(v) if isinstance(v, tuple) else v
                                                    for k, v in expected.items()}
    assert load_scheduler_config(tiny["root"] / "pipeline", subfolder="scheduler")["variance_type"] == "fixed_large"
    monkeypatch.setitem(DDPM_PRESETS, "tiny", {"model": TINY, "var_type": "fixedsmall", "checkpoint": "tiny.ckpt",
                                               "url": "https://example.invalid/tiny.ckpt", "origin": "test"})
    original = load_scheduler_config(tiny["root"] / "model.ckpt", preset="tiny")
    assert original["variance_type"] == "fixed_small" and original["clip_sample"] is False
    assert (original["beta_start"], original["beta_end"], original["num_train_timesteps"]) == (1e-4, 0.02, 1000)
    scheduler = DDPMScheduler.from_config(original)
    assert torch.allclose(scheduler.betas, torch.linspace(1e-4, 0.02, 1000))
    with pytest.raises(ValueError, match="pass preset="):
        load_scheduler_config(tiny["root"] / "model.ckpt")


def test_scheduler_config_of_official_file_name(tmp_path: Path) -> None:
    (tmp_path / "model-790000.ckpt").write_bytes(b"")  # not read: the official name identifies CIFAR-10
    assert load_scheduler_config(tmp_path / "model-790000.ckpt")["variance_type"] == "fixed_large"
    (tmp_path / "model-4432000.ckpt").write_bytes(b"")
    assert load_scheduler_config(tmp_path / "model-4432000.ckpt")["variance_type"] == "fixed_small"


# ------------------------------------------------------------------------------------------------------- errors


def assert_layout_message(error: pytest.ExceptionInfo, path: Path | str) -> None:
    message = str(error.value)
    assert isinstance(error.value, FileNotFoundError)
    assert str(path) in message
    for part in ("model_index.json", "unet/config.json", "scheduler/scheduler_config.json", "<root>/config.json",
                 "models--google--ddpm-cifar10-32", ".ckpt", "how to get it"):
        assert part in message, part


def test_missing_folder_and_weights_raise_layout_errors(tiny: dict, tmp_path: Path) -> None:
    with pytest.raises(ModelLayoutError) as error:
        load_unet(tmp_path / "nowhere")
    assert_layout_message(error, tmp_path / "nowhere")
    with pytest.raises(ModelLayoutError) as error:
        load_scheduler_config(tmp_path / "nowhere")
    assert_layout_message(error, tmp_path / "nowhere")

    broken = tmp_path / "broken"
    shutil.copytree(tiny["root"] / "bare", broken)
    (broken / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelLayoutError, match="no weights file") as error:
        load_unet(broken)
    assert_layout_message(error, broken / "diffusion_pytorch_model.safetensors")
    (broken / "scheduler_config.json").unlink()
    with pytest.raises(ModelLayoutError, match="no scheduler_config.json") as error:
        load_scheduler_config(broken)
    (broken / "config.json").unlink()
    with pytest.raises(ModelLayoutError, match="no UNet config.json") as error:
        load_unet(broken)
    assert_layout_message(error, broken / "config.json")


def test_missing_repo_and_checkpoint_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hub"))
    with pytest.raises(ModelLayoutError) as error:
        load_unet("google/ddpm-cifar10-32")
    assert_layout_message(error, tmp_path / "empty_hub" / "models--google--ddpm-cifar10-32")
    assert "huggingface-cli download google/ddpm-cifar10-32" in str(error.value)
    with pytest.raises(ModelLayoutError) as error:
        load_unet(tmp_path / "model-790000.ckpt", preset="cifar10")
    assert_layout_message(error, tmp_path / "model-790000.ckpt")
    assert DDPM_PRESETS["cifar10"]["url"] in str(error.value)
    with pytest.raises(ModelLayoutError) as error:  # any file name: the preset says where to get the weights
        load_unet(tmp_path / "church.ckpt", preset="lsun_church")
    assert DDPM_PRESETS["lsun_church"]["url"] in str(error.value)


def test_module_docstring_documents_the_key_map() -> None:
    doc = unet_module.__doc__ or ""
    for name in ("temb.dense.0", "nin_shortcut", "proj_out", "to_out.0", "up_blocks.{L-1-i}", "module."):
        assert name in doc, name
