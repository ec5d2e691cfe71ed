# Demo: timm's test_resnet trained for a few seconds on digits (train split), evaluated on the test split.
_base_ = ["../_base_/default_run.py", "../_base_/datasets/digits.py", "../_base_/tasks/classification.py"]

method = dict(type="TimmClassifier", model_name="test_resnet", num_classes=10, in_chans=1, input_size=16,
              mean=0.5, std=0.5)
train = dict(dataset=dict(type="Digits", split="train", split_seed=0), epochs=8, batch_size=64, lr=3e-3,
             weight_decay=0.01, seed=0)
