"""Builds the bundled tiny tokenizer (``minigpt4_jax/assets/tiny_tokenizer``).

The embedded default trains a tiny random MiniGPT-4 on the bundled demo data; its
LLM needs a LLaMA-style tokenizer small enough for a 1,000-entry vocabulary. This
trains one on the demo captions and descriptions plus every prompt template the
project renders, so the demo's text tokenizes into meaningful pieces.

  python -m minigpt4_jax.tools.tiny_tokenizer   # rewrites the asset deterministically
"""

from __future__ import annotations

import json
import pathlib
import tarfile

from minigpt4_jax.bundled import TINY_TOKENIZER, demo_paths
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.data.sources import expand_braces
from minigpt4_jax.tokenizer import train_tokenizer
from minigpt4_jax.text.prompts import ALIGNMENT_INSTRUCTIONS, MINIGPT4_SYSTEM
from minigpt4_jax.text.templates import LLAMA2, VICUNA_V0

VOCAB_SIZE = 1000  # = the 'tiny' preset's LLM vocabulary (models/configs.py)

_CHAT_TEXT = (
    MINIGPT4_SYSTEM + '###Human: <Img><ImageHere></Img> What is in this picture?###Assistant: ',
    'Describe this image in detail. Give as many details as possible. Say everything you see.',
    '###Human: Continue ###Assistant: ',
)


def demo_texts() -> list[str]:
  """Every caption and description of the bundled demo set."""
  demo = demo_paths()
  align = json.loads((pathlib.Path(demo.align_dir) / 'filter_cap.json').read_text('utf-8'))
  texts = [a['caption'] for a in align['annotations']]
  for shard in expand_braces(demo.shards):
    with tarfile.open(shard) as tar:
      texts += [tar.extractfile(m).read().decode('utf-8')
                for m in tar.getmembers() if m.name.endswith('.txt')]
  return texts


def corpus() -> list[str]:
  prompts = [t.training_prompt(i) for t in (VICUNA_V0, LLAMA2) for i in ALIGNMENT_INSTRUCTIONS]
  # Repeat the templates so their pieces become single tokens.
  return demo_texts() + (prompts + list(_CHAT_TEXT)) * 20


def main() -> None:
  size = train_tokenizer(TINY_TOKENIZER, corpus(), VOCAB_SIZE)
  print(f'wrote {TINY_TOKENIZER} ({size} tokens)')


if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.tiny_tokenizer', __doc__)
  main()
