import numpy as np
import pytest
import torch

from bench.finite import NonFiniteError
from bench.methods.consistency_calibration.calibrator import default_seeds
from bench.methods.consistency_calibration.consistency import ConsistencyCalibrator, refine_grid
from bench.methods.consistency_calibration.noise import unit_noise


def overconfident_logits(n=600, k=10, seed=0):
    """Logits of a classifier that is right ~80% of the time with confident margins (miscalibrated)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (n,), generator=gen)
    logits = torch.randn(n, k, generator=gen) * 2
    right = torch.rand(n, generator=gen) < 0.8
    logits[torch.arange(n), torch.where(right, labels, (labels + 1) % k)] += 6
    return logits, labels


def per_sample_loop(logits, seeds, eps, noise, t, aggregation="consistency"):
    """The plain implementation: one sample at a time, one noisy copy at a time."""
    out = torch.zeros_like(logits)
    for i in range(len(logits)):
        draws = unit_noise(seeds[i:i + 1], 0, t, logits.shape[1], noise)[0]
        for j in range(t):
            noisy = logits[i] + draws[j] * eps
            if aggregation == "consistency":
                out[i, noisy.argmax()] += 1
            else:
                out[i] += torch.softmax(noisy, 0)
    return out / t


@pytest.mark.parametrize("noise,aggregation", [("gaussian", "consistency"), ("uniform", "consistency"),
                                               ("gaussian", "mean")])
def test_vectorised_equals_the_per_sample_loop(noise, aggregation):
    logits, _ = overconfident_logits(n=12, k=5)
    seeds = default_seeds(12)
    cc = ConsistencyCalibrator(noise=noise, aggregation=aggregation, num_samples=40, eps=2.5)
    ours = cc.calibrate(logits, seeds)
    reference = per_sample_loop(logits, seeds, 2.5, noise, 40, aggregation)
    if aggregation == "consistency":
        assert torch.equal(ours, reference)
    else:
        assert torch.allclose(ours, reference, atol=1e-6)


def test_output_is_independent_of_batching_and_chunking():
    logits, _ = overconfident_logits(n=50)
    seeds = default_seeds(50)
    whole = ConsistencyCalibrator(noise="gaussian", eps=1.0, num_samples=300).calibrate(logits, seeds)
    tiny_chunks = ConsistencyCalibrator(noise="gaussian", eps=1.0, num_samples=300, max_elements=64)
    pieces = torch.cat([tiny_chunks.calibrate(logits[i:i + 7], seeds[i:i + 7]) for i in range(0, 50, 7)])
    assert torch.equal(whole, pieces)


def test_vote_fractions_limits():
    logits, _ = overconfident_logits(n=40)
    seeds = default_seeds(40)
    zero = ConsistencyCalibrator(noise="gaussian", eps=0.0, num_samples=50).calibrate(logits, seeds)
    assert torch.equal(zero, torch.nn.functional.one_hot(logits.argmax(1), 10).float())  # eps 0: the argmax
    wide = ConsistencyCalibrator(noise="gaussian", eps=1e4, num_samples=2000).calibrate(logits, seeds)
    assert float((wide - 0.1).abs().max()) < 0.05  # noise swamps the logits: votes near uniform
    probs = ConsistencyCalibrator(noise="uniform", eps=3.0, num_samples=1000).calibrate(logits, seeds)
    assert torch.allclose(probs.sum(1), torch.ones(40)) and torch.equal(probs * 1000, (probs * 1000).round())


def test_fit_follows_the_library_schedule_and_improves_ece():
    from bench.metrics.calibration import expected_calibration_error

    logits, labels = overconfident_logits()
    val, test = slice(0, 300), slice(300, 600)
    cc = ConsistencyCalibrator(num_samples=500, search_num_samples=100).fit(logits[val], labels[val])
    for kind in ("gaussian", "uniform"):
        evaluated = [eps for eps, _ in cc.search_log[kind]]
        assert len(evaluated) == 80 and evaluated[:20] == pytest.approx(np.linspace(0, 10, 20).tolist())
        best_after_coarse = min(cc.search_log[kind][:20], key=lambda item: item[1])[0]
        assert evaluated[20:40] == pytest.approx(refine_grid(best_after_coarse, 0).tolist())
        losses = [loss for _, loss in cc.search_log[kind]]
        assert cc.per_kind[kind]["loss"] == min(losses)
        assert cc.per_kind[kind]["eps"] == evaluated[losses.index(min(losses))]  # first of equal minima
    chosen = min(("gaussian", "uniform"), key=lambda k: (cc.per_kind[k]["loss"], k != "uniform"))
    assert cc.noise_kind == chosen and cc.eps == cc.per_kind[chosen]["eps"]

    def ece(probs):
        conf, pred = probs.max(1)
        return expected_calibration_error(conf, (pred == labels[test]).double())

    before = ece(torch.softmax(logits[test], 1))
    after = ece(cc.calibrate(logits[test], default_seeds(600)[test]))
    assert after < 0.9 * before, (before, after)  # 0.109 -> 0.089 on these logits


def test_grid_search_and_nll_criterion():
    logits, labels = overconfident_logits(n=200)
    cc = ConsistencyCalibrator(noise="gaussian", search_method="grid_search", criterion="nll", num_samples=50)
    cc.fit(logits, labels)
    assert [e for e, _ in cc.search_log["gaussian"]] == pytest.approx(np.linspace(0, 10, 100).tolist())
    assert np.isfinite(cc.best_loss) and cc.best_loss < 27.6  # eps 0 gives p_true = 0 for every error: 27.6


def test_seeds_make_it_reproducible_and_matter():
    logits, labels = overconfident_logits(n=200)
    a = ConsistencyCalibrator(noise="gaussian", num_samples=100).fit(logits, labels, default_seeds(200, 0))
    b = ConsistencyCalibrator(noise="gaussian", num_samples=100).fit(logits, labels, default_seeds(200, 0))
    assert a.eps == b.eps and a.search_log == b.search_log
    x = a.calibrate(logits, default_seeds(200, 0))
    assert torch.equal(x, b.calibrate(logits, default_seeds(200, 0)))
    assert not torch.equal(x, a.calibrate(logits, default_seeds(200, 1)))


def test_vote_can_change_the_prediction():
    # near-ties: the majority vote of the noisy copies picks the runner-up for some rows (the sheet's hazard:
    # CC's accuracy can differ from the classifier's), never for rows with a clear margin
    tied = torch.tensor([[1.0, 1.0 - 1e-4, -5.0]]).repeat(40, 1)
    clear = torch.tensor([[4.0, 0.0, -5.0]]).repeat(40, 1)
    cc = ConsistencyCalibrator(noise="gaussian", eps=2.0, num_samples=101)
    seeds = default_seeds(80)
    flipped = cc.calibrate(tied, seeds[:40]).argmax(1) != 0
    assert 0 < int(flipped.sum()) < 40
    assert bool((cc.calibrate(clear, seeds[40:]).argmax(1) == 0).all())


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="noise"):
        ConsistencyCalibrator(noise="laplace")
    with pytest.raises(ValueError, match="fixed noise kind"):
        ConsistencyCalibrator(eps=1.0)
    with pytest.raises(ValueError, match="search_method"):
        ConsistencyCalibrator(search_method="bayes")
    with pytest.raises(RuntimeError, match="not fitted"):
        ConsistencyCalibrator().calibrate(torch.zeros(2, 3))


def test_fit_refuses_nonfinite_logits_with_the_count():
    logits, labels = overconfident_logits(n=50)
    logits[[3, 7], 0] = torch.tensor([float("nan"), float("-inf")])
    with pytest.raises(NonFiniteError, match=r"validation logits: 2 of 500 values are NaN or infinite"):
        ConsistencyCalibrator(num_samples=10).fit(logits, labels)


@pytest.mark.parametrize("aggregation", ["consistency", "mean"])
def test_calibrate_gives_nan_for_a_sample_with_nonfinite_logits_never_a_vote_fraction(aggregation):
    logits, _ = overconfident_logits(n=6)
    clean = ConsistencyCalibrator(noise="gaussian", eps=1.0, num_samples=20, aggregation=aggregation).calibrate(logits)
    logits[2, 4], logits[5, 1] = float("nan"), float("inf")
    probs = ConsistencyCalibrator(noise="gaussian", eps=1.0, num_samples=20, aggregation=aggregation).calibrate(logits)
    assert probs[[2, 5]].isnan().all()
    assert torch.equal(probs[[0, 1, 3, 4]], clean[[0, 1, 3, 4]])  # the other samples are unchanged


def library_fine_grained(logits, labels, seeds, kind, t, fresh=True):
    """A hand-rolled copy of the author library's ``_fit`` (fine_grained, ECE-15, vote fractions): 20 eps over
    [0, 10], then 20 over best -/+ 1, 0.1, 0.01; each candidate draws its own noise (the library's global generator
    moves on), here the stream of SplitMix64 output ``kind * 2^32 + candidate`` of each sample's seed."""
    from bench.methods.consistency_calibration.noise import NOISE_KINDS, splitmix64
    from bench.metrics.calibration import expected_calibration_error

    best, best_loss, log = None, float("inf"), []
    for level in range(4):
        grid = np.linspace(0, 10, 20) if level == 0 else np.linspace(best - 10.0 ** (1 - level),
                                                                    best + 10.0 ** (1 - level), 20)
        for eps in grid:
            counter = torch.tensor(NOISE_KINDS.index(kind) * 2**32 + len(log))
            draws = unit_noise(splitmix64(seeds, counter) if fresh else seeds, 0, t, logits.shape[1], kind)
            votes = (logits[:, None, :] + draws * float(eps)).argmax(2)
            probs = torch.nn.functional.one_hot(votes, logits.shape[1]).float().mean(1)
            confidence, pred = probs.max(1)
            loss = expected_calibration_error(confidence, (pred == labels).double(), 15)
            log.append((float(eps), loss))
            if loss < best_loss:
                best, best_loss = float(eps), loss
    return best, best_loss, log


