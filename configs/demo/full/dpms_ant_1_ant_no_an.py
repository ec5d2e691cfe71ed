# DPMs-ANT digits demo (full profile), Fig. 4 row 'ant_no_an'.
# Settings: configs/dpms_ant/_base_/demo_digits.py.
_base_ = ["../../dpms_ant/_base_/demo_digits.py"]

method = dict(ablation="ant_no_an")
