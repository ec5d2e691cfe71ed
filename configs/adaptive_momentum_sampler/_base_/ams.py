# Shared settings of the AMS reproduction grid: 50,000 unconditional samples per run (per-sample seeds from the
# official default seed 96), scored with the TF-compatible Inception-v3 (torch-fidelity's port of the 2015-12-05
# graph, weights from a local file whose sha256 is recorded) against training-set statistics: FID@50k (the paper's
# metric) plus sFID, IS, precision/recall and KID. Images are exported as PNG shards. Each config sweeps the step
# count (`bench sweep CONFIG`); the paper's own step counts and FIDs are not available to the sheet, so runs fill
# "unreported" rows of the fid50k table.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GenerationRequests", num_samples=50000)
method = dict(type="DiffusionSampler", num_inference_steps=100)
task = dict(type="generation", image_format="png",
            extractor=dict(type="InceptionV3Features",
                           weights="checkpoints/inception/weights-inception-2015-12-05-6726825d.pth"))
paper = dict(slug="adaptive_momentum_sampler", table="fid50k", metrics={"FID@50k": "FID"},
             setting={"steps": "{method.num_inference_steps}"})
sweep = dict(grid={"method.num_inference_steps": [10, 20, 50, 100]})
run = dict(seed=96, batch_size=128)
