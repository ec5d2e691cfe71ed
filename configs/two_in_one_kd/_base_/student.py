# The single-branch student (chosen): EfficientNet-B0 (timm efficientnet_b0, 4.0 M parameters without its ImageNet
# classifier) on the 299 x 299 face resized to 224, ImageNet normalisation; two-in-one KD by default (an MLP
# projector per teacher branch onto its pooled features, squared distances of L2-normalised features with weight
# 1 each, the student's BCE, conflict projection then equal norms of the two distillation gradients on the
# backbone). Leaves set the teacher config (upstream.teacher.config, trained first if needed) and, for the
# ablation, the mode.
upstream = dict(teacher=dict(config="", product="checkpoint"))
method = dict(type="TwoInOneKD", student="efficientnet_b0", mode="dedicated", homogenization="both",
              teacher=dict(method="upstream:teacher.method", checkpoint="upstream:teacher"),
              weights=dict(spatial=1.0, frequency=1.0), projector="mlp", input_size=224,
              mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
