# ConFiner demo, temporal refinement of the control expert's 4-step structure (../confiner/_base_/demo_chain.py).
_base_ = ["../confiner/_base_/demo_chain.py"]

method = dict(mode="temporal")
