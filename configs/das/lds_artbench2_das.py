# DAS on ArtBench-2: the code's DAS1 (mean of eps_theta as model output, per-t normalised gradients, scores times the
# residual r_i) through the LoRA parameters; DAS's ArtBench2 code ships only as bytecode, so its grad batch (noise
# pattern) is taken as 03_grad.sh's 16.
_base_ = ["./_base_/artbench2.py"]

method = dict(method="das1")
paper = dict(setting={"method": "DAS"})
