"""FusionSAM's LSTG: diffusers VQModel latents before quantisation, normalised by the codebook range as the official
data_gen.py, and the official per-image input scaling (bench.methods.fusionsam.lstg)."""
import pytest
import torch

from bench.methods.fusionsam.lstg import VQLoss, as_three_channels, build_vq, encode_latents, preprocess_input

TINY = dict(block_out_channels=(8, 16), norm_num_groups=4, latent_channels=3, num_vq_embeddings=16,
            mid_block_add_attention=False)


@pytest.fixture(scope="module")
def vq():
    torch.manual_seed(0)
    return build_vq(TINY).eval()


def test_preprocess_is_the_official_per_image_min_max():
    image = torch.tensor([[[[10.0, 60.0], [110.0, 210.0]]]])
    out = preprocess_input(image)
    assert out[0, 0, 0, 0].item() == -1.0
    assert out[0, 0, 1, 1].item() == pytest.approx(200 / 200.001 * 2 - 1)
    assert torch.allclose(preprocess_input(image + 40), out)  # absolute intensity is lost
    assert preprocess_input(image, "fixed")[0, 0, 1, 1].item() == pytest.approx(210 / 127.5 - 1)
    with pytest.raises(ValueError, match="vq_input_scaling 'zscore'; choose from"):
        preprocess_input(image, "zscore")


def test_thermal_enters_as_three_channels():
    thermal = torch.rand(2, 1, 4, 4)
    assert torch.equal(as_three_channels(thermal)[:, 2], thermal[:, 0])
    with pytest.raises(ValueError, match="expected 1 or 3 image channels, got 2"):
        as_three_channels(torch.rand(1, 2, 4, 4))
    with pytest.raises(ValueError, match="vq.in_channels must be 3"):
        build_vq({**TINY, "in_channels": 1})


def test_latents_are_pre_quantisation_and_normalised_by_the_codebook_range(vq):
    image = torch.randint(0, 256, (2, 3, 16, 16))
    with torch.no_grad():
        z = vq.encode(preprocess_input(image)).latents
        quantised = vq.quantize(z)[0]
        latents = encode_latents(vq, image)
    codebook = vq.quantize.embedding.weight
    low, high = codebook.min(), codebook.max()
    assert latents.shape == (2, 3, 8, 8)
    assert torch.allclose(latents, (z - low) / (high - low) * 2 - 1)
    assert not torch.allclose(z, quantised)  # encode returns latents before quantisation
    normalised_codebook = (codebook - low) / (high - low) * 2 - 1
    assert normalised_codebook.min().item() == -1.0 and normalised_codebook.max().item() == pytest.approx(1.0)


def test_vq_loss_terms_and_gradient(vq):
    torch.manual_seed(1)
    model = build_vq(TINY)
    terms = VQLoss(reconstruction=2.0, codebook=0.5)(model, torch.randint(0, 256, (2, 1, 16, 16)))
    assert terms["loss"].item() == pytest.approx(2.0 * terms["l1"].item() + 0.5 * terms["commit"].item(), rel=1e-5)
    terms["loss"].backward()
    assert model.encoder.conv_in.weight.grad is not None and model.quantize.embedding.weight.grad is not None
