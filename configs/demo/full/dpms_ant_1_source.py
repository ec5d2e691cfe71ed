# DPMs-ANT digits demo (full profile), the no-transfer reference: the source DDPM with zero training iterations (its
# adaptors at the official N(0, 2e-4) init add almost nothing). Settings: configs/dpms_ant/_base_/demo_digits.py.
_base_ = ["../../dpms_ant/_base_/demo_digits.py"]

method = dict(ablation="adaptor_only", settings=dict(iterations=0))
