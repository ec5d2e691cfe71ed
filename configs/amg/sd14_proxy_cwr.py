# Table 1, CWR row (proxy reference): a random caption word repeated (4 times), the mitigation baselines of the Wen /
# Bright Ending repositories (bench.methods.bright_ending.mitigation); AMG's own baseline settings are not published.
_base_ = ["./_base_/sd14_proxy.py"]

method = dict(baseline=dict(type="prompt_augmentation", style="rand_word_repeat", repeat_num=4))
paper = dict(setting={"method": "CWR"})
