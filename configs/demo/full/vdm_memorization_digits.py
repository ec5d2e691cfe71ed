# Video memorization demo, full profile (`bench demo --full --only vdm_memorization`): the moving-digits model with
# planted content and motion memorization, detection and similarity per kind against a no-memorization baseline
# (../../vdm_memorization/_base_/demo_digits.py), on the UNet3DConditionModel toy, which binds its captions to their
# clips after about 200 steps of batch 32 (93 s of training); the quick profile (../vdm_memorization_digits.py) runs
# the same demo on a frames-as-channels toy (measured in configs/vdm_memorization/README.md).
_base_ = ["../../vdm_memorization/_base_/demo_digits.py"]
