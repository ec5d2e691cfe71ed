# Video memorization demo, quick profile: the moving-digits model with planted content and motion memorization,
# detection and similarity per kind against a no-memorization baseline, on the frames-as-channels toy
# (../vdm_memorization/_base_/demo_digits_quick.py; the --full profile's UNet3D toy is in ./full/).
_base_ = ["../vdm_memorization/_base_/demo_digits_quick.py"]
