"""AMG's guidance arithmetic (methods/amg/guidance.py) against the official code's formulas, written out by hand."""
import math

import pytest
import torch

from bench.methods.amg.guidance import (CaptionCountdown, CheckSkipper, ThresholdSchedule, combine_noise,
                                        deduplication_scale, despecification_scale, pixel_guidance_scale,
                                        text_dissimilarity_weight)


def test_text_schedule_is_the_codes_asy_curve():
    # AMG-sd ddim.py: asy(t, 0.3, 0.4, 0.005, 0) = 0.3 - (0.3 - 0.4) exp(-0.005 t): 0.4 at t = 0, -> 0.3
    schedule = ThresholdSchedule("dynamic", a=0.3, b=0.4, c=0.005)
    assert schedule.value(0) == pytest.approx(0.4)
    assert schedule.value(981) == pytest.approx(0.3 + 0.1 * math.exp(-4.905))
    assert schedule.value(1000) == pytest.approx(0.30067379, abs=1e-8)  # 0.3 + 0.1 e^-5
    assert schedule.passes(torch.tensor([0.41, 0.39]), 0).tolist() == [True, False]


def test_pixel_schedule_guides_below_the_threshold():
    # AMG-iddpm condition_mean: asy(t, 1.95, 1.5, 0.025) over the 250 respaced indices; guide while nL2 < lambda
    schedule = ThresholdSchedule("dynamic", a=1.95, b=1.5, c=0.025, above=False)
    assert schedule.value(0) == pytest.approx(1.5)
    assert schedule.value(249) == pytest.approx(1.95 - 0.45 * math.exp(-6.225))
    assert schedule.value(40) == pytest.approx(1.95 - 0.45 * math.exp(-1.0))
    assert schedule.passes(torch.tensor([1.49, 1.51]), 0).tolist() == [True, False]


def test_constant_and_none_schedules():
    constant = ThresholdSchedule("constant", constant=1.5, above=False)
    assert constant.value(0) == constant.value(249) == 1.5
    everywhere = ThresholdSchedule("none", above=False)
    assert everywhere.passes(torch.tensor([100.0, 0.0]), 10).tolist() == [True, True]
    assert ThresholdSchedule("none").passes(torch.tensor([-1.0]), 10).tolist() == [True]
    with pytest.raises(ValueError, match="kind must be one of"):
        ThresholdSchedule("parabolic")


def test_despecification_and_deduplication_scales():
    sigma = torch.tensor([-0.2, 0.1, 0.3, 0.6])
    s1 = despecification_scale(sigma, cfg_scale=7.5, c1=13.0)
    # the code: g2_scale = max(min(6.5, 6.5 / 0.5 * simscore), 0)
    assert s1.tolist() == pytest.approx([0.0, 1.3, 3.9, 6.5])
    s2 = deduplication_scale(sigma, cfg_scale=7.5, despec=s1, c2=0.3)
    # the code: g3_scale = max(min(6.5 - g2, (6.5 - g2) / 0.3 * simscore), 0)
    g2 = [0.0, 1.3, 3.9, 6.5]
    expected = [max(min(6.5 - g, (6.5 - g) / 0.3 * s), 0) for g, s in zip(g2, sigma.tolist(), strict=True)]
    assert s2.tolist() == pytest.approx(expected)


def test_combine_noise_is_cfg_with_both_terms():
    g = torch.Generator().manual_seed(0)
    eu, ep, ec = (torch.randn(2, 4, 3, 3, generator=g) for _ in range(3))
    s1, s2 = torch.tensor([0.0, 2.0]), torch.tensor([0.5, 1.0])
    out = combine_noise(eu, ep, 7.5, s1, ec, s2)
    for b in range(2):
        cfg = eu[b] + 7.5 * (ep[b] - eu[b])
        g_spe = -s1[b] * (ep[b] - eu[b])
        g_dup = -s2[b] * (ec[b] - eu[b])
        torch.testing.assert_close(out[b], cfg + g_spe + g_dup)
    torch.testing.assert_close(combine_noise(eu, ep, 7.5, torch.zeros(2)), eu + 7.5 * (ep - eu))


def test_caption_countdown_runs_ten_steps_per_trigger():
    countdown = CaptionCountdown(10)
    assert not countdown.step(False)
    on = [countdown.step(t) for t in [True] + [False] * 12]
    assert on == [True] * 10 + [False] * 3  # the trigger step and 9 more, then off until a new trigger
    countdown = CaptionCountdown(10)
    on = [countdown.step(t) for t in [True, False, False, True] + [False] * 11]
    assert on == [True] * 13 + [False] * 2  # a trigger inside the window restarts it: 3 + 10 steps


def test_text_dissimilarity_weight():
    sigma, t, s = torch.tensor([0.5]), torch.tensor([801]), torch.tensor([0.9])
    weight = text_dissimilarity_weight(sigma, t, s, scale=100.0)
    assert weight.item() == pytest.approx(0.9 * 100 * 0.2 * math.exp(199 / 170), rel=1e-6)


def test_pixel_guidance_scale():
    assert pixel_guidance_scale(torch.tensor([1.2]), 1.6).item() == pytest.approx(1000 * 0.4 * 80, rel=1e-6)


def _official_trace(outcomes, steps):
    """The code's globals over ``steps`` steps after the trigger: an ablated call (cond_fn None) and a guided call
    per step; a guided check returns the next outcome (True: nL2 < lambda -> skip = 0; False: skip += 1)."""
    skip, countdown, checks = 0, 10, []
    outcomes = iter(outcomes)
    for _ in range(steps):
        # ablated p_sample
        if skip != 3 or countdown == 0:
            if countdown == 0:
                countdown, skip = 10, 0
        else:
            countdown -= 1
        # guided p_sample
        if skip != 3 or countdown == 0:
            if countdown == 0:
                countdown, skip = 10, 0
            checks.append(True)
            skip = 0 if next(outcomes) else skip + 1
        else:
            countdown -= 1
            checks.append(False)
    return checks


@pytest.mark.parametrize("pattern", [[False] * 40, [True, False, False, False] * 10, [False, True] * 20])
def test_check_skipper_follows_the_official_globals(pattern):
    expected = _official_trace(list(pattern), 30)
    skipper, outcomes, got = CheckSkipper(), iter(pattern), []
    for _ in range(30):
        check = skipper.should_check()
        got.append(check)
        if check:
            skipper.record(next(outcomes))
    assert got == expected
    if pattern == [False] * 40:  # 3 misses, then a pause of 10 calls = 5 steps (two calls per step), ...
        assert got[:10] == [True, True, True, False, False, False, False, False, True, True]


def test_check_skipper_one_call_per_step():
    skipper, got = CheckSkipper(calls_per_step=1), []
    for _ in range(16):
        check = skipper.should_check()
        got.append(check)
        if check:
            skipper.record(False)
    assert got == [True] * 3 + [False] * 10 + [True] * 3
