# VSSD-Tiny UperNet, mIoU (MS): the repo's 3-ratio x flip TTA (see _base_/upernet_ade20k.py). Needs the `seg` extra.
_base_ = ["./ade20k_upernet_vssd_tiny.py"]

method = dict(tta=True)
paper = dict(metrics=dict(_delete_=True, **{"mIoU (MS)": dict(key="mIoU", scale=100)}))
