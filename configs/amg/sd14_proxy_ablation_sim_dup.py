# Table 4, G_sim + G_dup (proxy reference): AMG (Main) with g_spe=False.
_base_ = ["./_base_/sd14_proxy_ablation.py"]

method = dict(guidance=dict(setting="main", g_spe=False))
paper = dict(setting={"method": "G_sim + G_dup"})
