"""What each Trident stage runs in: precision names, per-stage dicts and their errors."""
import pytest
import torch

from bench.methods.trident.precision import STAGES, StagePrecision


def test_a_precision_name_sets_every_stage_and_clip_low_precision():
    half = StagePrecision.parse("fp16")
    assert half.describe() == {**dict.fromkeys(STAGES, "float16"), "sam_decoder": "float32"}
    assert half.low_precision_clip() == torch.float16
    full = StagePrecision.parse("fp32")
    assert set(full.describe().values()) == {"float32"} and full.low_precision_clip() is None
    assert StagePrecision.parse("bf16").splice == torch.bfloat16


def test_a_dict_overrides_stages_from_its_default():
    mixed = StagePrecision.parse({"default": "fp16", "aggregation": "fp32"})
    assert mixed.aggregation == torch.float32 and mixed.splice == mixed.clip == torch.float16
    assert StagePrecision.parse({"classification": "fp16"}).dino == torch.float32  # default float32


def test_bad_precisions_name_the_setting_and_the_choices():
    with pytest.raises(ValueError, match=r"unknown stage\(s\) splicing; the stages are default, clip, dino"):
        StagePrecision.parse({"default": "fp16", "splicing": "fp32"})
    with pytest.raises(ValueError, match=r"Trident: precision.aggregation must be one of fp32, fp16, bf16, "
                                         r"got 'half'"):
        StagePrecision.parse({"aggregation": "half"})
    with pytest.raises(ValueError, match="Trident: precision must be one of fp32, fp16, bf16"):
        StagePrecision.parse("float16")
    with pytest.raises(ValueError, match="or a dict of stage dtypes, got 16"):
        StagePrecision.parse(16)
