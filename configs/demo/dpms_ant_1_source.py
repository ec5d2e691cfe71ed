# DPMs-ANT digits demo, the "no transfer" reference: the source DDPM with zero training iterations (its adaptors
# at the official N(0, 2e-4) init add almost nothing), sampled and scored like the Fig. 4 rows.
_base_ = ["../dpms_ant/_base_/demo_digits.py"]

method = dict(ablation="adaptor_only", settings=dict(iterations=0))
