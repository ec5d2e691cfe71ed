"""DiffAct's aggregation, upsampling and post-processing on hand-made sequences."""
import numpy as np
import pytest

from bench.methods.diffact.postprocess import (average_views, median_smooth, mode_filter, offset_views, postprocess,
                                               purge, restore_full_sequence)


def test_offset_views_and_their_average():
    views = offset_views(10, 4)
    assert [list(range(10))[v] for v in views] == [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]
    assert offset_views(10, 4, temporal_aug=False) == [slice(0, 10, 4)]
    probs = [np.full((2, 3), 0.2), np.full((2, 2), 0.6)]
    np.testing.assert_allclose(average_views(probs), np.full((2, 2), 0.4))


def test_restore_full_sequence_nearest_neighbour():
    # rate 4 on 10 frames: ticks at 2 and 6 (left offset 2, right offset 1), labels a=5, b=7
    out = restore_full_sequence(np.array([5, 7]), 10, 2, 1, 4)
    assert out.tolist() == [5, 5, 5, 5, 5, 7, 7, 7, 7, 7]  # frame 4 is halfway: scipy's nearest rounds down
    assert restore_full_sequence(np.array([3, 1, 2]), 3, 0, 0, 1).tolist() == [3, 1, 2]
    with pytest.raises(ValueError, match="do not fit"):
        restore_full_sequence(np.array([1, 2, 3]), 10, 2, 1, 4)


def test_purge_gives_short_segments_to_their_neighbours():
    labels = np.array([1, 2, 2, 2, 2, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5, 6, 6])
    # segments (official ends; the last one ends at T-1 = 16): 1[0,1) 2[1,5) 3[5,6) 4[6,10) 5[10,15) 6[15,16)
    out = purge(labels, 2)
    assert out.tolist() == [2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 6]
    # the first (len 1) goes to the next; the inner 3 (len 1, mid = 5 + 1 // 2 = 5) wholly to the next; the last's
    # frames before T-1 to the previous, and its final frame stays


def test_mode_filter_takes_the_smallest_of_tied_modes():
    assert mode_filter(np.array([1, 2, 1, 3, 3, 2, 2]), 3).tolist() == [1, 1, 1, 3, 3, 2, 2]
    assert mode_filter(np.array([5, 4, 6]), 3).tolist() == [5, 4, 6]  # reflect border: windows (5,5,4) (5,4,6) (4,6,6)


def test_median_smooth_renormalises_each_frame():
    probs = np.array([[0.9, 0.1, 0.9, 0.9], [0.1, 0.9, 0.1, 0.1]])
    smoothed = median_smooth(probs, 3)
    np.testing.assert_allclose(smoothed, [[0.9, 0.9, 0.9, 0.9], [0.1, 0.1, 0.1, 0.1]])


def test_postprocess_pipeline_and_its_checks():
    probs = np.array([[0.6, 0.6, 0.2, 0.6], [0.4, 0.4, 0.8, 0.4]])
    assert postprocess(probs, 4, 1, 0).tolist() == [0, 0, 1, 0]
    assert postprocess(probs, 4, 1, 0, "median", 3).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="needs a positive"):
        postprocess(probs, 4, 1, 0, "purge", None)
    with pytest.raises(ValueError, match="postprocess type"):
        postprocess(probs, 4, 1, 0, "smooth", 3)
