# Collage prompting demo: the standard prompt, one call per digit (the baseline collages are compared against).
_base_ = ["../collage_prompting/_base_/demo_digits.py"]

method = dict(mode="standard")
