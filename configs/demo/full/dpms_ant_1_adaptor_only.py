# DPMs-ANT digits demo (full profile), Fig. 4 row 'adaptor_only'.
# Settings: configs/dpms_ant/_base_/demo_digits.py.
_base_ = ["../../dpms_ant/_base_/demo_digits.py"]

method = dict(ablation="adaptor_only")
