"""Triplet recognition AP: hand-computed values, chance level, component max-pooling, parity with ivtmetrics where
its protocol and ours agree, and the scikit-learn >= 1.6 absent-class hazard where they do not."""
import math
import os

import numpy as np
import pytest
import torch

ivtmetrics = pytest.importorskip("ivtmetrics")
import sklearn  # noqa: E402

from bench.metrics.triplet_recognition import (  # noqa: E402
    COMPONENTS,
    TripletRecognitionAP,
    extract_component,
    provenance,
)
from bench.formats.cholec import official_mapping  # noqa: E402
from bench.registry import METRICS  # noqa: E402
from bench.tasks.base import EvalTask  # noqa: E402

CLASS_COUNTS = {"ivt": 100, "i": 6, "v": 10, "t": 15, "iv": 26, "it": 59}
SKLEARN_CLIPS_ZERO = tuple(int(part) for part in sklearn.__version__.split(".")[:2]) >= (1, 6)


def columns(*videos):
    """Metric outputs from (targets, scores) pairs of [T, 100] arrays."""
    return {"triplet_scores": [s for _, s in videos], "triplet_target": [t for t, _ in videos]}


def video(frames, classes):
    """A [frames, 100] (targets, scores) pair, zero except ``classes``: {triplet: (targets, scores)}."""
    targets, scores = np.zeros((frames, 100), dtype=np.int64), np.zeros((frames, 100))
    for triplet, (t, s) in classes.items():
        targets[:, triplet], scores[:, triplet] = t, s
    return targets, scores


def hand_case():
    # video A: triplet 0 targets 1 0 1 0, scores .9 .8 .3 .1 -> positives at ranks 1, 3: AP (1/1 + 2/3) / 2 = 5/6
    #          triplet 1 targets 0 1 0 0, scores .5 .4 .3 .2 -> positive at rank 2: AP 1/2
    # video B: triplet 0 absent (scores .7 .6 .5 .4)
    #          triplet 1 targets 1 0 0 1, scores .15 .25 .35 .45 -> positives at ranks 1, 4: AP (1/1 + 2/4) / 2 = 3/4
    a = video(4, {0: ([1, 0, 1, 0], [.9, .8, .3, .1]), 1: ([0, 1, 0, 0], [.5, .4, .3, .2])})
    b = video(4, {0: ([0, 0, 0, 0], [.7, .6, .5, .4]), 1: ([1, 0, 0, 1], [.15, .25, .35, .45])})
    return columns(a, b)


# video-wise: triplet 0 from video A only (5/6), triplet 1 (1/2 + 3/4) / 2 = 5/8; the other 98 are absent everywhere
HAND_VIDEO = (5 / 6 + 5 / 8) / 2
# global, 8 frames: triplet 0 scores .9P .8 .7 .6 .5 .4 .3P .1 -> (1/1 + 2/7) / 2 = 9/14
#                   triplet 1 scores .5 .45P .4P .35 .3 .25 .2 .15P -> (1/2 + 2/3 + 3/8) / 3 = 37/72
HAND_GLOBAL = (9 / 14 + 37 / 72) / 2


def random_videos(seed, frames, rate):
    rng = np.random.default_rng(seed)
    return [((rng.random((n, 100)) < rate).astype(np.int64), rng.random((n, 100))) for n in frames]


def ap_by_hand(targets, scores):
    """AP of one class without ties: the mean over positives of the precision at their rank."""
    hits = targets[np.argsort(-scores, kind="stable")]
    ranks = np.flatnonzero(hits) + 1
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks))


# --- hand-computed values -----------------------------------------------------------------------------------------

