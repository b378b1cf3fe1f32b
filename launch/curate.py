"""Curate stage-2 data as the MiniGPT-4 paper did (§3.2): describe, fix, filter.

  python -m launch.curate --ckpt runs/stage1 --images data/cc_sample --out data/my_align
  python -m launch.curate --ckpt runs/stage1 --shards 'data/cc/{00000..00009}.tar' \\
      --limit 5000 --out data/my_align --fixer openai \\
      --fixer-url https://api.openai.com/v1 --fixer-model gpt-3.5-turbo

1. Describe: the stage-1 model answers the paper's "Describe this image in detail..."
   prompt; an answer under --continue-below tokens (80) gets a "Continue" turn and
   the two are joined.
2. Fix: an LLM applies the paper's fix prompt: the checkpoint's own LLM
   (--fixer generator) or an OpenAI-compatible endpoint (--fixer openai; key from
   the environment variable --fixer-key-env). Failed requests are retried with
   backoff; items that still fail are kept and retried by the next run.
3. Filter: rules as data (minigpt4_jax/curate/rules.py; --rules adds a JSON list).
4. Write OUT/image/ + OUT/filter_cap.json (a cc_sbu_align folder: train with
   --config.data.align_dir=OUT), OUT/review.jsonl and OUT/review.html.

Rerunning with the same --out resumes: nothing already described or fixed is redone,
and filtering reruns with the current rules. A resume must describe with the same
settings (OUT/settings.json); the fixer may change. With --distributed (see
launch/train.py) each process describes and fixes every N-th image (its own resumable
OUT/state.process-K-of-N.jsonl) and process 0 filters and writes the folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys

from minigpt4_jax import distributed
from minigpt4_jax.cli import run
from minigpt4_jax.curate.describe import CONTINUE_BELOW, Describer
from minigpt4_jax.curate.fixers import EndpointConfig, GeneratorFixer, OpenAIFixer
from minigpt4_jax.curate.pipeline import curate, folder_items, shard_items
from minigpt4_jax.curate.rules import load_rules
from minigpt4_jax.curate.store import check_settings
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.inputs import require_checkpoint
from minigpt4_jax.loading import load
from minigpt4_jax.log_routing import VERBOSE_HELP, route_logs
from minigpt4_jax.text.templates import TEMPLATES, get_template


def parse_args(argv: list[str]) -> argparse.Namespace:
  p = argparse.ArgumentParser(prog='python -m launch.curate', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--ckpt', type=pathlib.Path, required=True,
                 help='the stage-1 model: converted checkpoint or training workdir')
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument('--images', type=pathlib.Path, help='folder of images')
  source.add_argument('--shards', help="webdataset shards, e.g. 'cc/{00000..00009}.tar'")
  p.add_argument('--out', type=pathlib.Path, required=True, help='output (and resume) folder')
  p.add_argument('--limit', type=int, help='only the first N images')
  p.add_argument('--template', choices=sorted(TEMPLATES),
                 help='conversation template (default: the one matching the checkpoint)')
  p.add_argument('--batch-size', type=int, default=8, help='images per generation call')
  p.add_argument('--max-new-tokens', type=int, default=300, help='budget of each answer')
  p.add_argument('--continue-below', type=int, default=CONTINUE_BELOW,
                 help='ask "Continue" when the first answer has fewer tokens than this')
  p.add_argument('--sample', action='store_true',
                 help="sample (MiniGPT-4 chat's top_p 0.9) instead of greedy decoding")
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--rules', type=pathlib.Path,
                 help='JSON list of extra filter rules {"name", "kind", "params"}')
  fix = p.add_argument_group('fixer')
  fix.add_argument('--fixer', choices=('generator', 'openai'),
                   help='default: openai if --fixer-url is given, else generator')
  fix.add_argument('--fixer-ckpt', type=pathlib.Path,
                   help="generator: checkpoint whose LLM fixes (default: --ckpt's)")
  fix.add_argument('--fixer-max-new-tokens', type=int, default=400)
  fix.add_argument('--fixer-url', help='openai: base URL, requests go to URL/chat/completions')
  fix.add_argument('--fixer-model', default='gpt-3.5-turbo', help='openai: model name')
  fix.add_argument('--fixer-key-env', default='OPENAI_API_KEY',
                   help='openai: environment variable holding the API key')
  fix.add_argument('--fixer-timeout', type=float, default=60.0, help='openai: seconds per request')
  fix.add_argument('--fixer-retries', type=int, default=4, help='openai: retries per item')
  fix.add_argument('--fixer-backoff', type=float, default=1.0,
                   help='openai: first retry wait in seconds, doubled each retry')
  fix.add_argument('--fixer-workers', type=int, default=4, help='openai: requests in flight')
  p.add_argument('--no-progress', action='store_true', help='no progress bars')
  p.add_argument('--distributed', action='store_true',
                 help='join a multi-process run (jax.distributed); each process curates its share')
  p.add_argument('--verbose', action='store_true', help=VERBOSE_HELP + ' (OUT/curate.log)')
  args = p.parse_args(argv)
  args.fixer = args.fixer or ('openai' if args.fixer_url else 'generator')
  if args.fixer == 'openai' and not args.fixer_url:
    p.error('--fixer openai needs --fixer-url')
  if min(args.batch_size, args.max_new_tokens, args.fixer_workers) < 1 or args.fixer_retries < 0:
    p.error('--batch-size, --max-new-tokens and --fixer-workers must be >= 1, '
            '--fixer-retries >= 0')
  return args


def main(argv: list[str] | None = None) -> dict[str, int] | None:
  args = parse_args(sys.argv[1:] if argv is None else argv)
  require_checkpoint(args.ckpt, '--ckpt')
  if args.fixer_ckpt:
    require_checkpoint(args.fixer_ckpt, '--fixer-ckpt')
  if args.distributed:
    distributed.initialize()
  items = folder_items(args.images) if args.images else shard_items(args.shards)
  items = items[:args.limit]
  rules = load_rules(args.rules)
  route_logs(args.out / 'curate.log', args.verbose)
  loaded = load(args.ckpt)
  tokenizer = loaded.tokenizer
  template = get_template(args.template) if args.template else loaded.template
  generation = GenerationConfig(max_new_tokens=args.max_new_tokens, do_sample=args.sample)
  check_settings(args.out, {
      'checkpoint': str(args.ckpt.resolve()), 'template': template.name,
      'generation': dataclasses.asdict(generation), 'continue_below': args.continue_below,
      'seed': args.seed})
  describer = Describer(loaded.model, tokenizer, template, generation, args.batch_size,
                        continue_below=args.continue_below, seed=args.seed)
  if args.fixer == 'openai':
    fixer = OpenAIFixer(EndpointConfig(
        url=args.fixer_url, model=args.fixer_model, api_key_env=args.fixer_key_env,
        timeout_s=args.fixer_timeout, retries=args.fixer_retries, backoff_s=args.fixer_backoff,
        workers=args.fixer_workers))
  else:
    fixing = load(args.fixer_ckpt) if args.fixer_ckpt else loaded
    fixer = GeneratorFixer(
        fixing.model.llm, fixing.tokenizer, get_template(args.template) if args.template else fixing.template,
        GenerationConfig(max_new_tokens=args.fixer_max_new_tokens, do_sample=False),
        args.batch_size)
  counts = curate(items, args.out, describer, fixer, rules, batch_size=args.batch_size,
                  progress=not args.no_progress, share=distributed.this_process_share())
  if counts is None:  # not process 0: its share is described and fixed
    return None
  print(f'{len(items)} images -> {args.out}: ' +
        ', '.join(f'{n} {status}' for status, n in counts.items()))
  if counts['failed'] or counts['pending']:
    print('some fixes failed (see review.jsonl "error"); rerun the same command to retry them')
  if not counts['kept']:
    print('nothing was kept: filter_cap.json has no annotations to train on')
  return counts


if __name__ == '__main__':
  run(main)
