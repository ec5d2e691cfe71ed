"""Memorization metrics: Wen's per-prompt aggregation against the notebook's arithmetic, the detection cell against
sklearn on hand cases, copy similarity / CLIP score statistics and map localization against direct computations."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from bench.metrics.memorization import (STEP_BUDGETS, CopySimilarity, LocalizationQuality, MeanCLIPScore,
                                        MemorizationDetection, area_iou, pixel_auroc, prompt_scores, subset_rows)


def wen_notebook_score(track: np.ndarray, num_gens: int, start: int, end: int) -> float:
    """``det_mem_viz.ipynb``'s arithmetic: slice gens and steps, mean over gens, then mean over steps."""
    return float(np.mean(np.mean(track[:num_gens, start:end], axis=0)))


def test_prompt_score_hand_case_and_budgets():
    # 3 generations × 12 steps: value = 100·gen + step
    track = torch.tensor([[100.0 * g + s for s in range(12)] for g in range(3)])
    assert STEP_BUDGETS == {"first_step": (0, 1), "first_10_steps": (0, 10), "all_steps": (0, None)}
    assert float(prompt_scores(track, 1, "first_step")) == 0.0
    assert float(prompt_scores(track, 2, "first_step")) == 50.0        # gens 0, 1 at step 0
    assert float(prompt_scores(track, 2, "first_10_steps")) == 54.5    # 50 + mean(0..9)
    assert float(prompt_scores(track, 3, "all_steps")) == 105.5        # 100 + mean(0..11)
    assert float(prompt_scores(track, 3, (2, 5))) == 103.0
    g = torch.Generator().manual_seed(2)
    tracks = torch.rand(4, 16, 50, generator=g) * 10  # prompts × generations × steps
    for n_gens in (1, 4, 16):
        for budget, (start, end) in STEP_BUDGETS.items():
            got = prompt_scores(tracks, n_gens, budget)
            want = [wen_notebook_score(t.numpy().astype(np.float64), n_gens, start, end or 50) for t in tracks]
            assert got.shape == (4,)
            assert np.abs(got.numpy() - want).max() <= 1e-12


def test_prompt_score_errors_instead_of_a_smaller_average():
    track = torch.ones(4, 10)
    with pytest.raises(ValueError, match=r"n_gens=16 but the tracks hold 4 generations"):
        prompt_scores(track, 16)
    with pytest.raises(ValueError, match=r"steps 0:50 are outside the 10 recorded steps"):
        prompt_scores(track, 4, (0, 50))
    with pytest.raises(ValueError, match=r"unknown step budget 'first_5'; the budgets are first_step, "
                                         r"first_10_steps, all_steps"):
        prompt_scores(track, 4, "first_5")
    with pytest.raises(ValueError, match=r"must be \(prompts, generations, steps\), got \(10,\)"):
        prompt_scores(torch.ones(10), 1)


def _tracks(scores_per_prompt: list[float], gens: int = 2, steps: int = 3) -> torch.Tensor:
    """Tracks whose every entry is the prompt's score, so any budget and n_gens give that score back."""
    return torch.tensor(scores_per_prompt, dtype=torch.float64)[:, None, None].expand(-1, gens, steps).clone()


def test_detection_cell_hand_case():
    # memorized 3.0, 2.0, 0.5; not memorized 1.0, 0.0, 0.25: one memorized prompt ranks below one negative
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    values = [3.0, 2.0, 0.5, 1.0, 0.0, 0.25]
    got = MemorizationDetection(n_gens=2).compute({"text_noise_norm": _tracks(values), "label": labels})
    assert got["AUC"] == pytest.approx(roc_auc_score(labels.numpy(), values), abs=1e-12)
    assert got["AUC"] == pytest.approx(8 / 9, abs=1e-12)  # 8 of the 9 (memorized, other) pairs are ordered
    # at zero false positives the threshold 2.0 catches 2 of 3 memorized prompts
    assert got["TPR@1%FPR"] == pytest.approx(2 / 3, abs=1e-12)
    # best (TPR + TNR) / 2: threshold 2.0 gives (2/3 + 1) / 2 = 5/6; threshold 0.5 gives (1 + 2/3) / 2 = 5/6
    assert got["ACC"] == pytest.approx(5 / 6, abs=1e-12)


