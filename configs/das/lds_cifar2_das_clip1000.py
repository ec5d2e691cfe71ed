# DAS on CIFAR-2 with the paper's dataset compression (its Table 7, whose numbers are not on the sheet: no table cell):
# per val image only the 1,000 training images closest in CLIP image embedding (cosine) are scored, the other 4,000
# get 0; the kernel, lambda selection (held-out queries, compressed the same way) and LDS are those of
# lds_cifar2_das.py (methods/das/compression.py). CLIP: OpenAI ViT-B/32, the model of D-TRAK's CLIP baseline, needs
# checkpoints/open_clip/ViT-B-32-openai/open_clip_pytorch_model.bin (the open_clip state dict of
# https://huggingface.co/timm/vit_base_patch32_clip_224.openai; nothing is downloaded).
_base_ = ["./lds_cifar2_das.py"]

method = dict(compression=dict(top=1000, extractor=dict(
    type="CLIPScoreFeatures", checkpoint="checkpoints/open_clip/ViT-B-32-openai/open_clip_pytorch_model.bin",
    model_name="ViT-B-32", tag="openai")))
paper = None
