# Wen's own sanity target (stored output of det_mem_viz.ipynb): 500 memorized vs 500 non-memorized prompts (Lexica),
# 4 generations, steps 0-50 -> AUC 0.994 / ACC 0.990 / TPR@1%FPR 0.982. One subset, as the notebook.
_base_ = ["./_base_/sd14.py"]

dataset = dict(type="DetectionPrompts",
               memorized=dict(type="MemorizedPrompts", prompts_file="data/memorization/sdv1_500_memorized.jsonl"),
               nonmemorized=dict(type="NonMemorizedPrompts", prompts_file="data/memorization/lexica_test.jsonl",
                                 key="Prompt", name="lexica", subset_size=500, subset_seed=0))
method = dict(num_images=4, signals=("wen",), store_images=False)
task = dict(type="text_to_image_memorization", keep_images=False, export_maps=0,
            metrics=[dict(type="MemorizationDetection", signal="text_noise_norm", budget=budget, n_gens=4,
                          prefix=f"Wen {budget} n=4 ") for budget in ("first_step", "first_10_steps", "all_steps")])
paper = dict(slug="bright_ending", table="wen_baseline_detection",
             setting={"dataset": "sdv1_500_memorized vs non-memorized", "method": "Wen magnitude (baseline)",
                      "n_gens": "4", "steps": "0-50"},
             metrics={"AUC": "Wen all_steps n=4 AUC", "ACC": "Wen all_steps n=4 ACC",
                      "TPR@1%FPR": "Wen all_steps n=4 TPR@1%FPR"})
