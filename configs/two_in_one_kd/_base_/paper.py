# Cells two-in-one KD runs fill (the sheet has no numbers, so they show as "unreported"): frame ACC and AUC and the
# video AUC in %, the deployed model's parameters in M. Leaves set the setting (dataset, model or ablation row).
paper = dict(slug="two_in_one_kd", table="main",
             metrics={"ACC": dict(key="frame ACC", scale=100), "AUC": dict(key="frame AUC", scale=100),
                      "video AUC": dict(key="video AUC", scale=100), "Params": "params (M)"})
