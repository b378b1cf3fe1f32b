"""What builds the bundled assets and measures the project, outside the runtime layers.

  tiny_tokenizer.py        python -m minigpt4_jax.tools.tiny_tokenizer
  tiny_checkpoint.py       python -m minigpt4_jax.tools.tiny_checkpoint
  tiny_llava_checkpoint.py python -m minigpt4_jax.tools.tiny_llava_checkpoint (after tiny_checkpoint)
  tiny_towers.py           the tower pretraining both share; tiny_llm_corpus.py, the LLM's texts
  make_demo.py             python -m minigpt4_jax.tools.make_demo (needs scikit-image)
  llava_demo.py            python -m minigpt4_jax.tools.llava_demo
  minigptv2_demo.py        python -m minigpt4_jax.tools.minigptv2_demo
  tiny_eval_sets.py        python -m minigpt4_jax.tools.tiny_eval_sets (tiny POPE and VQAv2 files)
  bench/                   benchmarks (``python -m launch.bench`` and the modules' own mains)
"""
