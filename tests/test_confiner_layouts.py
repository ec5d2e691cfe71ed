"""ConFiner's shared latent: the [B, C, F, h, w] <-> [B·F, C, h, w] conversions and the resize policy."""
import pytest
import torch

from bench.methods.confiner.layouts import from_expert, resize_clean, to_expert
from bench.methods.diffusion.video_latents import frames_to_video, video_to_frames


def test_frames_layout_orders_rows_video_by_video_then_frame_and_round_trips():
    x = torch.arange(2 * 3 * 4 * 2 * 2, dtype=torch.float32).reshape(2, 3, 4, 2, 2)  # B=2, C=3, F=4
    frames = video_to_frames(x)
    assert frames.shape == (8, 3, 2, 2)
    for b in range(2):
        for f in range(4):
            assert torch.equal(frames[b * 4 + f], x[b, :, f])
    assert torch.equal(frames_to_video(frames, 2), x)
    assert torch.equal(from_expert(to_expert(x, "frames"), "frames", 2), x)
    assert to_expert(x, "video") is x and from_expert(x, "video", 2) is x


@pytest.mark.parametrize("call, message", [
    (lambda: video_to_frames(torch.zeros(2, 3, 4, 4)), r"expected a 5-D video latent \[B, C, F, h, w\], got shape "
                                                       r"\(2, 3, 4, 4\)"),
    (lambda: frames_to_video(torch.zeros(7, 4, 2, 2), 2), r"divisible by batch=2, got shape \(7, 4, 2, 2\)"),
    (lambda: to_expert(torch.zeros(1, 4, 2, 2, 2), "image"), r"layout must be one of \('video', 'frames'\)"),
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
