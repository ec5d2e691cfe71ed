# Prompt-augmentation baseline RNA (Somepalli et al. 2023b, --prompt_aug_style rand_numb_add in the
# official inference_mem.py), drawn per prompt from random.Random(gen_seed + row).
_base_ = ["./_base_/mitigation.py"]

method = dict(mitigation=dict(type="prompt_augmentation", style="rand_numb_add", repeat_num=4))