def test_detection_cell_reads_the_budget_and_generations():
    # the memorized prompt is high at step 0 of generation 0 only: first-step n=1 separates, all steps n=2 does not
    tracks = torch.zeros(2, 2, 4)
    tracks[0, 0, 0] = 8.0
    tracks[1, :, 1:] = 2.0  # the other prompt: 0 at step 0, 2 after
    labels = torch.tensor([1, 0])
    first = MemorizationDetection(budget="first_step", n_gens=1).compute({"text_noise_norm": tracks, "label": labels})
    assert first["AUC"] == 1.0
    every = MemorizationDetection(budget="all_steps", n_gens=None).compute({"text_noise_norm": tracks, "label": labels})
    assert every["AUC"] == 0.0  # all steps, 2 gens: (8 / 2) / 4 = 1.0 for the memorized prompt, 6 / 4 = 1.5 other


def test_detection_subsets_mean_and_std_against_direct_draws():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([1] * 6 + [0] * 20)
    values = (torch.rand(26, generator=g) + 0.6 * labels).tolist()
    cell = MemorizationDetection(n_gens=1, subsets=5, subset_size=8, subset_seed=3)
    got = cell.compute({"text_noise_norm": _tracks(values, gens=1), "label": labels})
    aucs = []
    for k in range(5):  # the documented draw: default_rng(seed + k) picks 8 of the 20 negatives
        negatives = 6 + np.sort(np.random.default_rng(3 + k).choice(20, 8, replace=False))
        rows = list(range(6)) + negatives.tolist()
        aucs.append(roc_auc_score(labels[rows].numpy(), np.array(values)[rows]))
    assert got["AUC"] == pytest.approx(np.mean(aucs), abs=1e-12)
    assert got["AUC std"] == pytest.approx(np.std(aucs, ddof=1), abs=1e-12)
    assert [len(r) for r in subset_rows(labels, 5, 8, 3)] == [14] * 5


def test_detection_errors_name_the_fix():
    tracks, labels = _tracks([1.0, 0.0], gens=2), torch.tensor([1, 0])
    with pytest.raises(ValueError, match=r"n_gens=4 but the tracks hold 2 generations"):
        MemorizationDetection(n_gens=4).compute({"text_noise_norm": tracks, "label": labels})
    with pytest.raises(ValueError, match=r"subset_size=5 but only 1 non-memorized"):
        MemorizationDetection(n_gens=1, subsets=2, subset_size=5).compute({"text_noise_norm": tracks, "label": labels})
    with pytest.raises(ValueError, match=r"single class"):
        MemorizationDetection(n_gens=1).compute({"text_noise_norm": tracks, "label": torch.tensor([1, 1])})
    with pytest.raises(ValueError, match=r"unknown step budget"):
        MemorizationDetection(budget="last_step")


def test_copy_similarity_statistics():
    sims = torch.tensor([[0.9, 0.3], [0.45, 0.2], [float("nan"), float("nan")], [0.99, 0.99]], dtype=torch.float64)
    labels = torch.tensor([1, 1, 1, 0])  # the non-memorized row is not scored; the NaN row has no GT images
    got = CopySimilarity().compute({"copy_similarity": sims, "label": labels})
    flat = np.array([0.9, 0.3, 0.45, 0.2])
    assert got["mean"] == pytest.approx(flat.mean(), abs=1e-12)
    assert got["p95"] == pytest.approx(np.percentile(flat, 95), abs=1e-12)
    assert got["max"] == pytest.approx(0.9, abs=1e-12)
    assert got["mean of prompt max"] == pytest.approx((0.9 + 0.45) / 2, abs=1e-12)
    assert got[">0.5"] == 0.25 and got[">0.4"] == 0.5
    assert got["prompts without GT"] == 1.0
    with pytest.raises(ValueError, match=r"no scored prompt has ground-truth images"):
        CopySimilarity().compute({"copy_similarity": sims[2:3], "label": labels[:1]})


def test_copy_similarity_tails_as_amg_reports_them():
    # a generation task's per-sample column (1-D), no labels: AMG's SSCD (upper) and nL2 (lower) columns
    sscd = torch.tensor([0.2, 0.45, 0.55, 0.3, 0.9], dtype=torch.float64)
    upper = CopySimilarity(only_label=None).compute({"copy_similarity": sscd})
    assert upper["p95"] == pytest.approx(np.quantile(sscd.numpy(), 0.95), abs=1e-12)  # 0.83: AMG's Top5%
    assert upper["max"] == 0.9 and upper[">0.5"] == 0.4 and upper[">0.4"] == 0.6
    nl2 = torch.tensor([1.2, 1.5, 1.8, 2.0, 1.39, 1.6], dtype=torch.float64)
    lower = CopySimilarity(column="nearest_train_nl2", thresholds=(1.4, 1.6), only_label=None, tail="lower"
                           ).compute({"nearest_train_nl2": nl2})
    assert set(lower) == {"mean", "p5", "min", "mean of prompt min", "<1.4", "<1.6", "prompts without GT"}
    # AMG-iddpm prints "nL2 Bottom 5%" as np.quantile(-nl2, 0.95) and "Bottom 1" as max(-nl2), negated
    assert lower["p5"] == pytest.approx(-np.quantile(-nl2.numpy(), 0.95), abs=1e-12)
    assert lower["p5"] == pytest.approx(1.2 + 0.25 * (1.39 - 1.2), abs=1e-12)
    assert lower["min"] == 1.2 and lower["mean of prompt min"] == pytest.approx(float(nl2.mean()), abs=1e-12)
    assert lower["<1.4"] == pytest.approx(2 / 6) and lower["<1.6"] == pytest.approx(3 / 6)  # 1.6 itself is not below
    with pytest.raises(ValueError, match="tail must be 'upper'"):
        CopySimilarity(tail="low")


