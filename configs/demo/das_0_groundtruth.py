# DAS demo, quick profile (`bench demo --only das`), step 0: the LDS ground truth of digits-2 with 4 random half
# subsets (the full profile's das_0_groundtruth has the benchmark's 64): the tiny DDPM of configs/das/_base_/
# digits2.py retrained on each (seed 0) and each model's diffusion loss of the 60 val and 60 test digits averaged over
# all 100 timesteps. Fewer subsets make each query's Spearman rho coarser (4 ranks) and the LDS noisier, which the
# summary's noise verdict accounts for; no generated queries here (the full profile has them).
_base_ = ["../das/_base_/digits2.py"]

# 4 rather than 5 since 2026-12-06: the whole quick profile measured 297-311 s against its 300 s with 5
method = dict(num_subsets=4)
