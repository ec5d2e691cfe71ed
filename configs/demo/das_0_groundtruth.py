# DAS demo, step 0: the LDS ground truth of digits-2 (configs/das/_base_/digits2.py). 16 random half subsets of the
# 240 training images (stratified, D-TRAK's lds-val seeds 42 + 2k), one tiny DDPM retrained on each (seed 0), and
# each model's diffusion loss of the 60 validation queries averaged over all 100 timesteps (noise seed 0): the
# retrained-losses artefact the attribution configs score LDS against. The eval stage reports the queries' loss mean
# and spread across subsets (RetrainedLossSpread). Generated queries ("gen") are not built yet. The full demo
# (full/das_0_groundtruth.py) retrains 64 subsets, the benchmark's count.
_base_ = ["../das/_base_/digits2.py"]

method = dict(num_subsets=16)