def test_mean_clip_score():
    scores = torch.tensor([[0.2, 0.3], [0.25, 0.35]], dtype=torch.float64)
    assert MeanCLIPScore().compute({"clip_score": scores})["CLIP score"] == pytest.approx(0.275, abs=1e-12)
    only = MeanCLIPScore(only_label=0).compute({"clip_score": scores, "label": torch.tensor([1, 0])})
    assert only["CLIP score"] == pytest.approx(0.3, abs=1e-12)


def test_pixel_auroc_and_area_iou_hand_cases():
    mask = torch.tensor([[1, 1], [0, 0]])
    assert pixel_auroc(torch.tensor([[0.9, 0.8], [0.1, 0.2]]), mask) == 1.0
    assert pixel_auroc(torch.tensor([[0.1, 0.2], [0.9, 0.8]]), mask) == 0.0
    assert pixel_auroc(torch.tensor([[0.5, 0.5], [0.5, 0.5]]), mask) == 0.5  # ties count one half
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.2]])
    assert pixel_auroc(scores, mask) == pytest.approx(roc_auc_score(mask.flatten().numpy(), scores.flatten().numpy()))
    assert area_iou(scores, mask) == pytest.approx(1 / 3)  # top-2 = {(0,0), (1,0)}: 1 shared of 3 pixels


def test_localization_scores_partial_masks_only_and_resizes():
    maps = torch.zeros(3, 1, 2, 2)
    maps[0, 0, 0, :] = 1.0  # right on the top row
    maps[1, 0, 1, :] = 1.0  # wrong
    masks = torch.zeros(3, 4, 4, dtype=torch.uint8)
    masks[0, :2] = 1
    masks[1, :2] = 1
    masks[2] = 1  # global memorization (full mask): not a localization case
    got = LocalizationQuality().compute({"eos_map": maps, "gt_mask": masks})
    assert got["localized prompts"] == 2.0
    assert got["AUROC"] == pytest.approx(0.5, abs=1e-12)  # 1.0 and 0.0
    assert got["IoU@area"] == pytest.approx(0.5, abs=1e-12)  # 1 and 0
    with pytest.raises(ValueError, match=r"no prompt has a partial ground-truth mask"):
        LocalizationQuality().compute({"eos_map": maps[2:], "gt_mask": masks[2:]})


def test_detection_restricted_to_one_kind_of_memorization():
    labels = torch.tensor([1, 1, 0, 0])
    kinds = ["global", "local", "none", "none"]
    values = [5.0, 0.5, 1.0, 0.0]  # the local prompt hides below a non-memorized one
    columns = {"text_noise_norm": _tracks(values, gens=1), "label": labels, "memorization": kinds}
    assert MemorizationDetection(n_gens=1).compute(columns)["AUC"] == pytest.approx(0.75)
    assert MemorizationDetection(n_gens=1, positive_kind="global").compute(columns)["AUC"] == 1.0
    assert MemorizationDetection(n_gens=1, positive_kind="local").compute(columns)["AUC"] == 0.5
    with pytest.raises(ValueError, match=r"no memorized prompt of kind 'verbatim'"):
        MemorizationDetection(n_gens=1, positive_kind="verbatim").compute(columns)


def test_copy_similarity_of_one_kind():
    sims = torch.tensor([[0.9], [0.2], [0.5]], dtype=torch.float64)
    columns = {"copy_similarity": sims, "label": torch.tensor([1, 1, 0]), "memorization": ["global", "local", "none"]}
    assert CopySimilarity(only_kind="local").compute(columns)["mean"] == pytest.approx(0.2)
    assert CopySimilarity(only_kind="global").compute(columns)["mean"] == pytest.approx(0.9)
