"""Length bucketing on real captions: the padding each ``text.pad_multiple`` saves, and
how many shapes (compilations of the train step) it costs.

  python -m minigpt4_jax.tools.bench.padding --config configs/tiny.py:stage1 --pad-multiple 0 8 16
  python -m minigpt4_jax.tools.bench.padding --config configs/minigpt4_stage1.py:vicuna7b \\
      --tokenizer ckpt/vicuna7b/tokenizer --captions captions.txt --batch 256

Captions: ``--captions`` (one a line, e.g. a sample of LAION/CC BLIP captions) or the
config's ``data.train_shards``, cleaned as the pipeline cleans them
(``data.clean_captions``), drawn in a seeded random order and encoded in batches of
``--batch`` rows (the global batch: on several hosts every process pads to the longest
host's length). Per multiple it prints the lengths a batch can have, those seen, the
mean batch length, and the token positions and logit rows (positions from the first
target on, which the vocabulary projection and the loss see) saved against the fixed
length.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from minigpt4_jax import checkpoint
from minigpt4_jax.bundled import TINY_TOKENIZER
from minigpt4_jax.data.sources import TarShardSource
from minigpt4_jax.data.transforms import blip_caption
from minigpt4_jax.loading import architecture
from minigpt4_jax.tools.plan.train_plan import load_config
from minigpt4_jax.train.loop import sequence_encoder


def default_tokenizer(config) -> pathlib.Path:
  """``model.tokenizer``, else the converted checkpoint's that ``init_from`` names, else
  the bundled tiny one (what ``loading.run_model`` picks, without loading weights)."""
  if config.model.tokenizer:
    return pathlib.Path(config.model.tokenizer)
  if config.init_from and checkpoint.is_complete(config.init_from):
    return checkpoint.tokenizer_dir(config.init_from)
  return TINY_TOKENIZER


def shard_captions(patterns) -> list[str]:
  """The captions of the shards' samples that have one."""
  source = TarShardSource(patterns)
  records = (source[i] for i in range(len(source)))
  return [r['text'] for r in records if not r['error'] and r['text'].strip()]


def batch_lengths_seen(encoder, captions: list[str], batch: int) -> list[int]:
  """Each full batch's padded length, the batches taken in order."""
  return [encoder.encode(captions[i:i + batch])['input_ids'].shape[1]
          for i in range(0, len(captions) - batch + 1, batch)]


def main(argv: list[str] | None = None) -> None:
  p = argparse.ArgumentParser(prog='python -m minigpt4_jax.tools.bench.padding',
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--config', required=True, help='CONFIG_FILE[:PRESETS], as launch.train takes')
  p.add_argument('--tokenizer', type=pathlib.Path,
                 help="default: model.tokenizer, init_from's, or the bundled tiny one")
  p.add_argument('--captions', type=pathlib.Path, help='one caption a line (default: the shards)')
  p.add_argument('--batch', type=int, help="rows per batch (default: train.batch_size)")
  p.add_argument('--pad-multiple', type=int, nargs='+', default=[0, 8, 16])
  p.add_argument('--repeats', type=int, default=20,
                 help='random orders of the captions (small sets give few batches)')
  args = p.parse_args(argv)
  config = load_config(args.config)
  tokenizer = args.tokenizer or default_tokenizer(config)
  captions = (args.captions.read_text().splitlines() if args.captions
              else shard_captions(config.data.train_shards))
  if config.data.clean_captions:  # as the pipeline hands them to the encoder
    captions = [blip_caption(c, config.data.max_words) for c in captions]
  batch = args.batch or config.train.batch_size
  if len(captions) < batch:
    raise SystemExit(f'{len(captions)} captions, fewer than one batch of {batch}')
  rng = np.random.default_rng(0)
  orders = [[captions[i] for i in rng.permutation(len(captions))] for _ in range(args.repeats)]
  num_image_tokens = architecture(config.model).num_image_tokens
  print(f'{len(captions)} captions, batches of {batch}, {args.repeats} random orders')
  for multiple in args.pad_multiple:
    config.text.pad_multiple = multiple
    encoder = sequence_encoder(config, tokenizer, num_image_tokens)
    seen = np.array([n for order in orders for n in batch_lengths_seen(encoder, order, batch)])
    fixed, first = encoder.length, encoder.first_target
    print(f'pad_multiple {multiple}: possible {encoder.batch_lengths}, seen '
          f'{tuple(int(n) for n in np.unique(seen))}, mean length {seen.mean():.1f} of {fixed}; '
          f'positions saved {1 - seen.mean() / fixed:.1%}, logit rows saved '
          f'{1 - (seen.mean() - first + 1) / (fixed - first + 1):.1%}')

if __name__ == '__main__':
  main()
