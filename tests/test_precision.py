"""bench.precision: one set of names for run.precision, bench cost --precision and adapters' dtype options."""
import pytest
import torch
from torch import nn

from bench.cli import build_parser
from bench.precision import PRECISIONS, autocast, check_precision, dtype_of


def test_names_map_to_their_dtypes():
    assert PRECISIONS == ("fp32", "fp16", "bf16")
    assert [dtype_of(p) for p in PRECISIONS] == [torch.float32, torch.float16, torch.bfloat16]
    with pytest.raises(ValueError, match=r"DiffusionSampler: dtype must be one of fp32, fp16, bf16, got 'amp'"):
        check_precision("amp", "DiffusionSampler: dtype")


@pytest.mark.parametrize("precision, expected", [("fp32", torch.float32), ("fp16", torch.float16),
                                                 ("bf16", torch.bfloat16)])
def test_autocast_runs_a_linear_layer_in_the_named_dtype_on_cpu(precision, expected):
    layer, x = nn.Linear(4, 3), torch.randn(2, 4)
    with autocast(torch.device("cpu"), precision):
        out = layer(x)
    assert out.dtype == expected
    # rounding x and W to the dtype moves each product by <= eps|w||x| (eps/2 each), the output rounding by
    # <= eps/2 |y|; both are bounded by eps * (|W| |x| + |b|), so 1.5 eps times that bound, taken as 2 eps
    reference = layer(x)
    bound = (x.abs() @ layer.weight.abs().T + layer.bias.abs()).detach()
    assert ((out.float() - reference).abs() <= 2 * torch.finfo(expected).eps * bound).all()
    if precision != "fp32":
        assert not torch.equal(out.float(), reference)  # it did compute in the lower precision


def test_autocast_rejects_unknown_names_and_takes_a_device_string():
    with pytest.raises(ValueError, match="run.precision must be one of fp32, fp16, bf16, got 'fp64'"):
        autocast("cpu", "fp64")
    with autocast("cpu", "bf16"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")


def test_bench_cost_takes_the_same_names():
    parser = build_parser()
    for precision in PRECISIONS:
        assert parser.parse_args(["cost", "demo/harness_digits", "--precision", precision]).precision == precision
    with pytest.raises(SystemExit):
        parser.parse_args(["cost", "demo/harness_digits", "--precision", "amp"])
