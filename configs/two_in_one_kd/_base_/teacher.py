# The dual-branch teacher (chosen, after F3-Net's two streams): an Xception (timm legacy_xception, the original) on
# the RGB face and another on its low / middle / high DCT band images (9 channels), pooled features concatenated
# into one logit; Xception's normalisation (mean = std = 0.5). Random init: no weights can be downloaded here; to
# start from ImageNet weights add backbone_kwargs=dict(pretrained=True,
# pretrained_cfg_overlay=dict(file="<local legacy_xception weights>")) (timm adapts the frequency branch's conv).
method = dict(type="DualBranchForgeryTeacher", spatial="legacy_xception", frequency="legacy_xception",
              input_size=299, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
