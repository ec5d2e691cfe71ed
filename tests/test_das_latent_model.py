"""The LoRA-adapted Stable Diffusion model of D-TRAK's ArtBench setting (methods/das/latent_model.py)."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("peft")

from sd_fixture import write_tiny_stable_diffusion  # noqa: E402

from bench.checkpoint import CheckpointError  # noqa: E402
from bench.methods.das.latent_model import LORA_CONFIG, LORA_TARGETS, load_latent_model  # noqa: E402


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    return write_tiny_stable_diffusion(tmp_path_factory.mktemp("sd"))


def _lora(unet):
    return {n: p for n, p in unet.named_parameters() if "lora_" in n}


def test_adapters_follow_dtrak_and_only_they_train(sd_folder):
    assert LORA_CONFIG == {"r": 128, "lora_alpha": 128, "init_lora_weights": "gaussian",
                           "target_modules": ["to_k", "to_q", "to_v", "to_out.0"]}
    model = load_latent_model(sd_folder, lora_rank=4, lora_seed=0)
    lora = _lora(model.unet)
    # 2 attention blocks x (self + cross attention) x 4 projections x (A, B) in the fixture's UNet
    assert len(lora) == 4 * 2 * len(LORA_TARGETS) * 2
    assert {n: p.requires_grad for n, p in model.unet.named_parameters()} == {n: n in lora for n, _ in
                                                                              model.unet.named_parameters()}
    assert all(p.shape[0] == 4 for n, p in lora.items() if "lora_A" in n)
    assert all(float(p.detach().abs().max()) == 0 for n, p in lora.items() if "lora_B" in n)  # gaussian init: B = 0
    assert type(model.scheduler).__name__ == "DDPMScheduler" and model.scheduler.config.beta_end == 0.012
    assert model.facts["lora_weights"] is None and model.facts["lora_rank"] == 4
    again = load_latent_model(sd_folder, lora_rank=4, lora_seed=0)
    assert all(torch.equal(p, _lora(again.unet)[n]) for n, p in lora.items())  # seeded
    assert model.encoders_sha256() == again.encoders_sha256()


@pytest.mark.parametrize("layout", ["diffusers", "peft", "dtrak_attn_procs"])
def test_lora_weights_load_from_each_format(sd_folder, tmp_path, layout):
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    source = load_latent_model(sd_folder, lora_rank=4, lora_seed=1)
    with torch.no_grad():
        for name, parameter in _lora(source.unet).items():
            parameter.add_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(len(name))))
    state = get_peft_model_state_dict(source.unet)
    folder = tmp_path / "lora"
    if layout == "diffusers":
        StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=convert_state_dict_to_diffusers(state))
    elif layout == "peft":
        folder.mkdir()
        save_file({f"unet.{k}": v.contiguous() for k, v in state.items()},
                  str(folder / "pytorch_lora_weights.safetensors"))
    else:  # unet.save_attn_procs of diffusers 0.23 (LoRAAttnProcessor): <attn>.processor.to_q_lora.down.weight
        folder.mkdir()
        old = {}
        for key, value in state.items():
            attn, proj, side = key.rsplit(".", 3)[0], key.split(".")[-3], key.split(".")[-2]
            attn, proj = (attn.removesuffix(".to_out"), "to_out") if proj == "0" else (attn, proj)
            old[f"{attn}.processor.{proj}_lora.{'down' if side == 'lora_A' else 'up'}.weight"] = value
        torch.save(old, folder / "pytorch_model.bin")
    loaded = load_latent_model(sd_folder, folder, lora_rank=4, lora_seed=9)
    want = _lora(source.unet)
    assert {n: torch.equal(p, want[n]) for n, p in _lora(loaded.unet).items()} == {n: True for n in want}
    assert loaded.facts["lora_weights"].startswith(str(folder)) and len(loaded.facts["lora_sha256"]) == 64
    with pytest.raises(CheckpointError, match=r"does not match the LoRA adapters .* 64 of another shape"):
        load_latent_model(sd_folder, folder, lora_rank=8)


def test_missing_lora_weights_name_the_files(sd_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"none of \['pytorch_lora_weights.safetensors'"):
        load_latent_model(sd_folder, tmp_path, lora_rank=4)
    with pytest.raises(ValueError, match="LoRA rank must be a positive integer"):
        load_latent_model(sd_folder, lora_rank=0)
