# The SNR-LDS README's CIFAR-2 "Full LDS" on generated queries (results/reported/das.json table lds_snr_readme:
# 31.02, secondary): lds_cifar2_das_gen.py unchanged (DAS1 on D-TRAK's 1,000 gen queries). A different protocol:
# SNR-LDS reports a 100-query benchmark whose query choice, λ and model output are unknown here, and its row names no
# method (the sheet presumes DAS); see lds_cifar2_das_snr_readme.py.
_base_ = ["./lds_cifar2_das_gen.py"]

paper = dict(_delete_=True, slug="das", table="lds_snr_readme", metrics={"LDS": "LDS"},
             setting={"dataset": "CIFAR-2", "split": "gen"})
