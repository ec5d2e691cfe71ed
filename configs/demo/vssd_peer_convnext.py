# Quick VSSD demo peer: the full demo's same-size ConvNeXt (0.59M parameters, demo/full/), trained 4 epochs not 8.
# The ViT peer runs only in the full profile (it needs the longer schedule, and its attention doubles the time).
_base_ = ["./full/vssd_peer_convnext.py"]

train = dict(epochs=4)
