# Detection table, non-memorized = random-token prompts (the official get_dataset draw: 2,000 prompts of random
# length from random CLIP vocabulary ids, Python's random seeded gen_seed + 5), 5 subsets of 500.
_base_ = ["./_base_/detection.py"]

dataset = dict(nonmemorized=dict(type="RandomTokenPrompts", num_prompts=2000, seed=5,
                                 tokenizer="checkpoints/stable_diffusion/stable-diffusion-v1-4/tokenizer"))
