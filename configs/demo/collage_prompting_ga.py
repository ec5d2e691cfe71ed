# Collage prompting demo: 3x3 digit collages arranged by the genetic search (official 3x3 preset) under the predictor.
_base_ = ["../collage_prompting/_base_/demo_digits.py"]

method = dict(mode="collage", arrangement="ga")