def test_hand_computed_video_and_global_ap():
    metric = TripletRecognitionAP(components=("ivt",))
    scores = metric.compute(hand_case())
    assert scores == {"AP_IVT": pytest.approx(HAND_VIDEO, abs=1e-15), "global_AP_IVT": pytest.approx(HAND_GLOBAL,
                                                                                                     abs=1e-15)}
    assert HAND_VIDEO == pytest.approx(35 / 48) and HAND_GLOBAL != pytest.approx(HAND_VIDEO, abs=0.05)
    per_class = metric.classwise(hand_case(), "ivt", protocol="video")
    assert per_class.shape == (100,) and np.isnan(per_class[2:]).all()
    assert per_class[:2] == pytest.approx([5 / 6, 5 / 8], abs=1e-15)  # not (5/6 + 0) / 2: absent in B is skipped
    per_class = metric.classwise(hand_case(), "ivt", protocol="global")
    assert per_class[:2] == pytest.approx([9 / 14, 37 / 72], abs=1e-15) and np.isnan(per_class[2:]).all()


def test_ground_truth_as_prediction_scores_one_everywhere():
    videos = random_videos(0, (30, 1, 45), 0.05)  # sparse: many classes absent from some or all videos
    outputs = columns(*[(t, t.astype(float)) for t, _ in videos])
    scores = TripletRecognitionAP().compute(outputs)
    assert set(scores) == {f"{p}AP_{c.upper()}" for p in ("", "global_") for c in ("i", "v", "t", "iv", "it", "ivt")}
    assert all(value == 1.0 for value in scores.values()), scores


def test_random_scores_give_chance_level():
    videos = random_videos(1, (2000, 1500, 2500), 0.3)
    metric = TripletRecognitionAP(components=("ivt",), global_ap=False)
    ap = metric.compute(columns(*videos))["AP_IVT"]
    # Expected AP of a random ranking of N frames with R positives (Bestgen 2015): ((R-1)/(N-1) (N - H_N) + H_N) / N,
    # a little above the positive rate R/N (here by about 0.003). Per class, the video-wise AP over these three
    # videos deviates from it with a standard deviation of about 0.006 (asserted below for this draw), so the mean
    # of 100 independent classes is within 5 standard errors (5 * 0.006 / 10 = 0.003) of the expectation (20
    # other seeds: standard deviation of AP_IVT 0.0006).
    expected = []
    for targets, _ in videos:
        n, r = targets.shape[0], targets.sum(axis=0)
        harmonic = np.sum(1 / np.arange(1, n + 1))
        expected.append(((r - 1) / (n - 1) * (n - harmonic) + harmonic) / n)
    expected = np.mean(expected, axis=0)
    per_class = metric.classwise(columns(*videos), "ivt")
    assert np.std(per_class - expected) < 0.008
    assert ap == pytest.approx(expected.mean(), abs=0.003)
    assert ap == pytest.approx(0.3, abs=0.01)
    assert abs(ap - 0.3) < abs(ap - 0.35)  # far from a model that is even slightly better than chance


# --- components -----------------------------------------------------------------------------------------------------

def test_instrument_ap_is_max_pooled_triplet_ap():
    videos = random_videos(2, (40, 25), 0.02)
    # an independent map: the maps.txt shipped with ivtmetrics, read as text (the code uses Disentangle().bank)
    bank = np.loadtxt(os.path.join(os.path.dirname(ivtmetrics.__file__), "maps.txt"), delimiter=",", dtype=int)
    videos[1][0][:, bank[:, 1] == 3] = 0  # instrument 3 absent from the second video
    per_video = []
    for targets, scores in videos:
        row = []
        for instrument in range(6):
            members = bank[:, 1] == instrument
            t, s = targets[:, members].max(axis=1), scores[:, members].max(axis=1)
            row.append(ap_by_hand(t, s) if t.any() else np.nan)
        per_video.append(row)
    per_class = np.nanmean(per_video, axis=0)
    assert np.isnan(per_video[1][3]) and not np.isnan(per_class).any()
    metric = TripletRecognitionAP(components=("i",), global_ap=False)
    assert metric.classwise(columns(*videos), "i") == pytest.approx(per_class, abs=1e-12)
    assert metric.compute(columns(*videos))["AP_I"] == pytest.approx(np.mean(per_class), abs=1e-12)


