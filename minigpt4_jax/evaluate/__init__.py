"""Evaluation: official annotation readers, metrics, prompt presets and a resumable runner.

  readers.py     annotation files -> typed records (VQAv2/OK-VQA, A-OKVQA, GQA, COCO,
                 Karpathy, NoCaps, CHAIR, POPE); bad files name file, record and field
  metrics/       scores to the official definitions (see each module)
  prompts.py     prompt presets (BLIP-2, LLaVA, MiniGPT-4 / MiniGPT-v2, the paper's CHAIR prompts)
  tasks.py       benchmarks by name: file layout, default split / prompt / budget, metric
  answerer.py    batched one-turn answers from any family (the generator's templates)
  runner.py      predictions.jsonl (resumable), results.json, results.md

Entry point: ``python -m launch.evaluate``.
"""
