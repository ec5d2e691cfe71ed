"""FusionSAM's FMP on stock segment_anything: the per-class decoder, the frozen image encoder, batched prompt-free
decoding, the GT point prompts and the zero-initialised latent adapter (bench.methods.fusionsam.fmp)."""
import pytest
import torch
import torch.nn.functional as F

from bench.methods.fusionsam.fmp import (FusionSamModel, LatentAdapter, build_sam, mask_input_size, per_class_decoder,
                                         point_prompt)

pytest.importorskip("segment_anything")
TINY = dict(tiny=dict(img_size=32, patch_size=4, embed_dim=16, depth=2, num_heads=2, out_chans=16, window_size=4))


def tiny_model(num_classes: int = 5, freeze: bool = True, adapter: LatentAdapter | None = None) -> FusionSamModel:
    torch.manual_seed(0)
    sam = build_sam(TINY)
    per_class_decoder(sam, num_classes)
    return FusionSamModel(sam, adapter, freeze)


def test_per_class_decoder_outputs_one_mask_per_class_and_keeps_matching_weights():
    torch.manual_seed(0)
    sam = build_sam(TINY)
    old = {k: v.clone() for k, v in sam.mask_decoder.state_dict().items()}
    fresh = per_class_decoder(sam, 7)
    decoder = sam.mask_decoder
    assert decoder.num_multimask_outputs == 7 and decoder.num_mask_tokens == 8
    assert len(decoder.output_hypernetworks_mlps) == 8
    assert torch.equal(decoder.mask_tokens.weight[:4], old["mask_tokens.weight"])
    assert torch.equal(decoder.state_dict()["transformer.layers.0.mlp.lin1.weight"],
                       old["transformer.layers.0.mlp.lin1.weight"])
    assert torch.equal(decoder.state_dict()["output_hypernetworks_mlps.3.layers.0.weight"],
                       old["output_hypernetworks_mlps.3.layers.0.weight"])
    assert "mask_tokens.weight[4:]" in fresh and "output_hypernetworks_mlps.7.layers.2.bias" in fresh
    assert "iou_prediction_head.layers.2.weight" in fresh  # 4 -> 8 outputs
    assert not any(key.startswith("transformer.") for key in fresh)
    logits = FusionSamModel(sam, None, True)(torch.rand(2, 3, 32, 32) * 255)
    assert logits.shape == (2, 7, 32, 32)


def test_mask_prompt_size_is_four_times_the_grid():
    assert mask_input_size(tiny_model().sam) == (32, 32)  # 32 / patch 4 = 8, x 4
    with pytest.raises(ValueError, match="img_size 30 is not a multiple of patch_size 4"):
        build_sam({"tiny": {**TINY["tiny"], "img_size": 30}})


def test_frozen_image_encoder_receives_no_gradient():
    for freeze in (True, False):
        model = tiny_model(freeze=freeze)
        logits = model(torch.rand(2, 3, 32, 32) * 255)
        F.cross_entropy(logits, torch.randint(0, 5, (2, 32, 32))).backward()
        encoder_grads = [p.grad for p in model.sam.image_encoder.parameters()]
        assert all(g is None for g in encoder_grads) == freeze
        assert all(p.requires_grad != freeze for p in model.sam.image_encoder.parameters())
        assert model.sam.mask_decoder.output_hypernetworks_mlps[4].layers[0].weight.grad is not None
        assert model.sam.prompt_encoder.no_mask_embed.weight.grad is not None


def test_batched_prompt_free_decoding_equals_one_call_per_image():
    model = tiny_model().eval()
    images = torch.rand(3, 3, 32, 32) * 255
    with torch.no_grad():
        batched = model(images)
        single = torch.cat([model(images[i:i + 1]) for i in range(3)])
        prompted = model(images, [torch.zeros(1, 1, 32, 32), None, None])
    assert (batched - single).abs().max() < 1e-5
    assert (prompted[1:] - batched[1:]).abs().max() < 1e-5 and (prompted[0] - batched[0]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="a mask prompt goes with one image embedding, got 2"):
        model.decode(torch.zeros(2, 16, 8, 8), torch.zeros(1, 1, 32, 32))


def test_point_prompts_are_seeded_and_hold_ten_points_per_class():
    label = torch.zeros(64, 64, dtype=torch.uint8)
    label[:32, :32], label[40:, 40:], label[:8, 56:] = 3, 7, 255
    first = point_prompt(label, (32, 32), 10, seed=5)
    assert first.shape == (1, 32, 32)
    assert torch.equal(first, point_prompt(label, (32, 32), 10, seed=5))
    assert not torch.equal(first, point_prompt(label, (32, 32), 10, seed=6))
    values, counts = first.unique(return_counts=True)
    assert values.tolist() == [0.0, 3.0, 7.0]  # class 0 (skipped as add_point.py) and ignore 255 get no points
    assert 1 <= counts[1] <= 10 and 1 <= counts[2] <= 10  # drawn with replacement: repeats collapse
    small = F.interpolate(label[None, None].float(), size=(32, 32), mode="nearest")[0]
    assert torch.equal(small[first > 0], first[first > 0])  # each point holds its pixel's class
    assert point_prompt(label, (32, 32), 10, seed=5, skip_classes=()).unique().tolist() == [0.0, 3.0, 7.0]


def test_adapter_starts_as_identity_and_needs_its_latents():
    adapter = LatentAdapter(latent_dim=6, embed_dim=16)
    embedding = torch.randn(2, 16, 8, 8)
    assert torch.equal(adapter(torch.randn(2, 6, 3, 5), embedding), embedding)
    model = tiny_model(adapter=adapter)
    assert model(torch.rand(1, 3, 32, 32) * 255, None, torch.randn(1, 6, 4, 4)).shape == (1, 5, 32, 32)
    with pytest.raises(ValueError, match="fused latents are needed exactly when the model has an adapter"):
        model(torch.rand(1, 3, 32, 32) * 255)
