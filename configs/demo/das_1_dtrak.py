# DAS demo, quick profile: demo/full/das_1_dtrak (the same full-data model, trained once for both profiles through the
# train stage's cache; k = 512) over 1 timestep (t = 0) instead of 10, the cheapest setting and on this benchmark
# the best scoring one (configs/das/README.md, the timestep ablation), scored against the quick ground truth of 4
# subsets (demo/das_0_groundtruth), λ chosen on the held-out test digits.
_base_ = ["./full/das_1_dtrak.py"]

method = dict(num_timesteps=1)
upstream = dict(groundtruth=dict(config="demo/das_0_groundtruth"))
