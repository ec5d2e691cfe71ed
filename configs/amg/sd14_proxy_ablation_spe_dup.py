# Table 4, G_spe + G_dup (proxy reference): AMG (Main) with g_sim=False.
_base_ = ["./_base_/sd14_proxy_ablation.py"]

method = dict(guidance=dict(setting="main", g_sim=False))
paper = dict(setting={"method": "G_spe + G_dup"})
