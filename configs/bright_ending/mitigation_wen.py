# Wen's inference-time mitigation (PE): optimise the prompt embedding at step 0 with AdamW, lr 0.05, at most 10
# iterations, until the magnitude loss <= 1 (README), in bf16 as the official inference_mem.py.
_base_ = ["./_base_/mitigation.py"]

method = dict(mitigation=dict(type="prompt_optimization", loss="plain", lr=0.05, iters=10, target_loss=1.0,
                              target_step=0, dtype="bfloat16"))
paper = dict(slug="bright_ending", table="prss_mitigation_figure",
             metrics={"SSCD": "SSCD mean", "CLIP score": "CLIP score"},
             setting={"dataset": "sdv1_500_memorized", "method": "PE (Wen)", "detection": "none"})
