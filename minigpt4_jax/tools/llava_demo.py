"""The bundled demo photographs as LLaVA conversation JSON (``configs/tiny_llava.py``).

Written from ``demo_texts.DEMO_IMAGES`` by ``python -m minigpt4_jax.tools.llava_demo``
and shipped in ``demo/llava/``; the images are the cc_sbu_align demo folder's.
``pretrain.json`` mirrors LCS-558K (one brief-description turn), ``instruct.json``
mirrors mix665k's multi-turn form (a detailed description, then a short caption).
"""

from __future__ import annotations

import json
import pathlib

from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.data.demo_texts import DEMO_IMAGES

# A few of LLaVA's brief-description prompts (its LCS-558K set), cycled over the images.
BRIEF_PROMPTS = ('Give a brief description of the image.', 'Summarize the visual content of '
                 'the image.', 'Write a terse but informative summary of the picture.')


def demo_samples() -> tuple[list[dict], list[dict]]:
  """(stage-1 samples, stage-2 samples) in LLaVA's JSON form."""
  pretrain, instruct = [], []
  for i, (name, caption, description) in enumerate(DEMO_IMAGES):
    pretrain.append({'id': name, 'image': f'{name}.jpg', 'conversations': [
        {'from': 'human', 'value': f'{BRIEF_PROMPTS[i % len(BRIEF_PROMPTS)]}\n<image>'},
        {'from': 'gpt', 'value': caption}]})
    instruct.append({'id': name, 'image': f'{name}.jpg', 'conversations': [
        {'from': 'human', 'value': '<image>\nDescribe this image in detail.'},
        {'from': 'gpt', 'value': description},
        {'from': 'human', 'value': 'Give a short caption for it.'},
        {'from': 'gpt', 'value': caption}]})
  return pretrain, instruct


def main() -> None:
  paths = demo_paths()
  pretrain, instruct = demo_samples()
  pathlib.Path(paths.llava_pretrain_json).parent.mkdir(parents=True, exist_ok=True)
  for path, samples in ((paths.llava_pretrain_json, pretrain),
                        (paths.llava_instruct_json, instruct)):
    pathlib.Path(path).write_text(json.dumps(samples, indent=1) + '\n', encoding='utf-8')
    print(f'wrote {path}: {len(samples)} samples')


if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.llava_demo', __doc__)
  main()
