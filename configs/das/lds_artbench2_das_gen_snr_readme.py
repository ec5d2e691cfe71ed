# The SNR-LDS README's ArtBench-2 "Full LDS" on generated queries (results/reported/das.json table lds_snr_readme:
# 30.92, secondary): lds_artbench2_das_gen.py unchanged (DAS1 on D-TRAK's 1,000 generated images). A different
# protocol (a 100-query benchmark; query choice, λ and model output unknown; no method named, the sheet presumes
# DAS): see lds_artbench2_das_snr_readme.py.
_base_ = ["./lds_artbench2_das_gen.py"]

paper = dict(_delete_=True, slug="das", table="lds_snr_readme", metrics={"LDS": "LDS"},
             setting={"dataset": "ArtBench-2", "split": "gen"})
