# Wen's mitigation with BE's masked loss m' (the PRSS figure's "PE + m'" row): the map comes from an unmitigated
# generation with the same seed (the official mit_attn_scores.npz, renamed by hand from detect_mem.py's output).
_base_ = ["./_base_/mitigation.py"]

method = dict(signals=("wen", "be"),
              mitigation=dict(type="prompt_optimization", loss="masked", lr=0.05, iters=10, target_loss=1.0,
                              target_step=0, dtype="bfloat16"))
paper = dict(slug="bright_ending", table="prss_mitigation_figure",
             metrics={"SSCD": "SSCD mean", "CLIP score": "CLIP score"},
             setting={"dataset": "sdv1_500_memorized", "method": "PE (Wen)", "detection": "m' (BE)"})
