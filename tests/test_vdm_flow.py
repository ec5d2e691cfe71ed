"""Optical flow back-ends of the VDM memorization re-implementation: Farneback recovers a known shift; RAFT loads a
local state dict, runs at odd sizes (pad / upsample, crop / rescale) and refuses missing or wrong files clearly."""
from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import torch
from torchvision.models.optical_flow import raft_small

from bench.checkpoint import CheckpointError
from bench.io import sha256_file
from bench.methods.classifier.torchvision_classifier import WeightsHashError
from bench.methods.vdm_memorization.flow import FarnebackFlow, RAFTFlow, build_flow_estimator, video_frames

RAFT_LARGE_URL = "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth"


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random grey texture (uint8 [H, W]): blurred noise, so local gradients exist everywhere."""
    noise = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return np.rint(smooth * 255).astype(np.uint8)


def shifted_video(dx: int, dy: int, frames: int = 3, size: int = 64) -> np.ndarray:
    """RGB frames of one texture moving by (dx, dy) pixels per frame (x right, y down)."""
    image = texture(size, size)
    video = [np.roll(image, shift=(dy * t, dx * t), axis=(0, 1)) for t in range(frames)]
    return np.repeat(np.stack(video)[..., None], 3, axis=-1)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("raft") / "raft_small_random.pth"
    torch.save(raft_small().state_dict(), path)
    return str(path)


def test_farneback_recovers_a_translation_of_3_right_2_up():
    flows = FarnebackFlow()(shifted_video(3, -2))
    assert flows.shape == (2, 2, 64, 64) and flows.dtype == np.float32
    interior = flows[:, :, 12:-12, 12:-12].mean(axis=(2, 3))
    np.testing.assert_allclose(interior, [[3.0, -2.0], [3.0, -2.0]], atol=0.5)


def test_float_frames_give_the_uint8_frames_flow_and_bad_frames_are_refused():
    video = shifted_video(1, 1)
    np.testing.assert_array_equal(FarnebackFlow()(video.astype(np.float32) / 255), FarnebackFlow()(video))
    np.testing.assert_array_equal(video_frames(torch.from_numpy(video)), video)
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\].*got shape \(3, 3, 64, 64\).*permute"):
        video_frames(video.transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match="at least 2 frames; the video has 1"):
        video_frames(video[:1])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]; got values in \[-1, 1\]"):
        video_frames(video.astype(np.float32) / 127.5 - 1)


def test_farneback_describe_records_its_parameters_and_no_weights():
    info = FarnebackFlow(winsize=9).describe()
    assert info["backend"] == "farneback" and info["winsize"] == 9 and info["pyr_scale"] == 0.5
    assert (info["levels"], info["iterations"], info["poly_n"], info["poly_sigma"]) == (3, 3, 5, 1.2)
    assert info["weights_file"] is None and info["sha256"] is None


def test_raft_small_loads_a_state_dict_file_and_runs_at_an_odd_size(small_file):
    raft = RAFTFlow("raft_small", weights_file=small_file, num_flow_updates=2)
    video = np.random.default_rng(1).integers(0, 256, (3, 37, 45, 3), dtype=np.uint8)
    flows = raft(video)
    assert flows.shape == (2, 2, 37, 45) and flows.dtype == np.float32 and np.isfinite(flows).all()
    info = raft.describe()
    assert info["backend"] == "raft" and info["model"] == "raft_small" and info["weights"] == "C_T_V2"
    assert info["weights_file"] == small_file and info["sha256"] == sha256_file(small_file)
    assert info["num_flow_updates"] == 2
    one_at_a_time = RAFTFlow("raft_small", weights_file=small_file, num_flow_updates=2, batch_size=1)(video)
    np.testing.assert_allclose(one_at_a_time, flows, atol=1e-4)


class ConstantFlow(torch.nn.Module):
    """Stands in for RAFT: records its inputs and predicts flow (8, -4) everywhere at the input's size."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, first, second, num_flow_updates):
        self.inputs.append((first, second))
        flow = torch.empty(first.shape[0], 2, *first.shape[-2:])
        flow[:, 0], flow[:, 1] = 8.0, -4.0
        return [flow]


