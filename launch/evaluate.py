"""Evaluate MiniGPT-4 on a benchmark: predictions, scores, a Markdown row.

  python -m launch.evaluate --ckpt ckpt/minigpt4_13b --task aokvqa_mc --data data/aokvqa
  python -m launch.evaluate --ckpt ckpt/minigpt4_13b --task chair --data data/coco \\
      --prompt describe_long --limit 500
  python -m launch.evaluate --ckpt runs/stage2 --task vqav2 --data data/vqav2 \\
      --prompt blip2 --num-beams 5 --max-new-tokens 10

Writes OUT/predictions.jsonl (a rerun resumes it), OUT/results.json and
OUT/results.md; OUT defaults to runs/eval/CKPT_NAME/TASK-SPLIT-PROMPT. Decoding is
greedy (beam search with --num-beams). Tasks, their file layout under --data and
their defaults are listed in minigpt4_jax/evaluate/tasks.py; prompt presets in
minigpt4_jax/text/prompts.py. With --distributed (see launch/train.py) each
process answers every N-th sample into its own resumable OUT/predictions.process-K-of-N.jsonl
and process 0 writes the merged predictions.jsonl and the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys

from minigpt4_jax import distributed
from minigpt4_jax.cli import run
from minigpt4_jax.evaluate import runner
from minigpt4_jax.evaluate.answerer import Answerer
from minigpt4_jax.evaluate.harness_model import HarnessModel
from minigpt4_jax.evaluate.ranking import ChoiceRanker
from minigpt4_jax.evaluate.tasks import TASKS
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.inputs import require_checkpoint, require_dir
from minigpt4_jax.loading import load
from minigpt4_jax.log_routing import VERBOSE_HELP, route_logs
from minigpt4_jax.models.quantize import QUANTIZE_CHOICES
from minigpt4_jax.text.prompts import PRESETS
from minigpt4_jax.text.templates import TEMPLATES, get_template


def parse_args(argv: list[str]) -> argparse.Namespace:
  p = argparse.ArgumentParser(prog='python -m launch.evaluate', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--ckpt', type=pathlib.Path, required=True,
                 help='converted checkpoint or training workdir')
  p.add_argument('--task', choices=sorted(TASKS), required=True)
  p.add_argument('--data', type=pathlib.Path, required=True,
                 help="folder with the task's annotation files under their official names")
  p.add_argument('--images', type=pathlib.Path, help="image folder (default: the task's, in --data)")
  p.add_argument('--split', help="the task's default split if not given")
  p.add_argument('--limit', type=int, help='only the first N samples')
  p.add_argument('--out', type=pathlib.Path, help='output folder')
  p.add_argument('--prompt', choices=sorted(PRESETS), help="prompt preset (default: the task's)")
  p.add_argument('--template', choices=sorted(TEMPLATES),
                 help='conversation template (default: the one matching the checkpoint)')
  p.add_argument('--num-beams', type=int, default=1)
  p.add_argument('--max-new-tokens', type=int, help="answer budget (default: the task's)")
  p.add_argument('--batch-size', type=int, default=8)
  p.add_argument('--distributed', action='store_true',
                 help='join a multi-process run (jax.distributed); each process answers its share')
  p.add_argument('--quantize', choices=QUANTIZE_CHOICES, default='none',
                 help='int8: weight-only int8 ViT and LLM matmuls (about half the bf16 bytes)')
  p.add_argument('--verbose', action='store_true', help=VERBOSE_HELP)
  return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict | None:
  args = parse_args(sys.argv[1:] if argv is None else argv)
  if args.distributed:
    distributed.initialize()
  task = TASKS[args.task]
  split = args.split or task.split
  preset = args.prompt or task.prompt
  require_checkpoint(args.ckpt, '--ckpt')
  require_dir(args.data, '--data')
  if args.images:
    require_dir(args.images, '--images')
  records = task.read(args.data, args.images, split)[:args.limit]
  route_logs(None, args.verbose)
  loaded = load(args.ckpt, quantize=args.quantize)
  template = get_template(args.template) if args.template else loaded.template
  generation = GenerationConfig(max_new_tokens=args.max_new_tokens or task.max_new_tokens,
                                num_beams=args.num_beams, do_sample=False)
  config = runner.RunConfig(
      checkpoint=str(args.ckpt.resolve()), task=task.name, split=split,
      data=str(args.data.resolve()), images=str(args.images.resolve()) if args.images else '',
      prompt=preset, template=template.name, generation=dataclasses.asdict(generation))
  if task.ranked:  # multiple choice by likelihood (IconQA)
    answer = ChoiceRanker(HarnessModel(loaded.model, loaded.tokenizer, template).loglikelihood,
                          records, preset)
  else:
    answer = Answerer(loaded.model, loaded.tokenizer, template, generation, args.batch_size)
  out_dir = args.out or pathlib.Path('runs/eval') / args.ckpt.resolve().name / (
      f'{task.name}-{split}-{preset}')
  results = runner.run(task, records, answer, config, batch_size=args.batch_size,
                       out_dir=out_dir, share=distributed.this_process_share())
  if results is not None:  # process 0
    print((out_dir / 'results.md').read_text(encoding='utf-8'), end='')
  return results


if __name__ == '__main__':
  run(main)
