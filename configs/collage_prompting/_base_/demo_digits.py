# Collage prompting demo on scikit-learn's digits (CPU, seconds): the train stage trains a small CNN that reads a
# whole 3x3 collage of 8x8 digits and names every tile (the multimodal model's stand-in), records its per-tile
# correctness on 200 val collages x 8 random arrangements, and trains the arrangement predictor on those records
# (the official recipe, 40 epochs instead of 500; node features: the reader's 16-d tile embedding). Evaluation:
# the 55 groups of 9 test digits, read through the `collage_reader` recognizer and billed as a GPT-4o-class API
# would bill them (high detail; tiles at 128 px: a 384-px collage is 255 image tokens, a single 128-px image 255).
# The configs differ only in mode / arrangement, so all share one train stage.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="CollageGroups", grid=3, seed=0,
               source=dict(type="Digits", split="test", split_seed=0))
method = dict(type="CollagePrompting", grid=3, tile_size=128,
              categories=["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
              recognizer=dict(type="collage_reader", detail="high",
                              pricing=dict(input_per_1k=0.0025, output_per_1k=0.01)),
              search=dict(preset="3x3", num=25))
train = dict(dataset=dict(type="Digits", split="train", split_seed=0),
             val_dataset=dict(type="Digits", split="val", split_seed=0),
             reader_steps=300, reader_batch=32, reader_width=16, record_collages=200, record_arrangements=8,
             predictor_epochs=40, predictor_hidden=32, seed=0)
task = dict(type="collage_recognition")
run = dict(batch_size=16)
