# The SNR-LDS README's ArtBench-2 "Full LDS" on val queries (results/reported/das.json table lds_snr_readme: 38.48,
# secondary): lds_artbench2_das.py unchanged (DAS1 on the 1,000 val images, 64 subsets x 3 seeds of retrained LoRAs,
# λ chosen on the held-out test images). A different protocol: SNR-LDS (the first author's diagnostics repo, not
# readable here) reports a 100-query benchmark whose query choice, λ and model output are unknown, and its row names
# no method (the sheet presumes DAS); the CIFAR-2 pair is lds_cifar2_das_snr_readme.py.
_base_ = ["./lds_artbench2_das.py"]

paper = dict(_delete_=True, slug="das", table="lds_snr_readme", metrics={"LDS": "LDS"},
             setting={"dataset": "ArtBench-2", "split": "val"})