def test_vectorised_extraction_equals_ivtmetrics_extract():
    recognizer = ivtmetrics.Recognition(num_class=100)
    bank = official_mapping()
    targets, scores = random_videos(3, (20,), 0.1)[0]
    for component in COMPONENTS:
        for x in (targets, scores):
            ours, theirs = extract_component(x, component, bank), recognizer.extract(x, component)
            assert ours.shape == (20, CLASS_COUNTS[component]) and ours.dtype == theirs.dtype
            assert np.array_equal(ours, theirs), component
        per_class = TripletRecognitionAP().classwise(columns((targets, scores)), component)
        assert per_class.shape == (CLASS_COUNTS[component],)


# --- ivtmetrics -----------------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:No positive class found in y_true")  # inside ivtmetrics
def test_parity_with_ivtmetrics_when_every_class_is_present():
    videos = random_videos(4, (30, 25, 35), 0.5)
    assert all(t.any(axis=0).all() for t, _ in videos)  # every triplet present
    outputs = columns(*videos)
    metric = TripletRecognitionAP()
    ours = metric.compute(outputs)
    recognizer = metric.recognizer(outputs)  # ivtmetrics' own Recognition, filled per video
    for component in COMPONENTS:
        theirs = recognizer.compute_video_AP(component)
        assert ours[f"AP_{component.upper()}"] == pytest.approx(theirs["mAP"], abs=1e-15)
        assert metric.classwise(outputs, component) == pytest.approx(theirs["AP"], abs=1e-15)
        assert ours[f"global_AP_{component.upper()}"] == pytest.approx(recognizer.compute_global_AP(component)["mAP"],
                                                                       abs=1e-15)


@pytest.mark.filterwarnings("ignore:No positive class found in y_true")  # inside ivtmetrics
def test_absent_class_hazard_of_ivtmetrics_under_new_scikit_learn():
    outputs = hand_case()
    recognizer = TripletRecognitionAP().recognizer(outputs)
    theirs_video = recognizer.compute_video_AP("ivt")["mAP"]
    theirs_global = recognizer.compute_global_AP("ivt")["mAP"]
    if SKLEARN_CLIPS_ZERO:
        # sklearn returns 0.0, not -0.0, for a class without positives, so resolve_nan keeps it: triplet 0 is
        # (5/6 + 0) / 2 and the 98 triplets absent everywhere count as 0 in the mean over 100 classes
        assert theirs_video == pytest.approx((5 / 12 + 5 / 8) / 100, abs=1e-15)
        assert theirs_global == pytest.approx((9 / 14 + 37 / 72) / 100, abs=1e-15)
    else:  # sklearn < 1.6: -0.0 -> NaN, ivtmetrics' protocol as intended
        assert theirs_video == pytest.approx(HAND_VIDEO, abs=1e-15)
        assert theirs_global == pytest.approx(HAND_GLOBAL, abs=1e-15)
    ours = TripletRecognitionAP(components=("ivt",)).compute(outputs)
    assert ours["AP_IVT"] == pytest.approx(HAND_VIDEO, abs=1e-15)
    assert ours["global_AP_IVT"] == pytest.approx(HAND_GLOBAL, abs=1e-15)


def test_a_component_without_any_positive_is_nan():
    scores = TripletRecognitionAP().compute(columns(*random_videos(5, (10, 12), 0.0)))  # no positive anywhere
    assert len(scores) == 12 and all(math.isnan(value) for value in scores.values())


def test_recognizer_leaves_numpy_error_state_alone():
    before = np.geterr()
    TripletRecognitionAP().compute(hand_case())
    assert np.geterr() == before  # Recognition() itself calls np.seterr(divide='ignore', invalid='ignore')


