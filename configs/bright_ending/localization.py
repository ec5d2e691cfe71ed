# Localization: the BE map (EOS attention of down_blocks.0's two attn2 layers at the last DDIM step) of 4
# generations per memorized prompt, exported as PNG overlays on the generations (maps/<sample id>_<k>.png). The
# paper judged maps against manual labels whose protocol is unpublished, so no score is computed here; the
# ground-truth demo (bench demo --only bright_ending) scores maps against known memorized regions.
_base_ = ["./_base_/sd14.py"]

dataset = dict(type="MemorizedPrompts", prompts_file="data/memorization/sdv1_500_memorized.jsonl")
method = dict(num_images=4, signals=("wen", "be"))
task = dict(type="text_to_image_memorization", export_maps=500, metrics=[])
