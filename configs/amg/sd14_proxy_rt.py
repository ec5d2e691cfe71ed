# Table 1, RT row (proxy reference): random tokens added to the prompt (Somepalli et al.; 4 words), the mitigation
# baselines of the Wen / Bright Ending repositories (bench.methods.bright_ending.mitigation); AMG's own baseline
# settings are not published.
_base_ = ["./_base_/sd14_proxy.py"]

method = dict(baseline=dict(type="prompt_augmentation", style="rand_word_add", repeat_num=4))
paper = dict(setting={"method": "RT"})