@pytest.mark.parametrize("kind", ["gaussian", "uniform"])
def test_default_search_is_the_library_procedure_with_fresh_draws_per_eps(kind):
    logits, labels = overconfident_logits(n=60, k=4, seed=3)
    seeds = default_seeds(60, 7)
    cc = ConsistencyCalibrator(noise=kind, num_samples=50).fit(logits, labels, seeds)
    assert (cc.search_draws, cc.search_num_samples) == ("fresh", 50)  # the library's: fresh draws, one T
    eps, loss, log = library_fine_grained(logits, labels, seeds, kind, 50)
    assert cc.search_log[kind] == log and (cc.eps, cc.best_loss) == (eps, loss)


def test_common_random_numbers_reuse_one_set_of_draws_for_every_eps():
    logits, labels = overconfident_logits(n=60, k=4, seed=3)
    seeds = default_seeds(60, 7)
    common = ConsistencyCalibrator(noise="gaussian", num_samples=50, search_draws="common").fit(logits, labels, seeds)
    fresh = ConsistencyCalibrator(noise="gaussian", num_samples=50).fit(logits, labels, seeds)
    # common: every candidate is scored on the samples' own draws (a reference with no fresh streams gives it)
    assert common.search_log["gaussian"] == library_fine_grained(logits, labels, seeds, "gaussian", 50, fresh=False)[2]
    # the coarse grid is the same 20 eps under both; the scores differ because the draws differ
    coarse_common, coarse_fresh = common.search_log["gaussian"][:20], fresh.search_log["gaussian"][:20]
    assert [e for e, _ in coarse_common] == [e for e, _ in coarse_fresh]
    assert sum(a[1] != b[1] for a, b in zip(coarse_common, coarse_fresh, strict=True)) >= 10
    assert common.eps == pytest.approx(common.search_log["gaussian"][[x[1] for x in common.search_log[
        "gaussian"]].index(common.best_loss)][0])
    assert common.describe()["search_draws"] == "common" and fresh.describe()["search_draws"] == "fresh"
    with pytest.raises(ValueError, match=r"search_draws must be one of \('fresh', 'common'\), got 'crn'"):
        ConsistencyCalibrator(search_draws="crn")


def test_fresh_search_streams_are_distinct_per_candidate_and_kind():
    from bench.methods.consistency_calibration.consistency import search_seeds

    seeds = default_seeds(5)
    streams = torch.stack([search_seeds(seeds, kind, j) for kind in ("gaussian", "uniform") for j in range(80)])
    assert len(set(streams.flatten().tolist()) | set(seeds.tolist())) == 5 * 160 + 5
    assert torch.equal(search_seeds(seeds[2:4], "uniform", 9), search_seeds(seeds, "uniform", 9)[2:4])  # per sample
