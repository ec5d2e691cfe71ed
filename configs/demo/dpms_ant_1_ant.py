# DPMs-ANT digits demo, Fig. 4 row 'ant' (configs/dpms_ant/_base_/demo_digits.py)
_base_ = ["../dpms_ant/_base_/demo_digits.py"]

method = dict(ablation="ant")
