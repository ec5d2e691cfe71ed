# DPMs-ANT digits demo, stage 1, quick recipe: the source-vs-target domain classifier (labels: plain digits 1,
# inverted 0), trained as train_discriminator.py does (antithetic t over the joined batch of 10 + 10, AdamW, cosine
# with warm-up, clip 1) but from scratch (no noisy classifier exists for digits), at lr 2e-3 for 100 iterations
# (official: fine-tuning ADM's ImageNet classifier at 1e-4 for 300; demo/full/dpms_ant_0_classifier: lr 1e-3, 300).
# The quick profile only trains it (an upstream of its rows); evaluated (`bench run`, and the full profile's
# classifier) on held-out digits of both domains, each noised at a timestep drawn from its seed: accuracy averages
# over noise levels, where t near T makes the domains identical.
_base_ = ["../_base_/default_run.py"]

dataset = dict(type="DomainPair", source=dict(type="Digits", split="val"),
               target=dict(type="DigitsDomain", split="val", transform="invert"))
method = dict(type="DpmsAntClassifier",
              network=dict(flags=dict(image_size=8, in_channels=1, model_channels=32, out_channels=2, num_res_blocks=1,
                                      attention_resolutions=(), channel_mult=(1, 2), pool="adaptive")),
              source=dict(type="Digits", split="train"),
              settings=dict(lr=2e-3, iterations=100, warmup_iterations=10, warmup_lr=2e-5, min_lr=2e-4, fp16=False))
train = dict(dataset=dict(type="DigitsDomain", split="train", transform="invert", num_images=10, shot_seed=0))
task = dict(type="classification", metrics=[dict(type="Accuracy")])
run = dict(batch_size=300)