def test_provenance_names_versions_and_the_absent_class_rule():
    info = provenance()
    assert info["ivtmetrics"] == ivtmetrics.__version__ and info["scikit-learn"] == sklearn.__version__
    assert info["absent_class_rule"].startswith("NaN, skipped")


# --- options and errors ---------------------------------------------------------------------------------------------

def test_keys_prefix_components_and_tensors():
    outputs = hand_case()
    plain = TripletRecognitionAP(components=("ivt", "i")).compute(outputs)
    spec = {"type": "TripletRecognitionAP", "prediction_key": "decoder_scores", "target_key": "labels",
            "components": ("ivt", "i"), "prefix": "decoder_"}
    metric = METRICS.build(dict(spec))
    assert metric.required == ("decoder_scores", "labels") and metric.prefix == "decoder_"
    renamed = {"decoder_scores": [torch.from_numpy(s).float() for s in outputs["triplet_scores"]],
               "labels": [torch.from_numpy(t).bool() for t in outputs["triplet_target"]]}
    assert metric.compute(renamed) == pytest.approx(plain, abs=1e-7)  # bare names: the task adds the prefix
    scores = EvalTask([spec]).evaluate(renamed)
    assert scores == pytest.approx({f"decoder_{k}": v for k, v in plain.items()}, abs=1e-7)
    assert set(TripletRecognitionAP(components="v", global_ap=False).compute(outputs)) == {"AP_V"}
    with pytest.raises(ValueError, match="unknown triplet component"):
        TripletRecognitionAP(components=("i", "vt"))
    with pytest.raises(ValueError, match="protocol must be"):
        TripletRecognitionAP().classwise(outputs, "i", protocol="frame")


def test_mapping_file_must_be_ivtmetrics_map(tmp_path):
    bank = official_mapping()
    path = tmp_path / "maps.txt"
    path.write_text("# IVT, I, V, T, IV, IT\n" + "".join(",".join(map(str, row)) + "\n" for row in bank))
    same = TripletRecognitionAP(mapping_file=str(path), components=("i",))
    assert same.compute(hand_case()) == TripletRecognitionAP(components=("i",)).compute(hand_case())
    bank[7, 3] = 5
    path.write_text("".join(",".join(map(str, row)) + "\n" for row in bank))
    with pytest.raises(ValueError, match=r"differs from ivtmetrics' built-in triplet map \(first at row 7"):
        TripletRecognitionAP(mapping_file=str(path))
    path.write_text("0,0,2,1,2,1\n")  # the file format itself is read_mapping's (test_datasets_cholec_triplet)
    with pytest.raises(ValueError, match="maps.txt: 1 triplet rows, expected 100"):
        TripletRecognitionAP(mapping_file=str(path))


@pytest.mark.parametrize(("change", "message"), [
    (lambda o: o["triplet_scores"].__setitem__(1, o["triplet_scores"][1][:, :99]),
     r"video 1: scores must be \[frames, 100\], got \(4, 99\)"),
    (lambda o: o["triplet_target"].__setitem__(0, o["triplet_target"][0][0]), r"video 0: targets must be \[frames"),
    (lambda o: o["triplet_scores"].__setitem__(1, o["triplet_scores"][1][:3]),
     "video 1: scores have 3 frames, targets have 4"),
    (lambda o: o["triplet_target"][1].__setitem__((0, 5), 2), r"video 1: targets must be 0 or 1, got \[2.\]"),
    (lambda o: o["triplet_scores"][0].__setitem__((2, 0), np.nan), "video 0: 1 scores are not finite"),
    (lambda o: o["triplet_target"].pop(), "2 predicted videos for 1 target videos"),
    (lambda o: [o[k].clear() for k in o], "no videos to score"),
    (lambda o: [o[k].__setitem__(0, o[k][0][:0]) for k in o], "video 0 has no frames"),
])
def test_malformed_videos_are_named(change, message):
    outputs = hand_case()
    change(outputs)
    with pytest.raises(ValueError, match=message):
        TripletRecognitionAP().compute(outputs)
