# Quick DiffTriplet demo: the full demo (demo/full/difftriplet_generated.py: same generated surgical videos, model
# and recipe) trained for 40 epochs instead of 150, within the quick profile's 25 s. Scored with and without
# association guidance (same seeds) and for the encoder alone.
_base_ = ["full/difftriplet_generated.py"]

train = dict(epochs=40)
