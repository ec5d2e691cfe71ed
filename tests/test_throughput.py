import json

import pytest
import torch
from torch import nn

from bench.throughput import count_macs, count_parameters, measure_throughput


def test_parameters_and_multiply_adds_of_known_layers():
    linear = nn.Linear(10, 5)
    assert count_parameters(linear) == 55
    assert count_macs(linear, torch.randn(1, 10)) == 50  # 10 x 5 multiply-adds (torch counts 100 flops)
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_macs(conv, torch.randn(1, 3, 16, 16)) == 16 * 16 * 8 * 3 * 9


def test_throughput_record():
    record = measure_throughput(nn.Linear(8, 2), torch.randn(4, 8), warmup=1, iters=3)
    assert record["images_per_s"] > 0 and record["batch_size"] == 4 and record["iters"] == 3
    assert record["precision"] == "fp32" and record["device"] == "cpu"
    assert measure_throughput(nn.Linear(8, 2), torch.randn(4, 8), "bf16", warmup=0, iters=1)["precision"] == "bf16"
    with pytest.raises(ValueError, match="precision must be one of fp32, fp16, bf16, got 'fp8'"):
        measure_throughput(nn.Linear(8, 2), torch.randn(4, 8), "fp8")


def test_cost_command_writes_a_record(tmp_path, monkeypatch, capsys):
    from bench.cli import main

    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path))
    assert main(["cost", "demo/harness_digits", "--input-shape", "1,16,16", "--batch-size", "8", "--warmup", "1",
                 "--iters", "2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    (written,) = (tmp_path / "runs" / "demo" / "cost").glob("harness_digits-cpu-fp32-b8.json")
    assert json.loads(written.read_text()) == printed
    assert printed["params"] > 0 and printed["macs_per_image"] > 0 and printed["batch_size"] == 8
