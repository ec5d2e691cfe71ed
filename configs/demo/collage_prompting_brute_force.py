# Collage prompting demo: 3x3 digit collages arranged by the best of 25 random permutations under the predictor.
_base_ = ["../collage_prompting/_base_/demo_digits.py"]

method = dict(mode="collage", arrangement="brute_force")
