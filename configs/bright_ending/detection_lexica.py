# Detection table, non-memorized = Lexica (Gustavosta/Stable-Diffusion-Prompts, test split, column "Prompt",
# exported locally with datasets' to_json).
_base_ = ["./_base_/detection.py"]

dataset = dict(nonmemorized=dict(type="NonMemorizedPrompts", prompts_file="data/memorization/lexica_test.jsonl",
                                 key="Prompt", name="lexica", subset_size=2500, subset_seed=0))
