# Bright Ending ground-truth demo (quick): a tiny pixel-space text-to-image model (caption-word CLIP tokenizer, a
# 2-layer CLIPTextModel and a UNet2DConditionModel whose first down block has the cross-attention the BE map reads)
# trained in the train stage on 8x8 digits with planted memorization: 8 captions each tied to one image repeated
# 32 times (global) and 8 captions each tied to a 4x4 motif pasted at a fixed place on 32 varied digits (local, the
# motif's region is the known mask), besides 256 ordinary captioned digits. All demo configs share the trained model
# (eval-only knobs differ); the detect run's memorized prompts are the mitigation runs' baseline (same seeds). The
# prompts are the 16 planted captions and 40 non-memorized ones (class captions and unseen word orders). Similarity
# is the Pearson correlation of pixels (PixelCorrelationFeatures, the SSCD stand-in at 8x8): "global copy" to the
# duplicated image of a global caption, "local copy" inside the motif's region only (the training images of a local
# caption share nothing else); "typicality" is the same to the nearest ordinary training digit, the quality cost of
# a mitigation.
_base_ = ["../../_base_/default_run.py"]

# the construction's knobs, the same in the prompt set, the train set and the reference pool
dataset = dict(type="DigitsMemorizationPrompts", part="all", num_global=8, num_local=8, copies=32, size=8,
               motif_size=4, num_ordinary=256, seed=0)
# 2 generations per prompt over 10 DDIM steps at guidance 3 (the toy's generations saturate at the official 7.5;
# measured: copy similarity 0.38 at 7.5 vs 0.55 at 3 on the global captions) keep the group near half a minute
method = dict(type="BrightEnding", model=None, num_images=2, gen_seed=0, signals=("wen", "be"),
              sampling=dict(num_inference_steps=10, guidance_scale=3.0), store_images=True)
train = dict(dataset=dict(type="DigitsMemorizationTrain", num_global=8, num_local=8, copies=32, size=8, motif_size=4,
                          num_ordinary=256, seed=0),
             steps=250, batch_size=32, lr=3e-3, seed=0)
task = dict(type="text_to_image_memorization", similarity=dict(type="PixelCorrelationFeatures"),
            train_reference=dict(type="DigitsMemorizationTrain", kinds=("ordinary",), num_global=8, num_local=8,
                                 copies=32, size=8, motif_size=4, num_ordinary=256, seed=0),
            export_maps=8,
            metrics=[dict(type="CopySimilarity", only_kind="global", prefix="global copy "),
                     dict(type="CopySimilarity", column="local_copy_similarity", only_kind="local",
                          prefix="local copy "),
                     dict(type="CopySimilarity", column="nearest_train_similarity", only_label=1,
                          prefix="memorized typicality ")])
run = dict(batch_size=8, device="cpu")
