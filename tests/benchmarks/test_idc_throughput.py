"""IDC's inference cost next to a WRN-28-10-shaped CNN, as ratios measured in the same run.

IDC (the CIFAR-10 release's shapes: 9,393,475 parameters, random weights) classifies an image with four U-Net
calls of its 4-step Brownian bridge plus the L1 distances to the 10 label images; the peer is the standard CIFAR
WRN-28-10 (36,481,434 parameters: 4 blocks per stage, width 10) from our focal_calibration zoo module, which
names it by its 6n + 2 depth, 26. Reported: images/s of each, their ratio, and
parameters and multiply-accumulates per image (torch's FlopCounterMode / 2, the convention of ``bench cost``).
On CUDA the batch is 256 (fp32); on CPU 8. The sheet's claim is fewer parameters and FLOPs than diffusion-based
defences and adversarially trained CNNs; the paper's own cost table is unknown. Measured on 2 CPU cores
(2026-11-22, batch 8): IDC 6.2 img/s, WRN-28-10 20.0 img/s (ratio 0.31); 9.39M vs 36.48M parameters, but 13.683 vs
5.243 GMACs per image (IDC's four U-Net calls, the repeated step 1 included). No GPU was lent for a CUDA figure.
Asserted: the throughput ratio follows the multiply-accumulate ratio (both are conv nets run by the same kernels):
IDC's time per MAC is at most ``MAX_MAC_TIME_RATIO`` times the WRN's and at least half of it. The U-Net's GroupNorm,
SiLU and attention are memory-bound ops MACs do not count and, at 32x32 with 64-256 channels, can cost about as much
as its convs, so up to 2x per MAC is expected; 4x leaves a factor 2 for load. Measured IDC/WRN throughput over the
MACs' prediction (0.38): 0.81 on quiet cores (0.31 above), 0.39 on 2 loaded cores (2026-12-05: 0.8 vs 5.1 img/s).
"""
from __future__ import annotations

import pytest
import torch

from bench.methods.classifier.cifar_zoo import WideResNet
from bench.methods.idc import IDC
from bench.throughput import count_macs, count_parameters

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
BATCH = 256 if DEVICE.type == "cuda" else 8
MAX_MAC_TIME_RATIO = 4.0


@pytest.mark.benchmark(group="idc")
def test_idc_inference_vs_wrn_28_10(benchmark, interleaved):
    torch.manual_seed(0)
    idc = IDC(num_classes=10, preset="cifar10")
    idc.setup(DEVICE, seed=0)
    wrn = WideResNet(26, 10, num_classes=10).to(DEVICE).eval()  # WRN-28-10's shape (see the docstring)
    images = torch.rand(BATCH, 3, 32, 32, device=DEVICE)
    seeds = torch.arange(BATCH)
    batch = {"image": images, "target": torch.zeros(BATCH, dtype=torch.long)}

    def run(work):
        def timed():
            with torch.inference_mode():
                work()
            if DEVICE.type == "cuda":
                torch.cuda.synchronize()
        return timed

    best = interleaved({"idc": run(lambda: idc.predict(batch, seeds)), "wrn": run(lambda: wrn(images))}, rounds=3)
    view = idc.attack_model("paper")
    cost = {"idc_params": count_parameters(view), "idc_macs": count_macs(view, images[:1]),
            "wrn_params": count_parameters(wrn), "wrn_macs": count_macs(wrn, images[:1])}
    assert cost["idc_params"] == 9_393_475
    name = torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda" else "cpu"
    idc_ips, wrn_ips = BATCH / best["idc"], BATCH / best["wrn"]
    benchmark.extra_info.update(device=name, batch=BATCH, idc_images_per_s=idc_ips, wrn_images_per_s=wrn_ips,
                                idc_over_wrn_throughput=idc_ips / wrn_ips, **cost,
                                params_ratio=cost["idc_params"] / cost["wrn_params"],
                                macs_ratio=cost["idc_macs"] / cost["wrn_macs"])
    print(f"\n{name}, batch {BATCH}: IDC {idc_ips:.1f} img/s, WRN-28-10 {wrn_ips:.1f} img/s "
          f"(IDC/WRN {idc_ips / wrn_ips:.2f}); params {cost['idc_params'] / 1e6:.2f}M vs "
          f"{cost['wrn_params'] / 1e6:.2f}M; GMACs/image {cost['idc_macs'] / 1e9:.3f} vs {cost['wrn_macs'] / 1e9:.3f}")
    predicted = cost["wrn_macs"] / cost["idc_macs"]  # throughput ratio if both ran at the same MACs per second
    assert 1 / MAX_MAC_TIME_RATIO <= (idc_ips / wrn_ips) / predicted <= 2
