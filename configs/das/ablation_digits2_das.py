# What changes with the number of timesteps (and k) for DAS on the digits-2 demo benchmark (sheet §6: "record k
# and the number of timesteps (10 vs 100)"; the paper: DAS with 10 timesteps often beats D-TRAK with 100): the demo's
# full-profile DAS run (demo/full/das_1_das: k = 512, 10 uniform timesteps, λ chosen on the held-out test digits,
# 16-subset ground truth) swept over 1, 10 and 100 timesteps. The k sweep:
#   bench sweep configs/das/ablation_digits2_das.py --local --grid method.k=128,512,2048
# Measured results: configs/das/README.md.
_base_ = ["../demo/full/das_1_das.py"]

sweep = dict(grid={"method.num_timesteps": [1, 10, 100]})
