"""The two layouts of video latents: [B, C, F, h, w] <-> [B·F, C, h, w], frame index fastest."""
import pytest
import torch

from bench.methods.diffusion.video_latents import frames_to_video, video_to_frames


def test_frames_layout_orders_rows_video_by_video_then_frame_and_round_trips():
    x = torch.arange(2 * 3 * 4 * 2 * 2, dtype=torch.float32).reshape(2, 3, 4, 2, 2)  # B=2, C=3, F=4
    frames = video_to_frames(x)
    assert frames.shape == (8, 3, 2, 2)
    for b in range(2):
        for f in range(4):
            assert torch.equal(frames[b * 4 + f], x[b, :, f])
    assert torch.equal(frames_to_video(frames, 2), x)


@pytest.mark.parametrize("call, message", [
    (lambda: video_to_frames(torch.zeros(2, 3, 4, 4)), r"expected a 5-D video latent \[B, C, F, h, w\], got shape "
                                                       r"\(2, 3, 4, 4\)"),
    (lambda: frames_to_video(torch.zeros(7, 4, 2, 2), 2), r"divisible by batch=2, got shape \(7, 4, 2, 2\)"),
])
def test_layout_errors_say_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
