# TRAK on ArtBench-2: the training loss (mse) as model output, no per-t normalisation (D-TRAK's TRAK baseline);
# noise repeating every 32 samples (D-TRAK ArtBench run_grad.sh batch).
_base_ = ["./_base_/artbench2.py"]

method = dict(method="trak", noise_batch=32)
paper = dict(setting={"method": "TRAK"})
