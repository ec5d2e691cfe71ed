# Bright Ending demo: detection and localization with ground truth. Wen's magnitude and BE's m' (all generations,
# first step and all steps) on the planted global and local captions against the 40 non-memorized prompts, and the
# BE map of every local generation against its motif's region (per-pixel AUROC, IoU of the top-|mask| pixels).
_base_ = ["../bright_ending/_base_/demo_digits.py"]

task = dict(metrics=[
    *[dict(type="MemorizationDetection", signal=signal, budget=budget, n_gens=None, positive_kind=kind,
           prefix=f"{name} {kind} {budget} ")
      for signal, name in (("text_noise_norm", "Wen"), ("masked_noise_norm", "BE"))
      for kind in ("global", "local") for budget in ("first_step", "all_steps")],
    dict(type="LocalizationQuality", prefix="map "),
    dict(type="CopySimilarity", only_kind="global", prefix="global copy "),
    dict(type="CopySimilarity", column="local_copy_similarity", only_kind="local", prefix="local copy "),
    dict(type="CopySimilarity", column="nearest_train_similarity", only_label=None, prefix="typicality "),
    dict(type="CopySimilarity", column="nearest_train_similarity", only_label=1, prefix="memorized typicality ")])
