# Collage prompting demo: 3x3 digit collages in a seeded random arrangement (the paper's random baseline).
_base_ = ["../collage_prompting/_base_/demo_digits.py"]

method = dict(mode="collage", arrangement="random")
