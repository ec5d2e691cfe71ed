# Table 4, G_sim + G_spe (proxy reference): AMG (Main) with g_dup=False.
_base_ = ["./_base_/sd14_proxy_ablation.py"]

method = dict(guidance=dict(setting="main", g_dup=False))
paper = dict(setting={"method": "G_sim + G_spe"})
