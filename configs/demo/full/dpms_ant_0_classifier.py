# DPMs-ANT demo (full profile), stage 1: dpms_ant/demo_digits_classifier.py at lr 1e-3 for the code's 300 iterations
# (the quick profile: lr 2e-3, 100).
_base_ = ["../../dpms_ant/demo_digits_classifier.py"]

method = dict(settings=dict(lr=1e-3, iterations=300, warmup_iterations=50, warmup_lr=1e-5, min_lr=1e-4))
