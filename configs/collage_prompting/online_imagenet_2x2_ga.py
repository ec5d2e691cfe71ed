# ImageNet-1k, 2x2 collages arranged by the genetic search (official 2x2 preset) under the official predictor
# (weights_train_2x2/499.pth of siyuhsu/CollagePrompt) on CLIP ViT-B/32 image features (the sheet's guess for
# the official 512-d features, UNVERIFIED). The official training target's mean / std are unknown: the search ranks
# standardised scores, so predicted_accuracy is standardised too.
_base_ = ["./_base_/imagenet.py"]

dataset = dict(grid=2)
paper = dict(setting={"grid": "2x2"})
method = dict(grid=2, arrangement="ga",
              search=dict(official=True, predictor="checkpoints/collage_prompting/weights_train_2x2/499.pth",
                          preset="2x2",
                          features=dict(type="CLIPScoreFeatures", variant="amg", model_name="ViT-B-32", tag="openai",
                                        checkpoint="checkpoints/open_clip/ViT-B-32-openai/open_clip_pytorch_model.bin")))
