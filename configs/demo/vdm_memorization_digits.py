# Video memorization quick demo: the moving-digits model with planted content and motion memorization, detection and
# similarity per kind (../vdm_memorization/_base_/demo_digits.py).
_base_ = ["../vdm_memorization/_base_/demo_digits.py"]
