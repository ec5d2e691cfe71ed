# VSSD-Micro UperNet, mIoU (MS) with the repo's 3-ratio x flip TTA. Needs the `seg` extra.
_base_ = ["./ade20k_upernet_vssd_micro.py"]

method = dict(tta=True)
paper = dict(metrics=dict(_delete_=True, **{"mIoU (MS)": dict(key="mIoU", scale=100)}))