def test_raft_upsamples_pads_to_multiples_of_8_then_crops_and_rescales_the_vectors(small_file):
    raft = RAFTFlow("raft_small", weights_file=small_file, batch_size=2)
    raft.net = ConstantFlow()
    video = np.zeros((4, 37, 45, 3), dtype=np.uint8)
    video[:, :, :, 0] = 255
    flows = raft(video)
    # 37 x 45 -> 128 x 156 (shorter side to 128) -> padded to 128 x 160; vectors scaled by 45/156 and 37/128
    assert [tuple(a.shape) for a, _ in raft.net.inputs] == [(2, 3, 128, 160), (1, 3, 128, 160)]
    first = raft.net.inputs[0][0]
    # [-1, 1], replicate padding; bilinear resizing of a constant is exact only up to float32 rounding of its weights
    # (a few ulp of 1.0 = 6e-8 each, depending on the CPU's kernel)
    assert float(first[:, 0].min()) == pytest.approx(1.0, abs=1e-6)
    assert float(first[:, 1].max()) == pytest.approx(-1.0, abs=1e-6)
    assert flows.shape == (3, 2, 37, 45)
    np.testing.assert_allclose(flows[:, 0], 8.0 * 45 / 156, rtol=1e-6)
    np.testing.assert_allclose(flows[:, 1], -4.0 * 37 / 128, rtol=1e-6)


def test_missing_raft_weights_name_the_file_the_url_and_where_to_put_it(tmp_path):
    expected = tmp_path / "raft_large_C_T_SKHT_V2-ff5fadd5.pth"
    with pytest.raises(FileNotFoundError, match=re.escape(str(expected)) + ".*Nothing is downloaded.*"
                       + re.escape(RAFT_LARGE_URL) + ".*copy it to"):
        RAFTFlow(checkpoint_dir=tmp_path)
    missing = tmp_path / "mine.pth"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing)) + r".*raft_small, weights C_T_V2"):
        RAFTFlow("raft_small", weights_file=missing)


def test_wrong_raft_files_are_refused_clearly(small_file, tmp_path):
    with pytest.raises(CheckpointError, match=r"(?s)does not match RAFT:.*raft_large and raft_small files are not"):
        RAFTFlow("raft_large", weights_file=small_file)
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    with pytest.raises(CheckpointError, match=re.escape(str(text)) + r" is not a readable torch checkpoint"):
        RAFTFlow("raft_small", weights_file=text)
    renamed = tmp_path / "raft_large_C_T_SKHT_V2-ff5fadd5.pth"
    renamed.write_bytes(b"\0" * 16)
    with pytest.raises(WeightsHashError, match="does not start with 'ff5fadd5'"):
        RAFTFlow(checkpoint_dir=tmp_path)


def test_bad_backend_names_and_options_are_refused(small_file):
    with pytest.raises(ValueError, match=r"unknown optical flow backend 'farnback'.*Did you mean 'farneback'"):
        build_flow_estimator("farnback")
    with pytest.raises(ValueError, match=r"'farneback' has no option 'win_size'.*Did you mean 'winsize'"):
        build_flow_estimator("farneback", win_size=9)
    with pytest.raises(ValueError, match=r"unknown model 'raft_medium'.*Did you mean"):
        RAFTFlow("raft_medium")
    with pytest.raises(ValueError, match="has no weights 'C_T_SKHT_V2'; torchvision offers: C_T_V1, C_T_V2"):
        RAFTFlow("raft_small", weights="C_T_SKHT_V2", weights_file=small_file)
    assert isinstance(build_flow_estimator("raft", model="raft_small", weights_file=small_file), RAFTFlow)
