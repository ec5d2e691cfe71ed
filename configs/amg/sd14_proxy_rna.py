# Table 1, RNA row (proxy reference): random numbers added to the prompt (4), the mitigation baselines of the Wen /
# Bright Ending repositories (bench.methods.bright_ending.mitigation); AMG's own baseline settings are not published.
_base_ = ["./_base_/sd14_proxy.py"]

method = dict(baseline=dict(type="prompt_augmentation", style="rand_numb_add", repeat_num=4))
paper = dict(setting={"method": "RNA"})
