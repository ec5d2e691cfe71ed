"""The VideoMemorization adapter: per-prompt seeds and rows, the same videos and tracks as the sampler, stored through
the memorization task and scored by its detection metric on the content and motion signals."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("diffusers")

from video_fixture import write_tiny_text_to_video  # noqa: E402

from bench.methods.bright_ending.sampling import encode_prompts  # noqa: E402
from bench.methods.vdm_memorization.adapter import VideoMemorization  # noqa: E402
from bench.methods.vdm_memorization.video_sampling import generate_videos  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from bench.metrics.memorization import prompt_scores  # noqa: E402
from bench.tasks.memorization import TextToImageMemorizationTask  # noqa: E402

SAMPLING = {"num_inference_steps": 3, "num_frames": 3}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    method = VideoMemorization(model=str(write_tiny_text_to_video(tmp_path_factory.mktemp("t2v"))), num_videos=2,
                               gen_seed=10, sampling=SAMPLING)
    method.setup(torch.device("cpu"))
    return method


def test_rows_hold_each_prompts_videos_and_tracks(adapter):
    batch = {"prompt": ["a cat", "a dog"], "row": torch.tensor([3, 7]), "label": torch.tensor([1, 0])}
    out = adapter.predict(batch, torch.tensor([0, 1]))
    assert out["video"].shape == (2, 2, 3, 16, 16, 3) and out["video"].dtype == torch.uint8
    assert out["content_magnitude"].shape == (2, 2, 3) and out["motion_magnitude"].shape == (2, 2, 3)
    assert out["prompt"] == ["a cat", "a dog"] and out["label"].tolist() == [1, 0]
    model = adapter.components
    alone = generate_videos(model, encode_prompts(model, ["a dog"]), encode_prompts(model, [""]), [10 + 7], 2,
                            adapter.sampling)
    # row 7: seed gen_seed + row, whatever the batch (batched convolutions round differently: within 1 level)
    assert (out["video"][1].int() - alone.frames.int()).abs().max() <= 1
    torch.testing.assert_close(out["content_magnitude"][1], alone.content_magnitude, rtol=1e-4, atol=1e-6)
    task = TextToImageMemorizationTask(metrics=[
        dict(type="MemorizationDetection", signal=signal, budget="all_steps", n_gens=None, prefix=f"{signal} ")
        for signal in ("content_magnitude", "motion_magnitude")])
    scores = task.evaluate(out)
    for signal in ("content_magnitude", "motion_magnitude"):
        expected = roc_auc_score(out["label"].numpy(), prompt_scores(out[signal], n_gens=2).numpy())
        assert scores[f"{signal} AUC"] == pytest.approx(float(expected))
    facts = adapter.provenance()
    assert facts["label"].startswith("re-implementation") and facts["video"]["num_frames"] == 3


def test_settings_are_checked():
    with pytest.raises(ValueError, match="num_videos must be a positive int"):
        VideoMemorization(num_videos=0)
    with pytest.raises(RuntimeError, match="no model folder"):
        VideoMemorization().setup(torch.device("cpu"))


def test_fit_trains_the_toy_and_the_adapter_samples_it(tmp_path):
    from bench.datasets.moving_digits import MovingDigitsTrain

    train = MovingDigitsTrain(num_content=1, num_motion=1, copies=2, num_ordinary=4, frames=4, canvas=12, seed=0)
    method = VideoMemorization(num_videos=1, sampling={"num_inference_steps": 2, "num_frames": 4})
    folder = method.fit(train, None, tmp_path, torch.device("cpu"), steps=2, batch_size=2, show_progress=False)
    assert (folder / "toy.json").is_file()
    assert method.fit(train, None, tmp_path, torch.device("cpu"), steps=2, batch_size=2,
                      show_progress=False) == folder  # finished: returned at once
    method.use_checkpoint(folder)
    method.setup(torch.device("cpu"))
    out = method.predict({"prompt": ["digit three moving"], "row": torch.tensor([0]), "label": torch.tensor([0])},
                         torch.tensor([0]))
    assert out["video"].shape == (1, 1, 4, 12, 12, 3) and out["content_magnitude"].shape == (1, 1, 2)


def test_collate_keeps_the_ground_truth_clips_ragged():
    """Prompts of a moving-digits set carry one (content) or `copies` (motion) ground-truth clips: the batch keeps
    them as per-prompt lists (a regression: default collation refused the ragged lists)."""
    from bench.datasets.moving_digits import MovingDigitsPrompts

    prompts = MovingDigitsPrompts(num_content=1, num_motion=1, copies=2, num_ordinary=4, frames=4, canvas=12)
    batch = VideoMemorization().collate([prompts[i] for i in range(3)])
    assert [len(clips) for clips in batch["gt_videos"]] == [1, 2, 0]
    assert batch["gt_videos"][1][0].shape == (4, 12, 12, 3)
