# Demo: ~0.5M-parameter classifiers trained from scratch on scikit-learn digits upsampled to 32x32 (8 epochs,
# 1000 train images), evaluated on the 500 test images. Leaves set the timm model and its size.
_base_ = ["../../_base_/default_run.py", "../../_base_/datasets/digits.py",
          "../../_base_/tasks/classification.py"]

method = dict(type="TimmClassifier", model_name=None, num_classes=10, in_chans=1, input_size=32, mean=0.5, std=0.5)
train = dict(dataset=dict(type="Digits", split="train", split_seed=0), epochs=8, batch_size=64, lr=3e-3,
             weight_decay=0.05, seed=0)
