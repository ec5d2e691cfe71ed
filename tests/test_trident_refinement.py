"""Trident refinement prompts and merges: golden values on hand-made maps, direct reference computations."""
import torch

from bench.methods.trident.refinement import (class_prompts, downsample_coarse, keep_coarse_where_refinement_failed,
                                              mask_prompt, merge_refined)


def test_downsample_marks_uncertain_pixels_with_an_extra_label():
    labels = torch.tensor([[1, 1, 2, 2], [1, 1, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2]])
    probs = torch.zeros(3, 4, 4)
    probs[1, :2, :2], probs[2, :, 2:], probs[0, 2:, :2] = 0.9, 0.6, 0.1
    down, probs_down = downsample_coarse(labels, probs, num_classes=3, coarse_thresh=0.2)
    assert down.tolist() == [[1, 2], [3, 2]]  # the background corner's top probability 0.1 < 0.2: uncertain
    assert probs_down.shape == (3, 2, 2)
    assert downsample_coarse(labels, probs, 3, coarse_thresh=0.0)[0].tolist() == [[1, 2], [0, 2]]


def test_class_prompts_split_8_connected_components_and_drop_small_ones():
    labels = torch.zeros(6, 7, dtype=torch.long)
    labels[0, 0] = labels[1, 1] = labels[2, 2] = 1  # diagonal: one 8-connected component of 3 px
    labels[4:6, 4:7] = 1  # a 6 px block
    labels[0, 6] = 1  # a single pixel, below minimal_area
    probs = torch.zeros(2, 6, 7)
    probs[1] = 0.5
    probs[1, 5, 6] = 0.95  # the block's point
    probs[1, 1, 1] = 0.7  # the diagonal's point
    prompts = class_prompts(labels, probs, num_classes=2, coarse_thresh=0.2, minimal_area=2)
    assert set(prompts) == {1}  # class 0's probability never reaches 0.2
    found = prompts[1]
    assert found.masks.shape == (2, 6, 7) and found.masks.sum((1, 2)).tolist() == [3, 6]  # raster order
    assert found.boxes.tolist() == [[0.0, 0.0, 2.0, 2.0], [4.0, 4.0, 6.0, 5.0]]  # x1, y1, x2, y2 inclusive
    assert found.points.tolist() == [[1, 1], [6, 5]]  # (x, y)
    assert torch.allclose(found.scores, torch.tensor([(0.5 + 0.7 + 0.5) / 3, (0.5 * 5 + 0.95) / 6]))


def test_mask_prompt_frame_threshold_and_scale():
    prob = torch.full((30, 40), 0.5)
    prob[:, :20] = 0.1
    prompt = mask_prompt(prob, (300, 400), coarse_thresh=0.2, coefficient=0.005)
    assert prompt.shape == (1, 256, 256)
    # 300x400 -> 192x256: rows from 192 on are padding
    assert float(prompt[0, 191, 255]) > 0 and float(prompt[0, 192, 255]) == 0.0
    assert torch.isclose(prompt[0, 100, 200], torch.tensor(0.0025)) and float(prompt[0, 100, 10]) == 0.0


def test_merge_refined_takes_the_best_mask_per_class_and_keeps_coarse_labels_elsewhere():
    probs = torch.tensor([[[0.2, 0.2, 0.2]], [[0.8, 0.8, 0.1]], [[0.0, 0.5, 0.7]]])  # C=3, H=1, W=3
    mask_probs = torch.tensor([[[0.9, 0.6, 0.0]], [[0.5, 0.9, 0.0]], [[0.0, 0.8, 0.0]]])
    bits = mask_probs > 0.55
    labels, scores = merge_refined(mask_probs, bits, torch.tensor([1, 1, 2]), probs,
                                   coarse_labels=torch.tensor([[[0, 1, 2]]]))
    # class 1: max(0.9*0.8, 0.5*0.8)=0.72 at x0, max(0.6*0.8, 0.9*0.8)=0.72 at x1; class 2: 0.8*0.5=0.4 at x1
    assert torch.allclose(scores[1, 0], torch.tensor([0.72, 0.72, 0.0]))
    assert torch.allclose(scores[2, 0], torch.tensor([0.0, 0.4, 0.0]))
    assert labels.tolist() == [[[1, 1, 2]]]  # x2: no mask covers it, coarse label 2 stays


def test_failed_components_raise_scores_but_the_official_label_rule_never_fires():
    probs = torch.tensor([[[0.9, 0.1]], [[0.1, 0.9]]])
    refined_scores = torch.tensor([[[0.0, 0.0]], [[0.3, 0.0]]])
    refined_labels, coarse = torch.tensor([[[1, 0]]]), torch.tensor([[[0, 1]]])
    failed = torch.tensor([[[True, False]]])
    labels, scores = keep_coarse_where_refinement_failed(refined_labels, refined_scores, failed, probs, coarse)
    assert torch.allclose(scores, torch.tensor([[[0.9, 0.0]], [[0.3, 0.0]]]))
    assert torch.equal(labels, refined_labels)
