"""OFS-k cost per generated video with the two flow back-ends, Farneback vs RAFT-small, on CPU, in the same run.

One generated video of 16 frames at 64x64 (a smooth texture drifting 2 px right and 1 px down per frame): its 15
consecutive-frame flows, then OFS-k (default settings: cosine on a 32x32 grid, top-3 over all pairs) against the
flows of 4 reference videos computed once beforehand by the same back-end. RAFT-small has random weights (speed
does not depend on them) and torchvision's default 12 flow updates; frames under 128 px are upsampled to 128x128
for it (RAFT's minimum), so it pays for a 128x128 video. Asserted: RAFT-small costs at least ``MIN_RATIO`` times
Farneback per video.
Measured on 2 CPU cores shared with other jobs (load average 4, 2026-12-05): Farneback 0.064 s, RAFT-small
5.57 s per video (x87); about 65 s in all. The bound of 20 leaves a factor 4 for load, which slows Farneback's
short calls relatively more.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torchvision.models.optical_flow import raft_small

from bench.methods.vdm_memorization.flow import FarnebackFlow, RAFTFlow
from bench.methods.vdm_memorization.motion import OFSSettings, ofs_matrix

MIN_RATIO = 20.0
FRAMES, SIZE, REFERENCES = 16, 64, 4


def drifting_video(seed: int) -> np.ndarray:
    """uint8 [FRAMES, SIZE, SIZE, 3]: a blurred-noise texture moving (2, 1) px per frame."""
    noise = cv2.GaussianBlur(np.random.default_rng(seed).random((SIZE, SIZE)).astype(np.float32), (0, 0), 2.0)
    grey = np.rint((noise - noise.min()) / (noise.max() - noise.min()) * 255).astype(np.uint8)
    frames = np.stack([np.roll(grey, shift=(t, 2 * t), axis=(0, 1)) for t in range(FRAMES)])
    return np.repeat(frames[..., None], 3, axis=-1)


@pytest.mark.benchmark(group="vdm_flow")
def test_ofs_per_video_farneback_vs_raft_small(benchmark, interleaved, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "raft_small_random.pth"
    torch.save(raft_small().state_dict(), weights)
    backends = {"farneback": FarnebackFlow(), "raft_small": RAFTFlow("raft_small", weights_file=weights)}
    generated = drifting_video(0)
    references = {name: [estimator(drifting_video(seed)) for seed in range(1, REFERENCES + 1)]
                  for name, estimator in backends.items()}
    settings, scores = OFSSettings(), {}

    def run(name):
        def work():
            scores[name] = ofs_matrix([backends[name](generated)], references[name], settings)
        return work

    best = interleaved({name: run(name) for name in backends}, rounds=3)
    ratio = best["raft_small"] / best["farneback"]
    benchmark.extra_info.update(device="cpu", frames=FRAMES, size=SIZE, references=REFERENCES,
                                farneback_s=best["farneback"], raft_small_s=best["raft_small"],
                                raft_over_farneback=ratio, torch_threads=torch.get_num_threads())
    print(f"\nOFS-k per {FRAMES}-frame {SIZE}x{SIZE} video on cpu ({torch.get_num_threads()} threads): Farneback "
          f"{best['farneback']:.3f} s, RAFT-small {best['raft_small']:.2f} s (x{ratio:.0f})")
    assert all(scores[name].shape == (1, REFERENCES) and np.isfinite(scores[name]).all() for name in backends)
    assert ratio >= MIN_RATIO
