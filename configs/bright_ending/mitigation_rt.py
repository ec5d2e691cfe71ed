# Prompt-augmentation baseline RT (Somepalli et al. 2023b, --prompt_aug_style rand_word_add in the
# official inference_mem.py), drawn per prompt from random.Random(gen_seed + row).
_base_ = ["./_base_/mitigation.py"]

method = dict(mitigation=dict(type="prompt_augmentation", style="rand_word_add", repeat_num=4))
