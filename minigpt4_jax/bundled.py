"""Paths of what the package ships: the tiny checkpoints and tokenizer (the embedded
default, tests) and the demo photographs with their texts. The builders that rewrite
them live in ``minigpt4_jax/tools/``."""

from __future__ import annotations

import dataclasses
import pathlib

_PACKAGE = pathlib.Path(__file__).resolve().parent
ASSETS = _PACKAGE / 'assets'
TINY_CHECKPOINT = ASSETS / 'tiny_checkpoint'
TINY_LLAVA_CHECKPOINT = ASSETS / 'tiny_llava_checkpoint'
TINY_MINIGPTV2_CHECKPOINT = ASSETS / 'tiny_minigptv2_checkpoint'
TINY_TOKENIZER = ASSETS / 'tiny_tokenizer'
DEMO = _PACKAGE / 'data' / 'demo'


@dataclasses.dataclass(frozen=True)
class DemoPaths:
  shards: str     # brace pattern of the webdataset shards (stage-1 captions)
  align_dir: str  # cc_sbu_align folder (stage-2 descriptions)
  image_dir: str  # the 16 photographs
  llava_pretrain_json: str  # LLaVA conversation JSON, one brief description (stage 1)
  llava_instruct_json: str  # LLaVA conversation JSON, two turns (stage 2)
  minigptv2_grounding_json: str  # MiniGPT-v2 [grounding]/[refer]/[identify], hand-drawn boxes


def demo_paths() -> DemoPaths:
  """The bundled demo set, inside the installed package."""
  return DemoPaths(shards=str(DEMO / 'shards' / '{00000..00003}.tar'),
                   align_dir=str(DEMO / 'cc_sbu_align'),
                   image_dir=str(DEMO / 'cc_sbu_align' / 'image'),
                   llava_pretrain_json=str(DEMO / 'llava' / 'pretrain.json'),
                   llava_instruct_json=str(DEMO / 'llava' / 'instruct.json'),
                   minigptv2_grounding_json=str(DEMO / 'minigptv2' / 'grounding.json'))
