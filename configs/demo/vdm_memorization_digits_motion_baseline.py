# Video memorization demo, quick profile, second run: the same trained model and generation settings as
# vdm_memorization_digits, with the class prompts scored against the motion prompts' trajectory clips, so OFS-k's
# baseline has the same number and kind of references as a copied-motion prompt.
_base_ = ["../vdm_memorization/_base_/demo_digits_quick.py"]

dataset = dict(baseline_references="motion")
