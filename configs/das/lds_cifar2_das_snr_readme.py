# The SNR-LDS README's CIFAR-2 "Full LDS" on val queries (results/reported/das.json table lds_snr_readme: 41.19,
# secondary). A different protocol from this harness's: Jinxu-Lin/SNR-LDS (the first author's diagnostics repo, not
# readable here) reports a 100-query benchmark, while this config is lds_cifar2_das.py unchanged (DAS1 on all 1,000
# val queries, 64 subsets x 3 seeds, λ chosen on held-out test images). The row names no method; the sheet's note
# presumes DAS, so DAS is what fills it. Which 100 queries, which λ and which model output SNR-LDS used are unknown:
# read the two numbers side by side as the same benchmark's family, not as a reproduction.
_base_ = ["./lds_cifar2_das.py"]

paper = dict(_delete_=True, slug="das", table="lds_snr_readme", metrics={"LDS": "LDS"},
             setting={"dataset": "CIFAR-2", "split": "val"})
