# The ProxyCLIP row on Cityscapes: the same pipeline without SAM-guided aggregation and without refinement (the
# issue's definition; ProxyCLIP's own code averages window logits in mmseg's slide mode instead of splicing features).
_base_ = ["./cityscapes.py"]

method = dict(settings=dict(sam_aggregation=False), refinement=None)
paper = dict(setting=dict(method="ProxyCLIP"))
