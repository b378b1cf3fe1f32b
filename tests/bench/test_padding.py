"""tools/bench/padding: the bucketed batch lengths it reports on the demo captions."""

import re

from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.loading import architecture
from minigpt4_jax.tools.bench import padding
from minigpt4_jax.tools.plan.train_plan import load_config
from minigpt4_jax.train.loop import sequence_encoder

TINY_STAGE1 = 'configs/tiny.py:stage1'


def test_each_batch_is_its_longest_row_rounded_up(capsys):
  config = load_config(TINY_STAGE1)
  captions = padding.shard_captions(demo_paths().shards)
  q, tokenizer = architecture(config.model).num_image_tokens, padding.default_tokenizer(config)
  fixed = sequence_encoder(config, tokenizer, q)
  config.text.pad_multiple = 8
  bucketed = sequence_encoder(config, tokenizer, q)
  seen = padding.batch_lengths_seen(bucketed, captions, 4)
  assert len(seen) == len(captions) // 4
  for i, length in enumerate(seen):
    longest = int(fixed.encode(captions[4 * i:4 * i + 4])['attention_mask'].sum(1).max())
    assert length in bucketed.batch_lengths and longest <= length < longest + 8
  padding.main(['--config', TINY_STAGE1, '--batch', '4', '--pad-multiple', '0', '8',
                '--repeats', '1'])
  lines = capsys.readouterr().out.splitlines()
  assert lines[1].startswith(f'pad_multiple 0: possible ({fixed.length},), seen ({fixed.length},)')
  assert lines[1].endswith('positions saved 0.0%, logit rows saved 0.0%')
  assert re.match(r'pad_multiple 8: possible \(.*\), seen \(.*\), mean length', lines[2])
