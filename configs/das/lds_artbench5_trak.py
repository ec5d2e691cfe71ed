# TRAK on ArtBench-5: the training loss (mse) as model output, no per-t normalisation (D-TRAK's TRAK baseline);
# noise repeating every 32 samples (D-TRAK ArtBench run_grad.sh batch).
_base_ = ["./_base_/artbench5.py"]

method = dict(method="trak", noise_batch=32)
