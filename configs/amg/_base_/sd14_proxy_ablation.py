# Table 4 (proxy reference): the guidance-term ablation on the SD branch; Top5%, %>0.5, FID, CLIP score.
_base_ = ["./sd14_proxy.py"]

paper = dict(table="ablation_guidance_terms",
             metrics={"_delete_": True, "SSCD Top5%": "SSCD p95", "% SSCD>0.5": dict(key="SSCD >0.5", scale=100),
                      "FID": "FID", "CLIP score": "CLIP score"},
             setting={"method": "Baseline"})
