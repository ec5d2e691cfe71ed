# ImageNet-1k, 3x3 collages arranged by the genetic search (official 3x3 preset) under the official predictor
# (weights_train_3x3/499.pth of siyuhsu/CollagePrompt) on CLIP ViT-B/32 image features (the sheet's guess for
# the official 512-d features, UNVERIFIED). The official training target's mean / std are unknown: the search ranks
# standardised scores, so predicted_accuracy is standardised too.
_base_ = ["./_base_/imagenet.py"]

dataset = dict(grid=3)
paper = dict(setting={"grid": "3x3"})
method = dict(grid=3, arrangement="ga",
              search=dict(official=True, predictor="checkpoints/collage_prompting/weights_train_3x3/499.pth",
                          preset="3x3",
                          features=dict(type="CLIPScoreFeatures", variant="amg", model_name="ViT-B-32", tag="openai",
                                        checkpoint="checkpoints/open_clip/ViT-B-32-openai/open_clip_pytorch_model.bin")))
