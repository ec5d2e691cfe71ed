# Video memorization demo, full profile only (`bench demo --full --only vdm_memorization`): the moving-digits model
# with planted content and motion memorization, detection and similarity per kind against a no-memorization baseline
# (../../vdm_memorization/_base_/demo_digits.py). Not in the quick profile: the toy binds its captions to their clips
# only after about 200 steps of batch 32, several times the quick budget (measured in
# configs/vdm_memorization/README.md).
_base_ = ["../../vdm_memorization/_base_/demo_digits.py"]
