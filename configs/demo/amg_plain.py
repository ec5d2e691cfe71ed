# AMG quick demo, baseline: the memorizing digits DDPM sampled plainly (trains the shared model).
_base_ = ["../amg/_base_/demo_digits.py"]
