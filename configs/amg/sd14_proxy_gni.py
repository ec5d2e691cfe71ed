# Table 1, GNI row (proxy reference): Gaussian noise on the prompt embedding (std 0.1, Bright Ending's GNI default),
# the mitigation baselines of the Wen / Bright Ending repositories (bench.methods.bright_ending.mitigation); AMG's own
# baseline settings are not published.
_base_ = ["./_base_/sd14_proxy.py"]

method = dict(baseline=dict(type="embedding_noise", std=0.1))
paper = dict(setting={"method": "GNI"})
