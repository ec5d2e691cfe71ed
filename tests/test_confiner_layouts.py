"""ConFiner's shared latent: each expert's layout (one place) and the resize policy."""
import pytest
import torch

from bench.methods.confiner.layouts import from_expert, resize_clean, to_expert


def test_expert_layouts_round_trip_the_shared_latent():
    x = torch.arange(2 * 3 * 4 * 2 * 2, dtype=torch.float32).reshape(2, 3, 4, 2, 2)  # B=2, C=3, F=4
    frames = to_expert(x, "frames")
    assert frames.shape == (8, 3, 2, 2) and torch.equal(frames[1 * 4 + 2], x[1, :, 2])
    assert torch.equal(from_expert(frames, "frames", 2), x)
    assert to_expert(x, "video") is x and from_expert(x, "video", 2) is x


@pytest.mark.parametrize("call, message", [
    (lambda: to_expert(torch.zeros(1, 4, 2, 2, 2), "image"), r"layout must be one of \('video', 'frames'\)"),
    (lambda: to_expert(torch.zeros(4, 2, 2, 2), "frames"), r"the shared latent is \[B, C, F, h, w\]; got shape"),
    (lambda: from_expert(torch.zeros(2, 4, 2, 2), "video", 1), r"'video' layout expert must return"),
])
def test_layout_errors_say_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_resize_clean_resizes_each_frame_and_keeps_constants():
    x = torch.arange(4, dtype=torch.float32).reshape(1, 1, 4, 1, 1).expand(1, 1, 4, 8, 8).contiguous()
    small = resize_clean(x, (4, 4))
    assert small.shape == (1, 1, 4, 4, 4)
    assert torch.allclose(small, x[..., :4, :4])  # a constant frame stays constant, frames stay in order
    assert resize_clean(x, (8, 8)) is x
    big = resize_clean(small, (8, 8))
    assert big.shape == x.shape and torch.allclose(big, x)
    with pytest.raises(ValueError, match=r"resize_clean: expected \[B, C, F, h, w\], got shape \(4, 8, 8\)"):
        resize_clean(x[0, 0], (4, 4))
