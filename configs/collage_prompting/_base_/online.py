# Collage prompting online (real calls, real money): seeded groups of g*g test images at 512 px, one call per collage
# (tiles of 512 px: the API scales a 3x3 collage down to 768 px) through
# an OpenAI-compatible chat-completions API. The key is read only from $OPENAI_API_KEY (never written); model, base
# URL and prices below are GPT-4o's at the time of writing (USD 2.50 / 10.00 per 1M input / output tokens): the
# paper used GPT-4V (model id, detail level and prices unknown), so check and override them
# (--cfg-options method.recognizer.model=... method.recognizer.pricing.input_per_1k=...). A local server serving a
# vision model (vLLM, Ollama) works with method.recognizer.base_url=http://host:port/v1. Every answer is cached
# (<results root>/cache/collage_prompting), so a rerun or a resume pays nothing twice; task.max_usd caps what new
# calls spend in one session (the run stops cleanly; --resume continues).
_base_ = ["../../_base_/default_run.py"]

method = dict(type="CollagePrompting", grid=2, mode="collage", arrangement="random", tile_size=512,
              recognizer=dict(type="openai", model="gpt-4o", base_url=None, api_key_env="OPENAI_API_KEY",
                              detail="high", max_tokens=300, temperature=0.0,
                              pricing=dict(input_per_1k=0.0025, output_per_1k=0.01)))
task = dict(type="collage_recognition", max_usd=5.0)
run = dict(batch_size=8, device="cpu")
paper = dict(slug="collage_prompting", table="main",
             setting={"dataset": "{dataset.source.type}", "mode": "{method.mode}",
                      "arrangement": "{method.arrangement}"},
             metrics={"accuracy": dict(key="accuracy", scale=100), "cost per image": "usd_per_image"})
