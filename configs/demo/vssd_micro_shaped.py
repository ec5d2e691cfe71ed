# Quick VSSD demo: the full demo's 0.50M-parameter VSSD-Micro-shaped model (demo/full/), trained 4 epochs not 8.
_base_ = ["./full/vssd_micro_shaped.py"]

train = dict(epochs=4)
