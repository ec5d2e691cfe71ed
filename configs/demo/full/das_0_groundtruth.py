# DAS demo (full profile: `bench demo --full --only das`), step 0: the LDS ground truth of digits-2
# (configs/das/_base_/digits2.py) at the benchmark's size: 64 random half subsets of the 240 training images
# (stratified, D-TRAK's lds-val seeds 42 + 2k), one tiny DDPM retrained on each (seed 0; the benchmark: 3 seeds,
# method.seeds=[0,1,2]), and each model's diffusion loss of the 60 val, 60 test and 60 generated queries averaged
# over all 100 timesteps (noise seed 0): the retrained-losses artefact the attribution configs score LDS against. The
# generated queries ("gen") are the images demo/full/das_0_model samples from the full-data model (upstream "gen",
# product run: DDIM 50 steps, image i seeded i, read by GeneratedImages with ids gen-<i>). The eval stage reports the
# val queries' loss mean and spread across subsets (RetrainedLossSpread). The quick profile's ground truth has 6
# subsets (demo/das_0_groundtruth). Timings: configs/das/README.md.
_base_ = ["../../das/_base_/digits2.py"]

method = dict(num_subsets=64, query_sets=dict(gen=dict(type="GeneratedImages", run_dir="upstream:gen")))
upstream = dict(gen=dict(config="demo/full/das_0_model", product="run"))
