# Video memorization demo, second run: the same trained model and generations settings as vdm_memorization_digits,
# with the class prompts scored against the motion prompts' trajectory clips, so OFS-k's baseline has the same number
# and kind of references as a copied-motion prompt (its GSSCD baseline is in vdm_memorization_digits).
_base_ = ["../../vdm_memorization/_base_/demo_digits.py"]

dataset = dict(baseline_references="motion")
