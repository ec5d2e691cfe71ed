# D-TRAK on ArtBench-2: model output ||eps_theta||^2 / d (mean-squared-l2-norm), no per-t normalisation; noise repeating
# every 32 samples (D-TRAK ArtBench run_grad.sh batch).
_base_ = ["./_base_/artbench2.py"]

method = dict(method="dtrak", noise_batch=32)
paper = dict(setting={"method": "D-TRAK"})
