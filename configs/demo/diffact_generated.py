# Quick DiffAct demo: the full demo (demo/full/diffact_generated.py: same generated videos, model and recipe) trained
# for 36 epochs instead of 120, within the quick profile's 20 s. The run scores the decoder (DDIM) and the encoder's
# own prediction (encoder_* metrics) of one trained model: the paper's claim is that the decoder improves on it.
_base_ = ["full/diffact_generated.py"]

train = dict(epochs=36)
