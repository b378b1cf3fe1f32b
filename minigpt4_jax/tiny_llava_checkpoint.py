"""Builds the bundled tiny LLaVA checkpoint (``minigpt4_jax/assets/tiny_llava_checkpoint``).

As for MiniGPT-4's (``tiny_checkpoint.py``), stage 1 must teach a projector to steer
a *pretrained* frozen LLM. The tiny LLaVA therefore takes its LLM from the bundled
tiny MiniGPT-4 checkpoint (the same 'tiny' LLaMA, pretrained on the demo texts) and a
seeded random CLIP tower; the projector is left for ``launch.train`` to learn.

  python -m minigpt4_jax.tiny_llava_checkpoint   # rewrites the asset deterministically
"""

from __future__ import annotations

import pathlib

import jax.numpy as jnp
from flax import nnx

from minigpt4_jax import checkpoint
from minigpt4_jax.models.llava import LLaVA
from minigpt4_jax.models.llava_config import preset
from minigpt4_jax.tiny_checkpoint import ASSET_DIR as TINY_MINIGPT4
from minigpt4_jax.tiny_tokenizer import ASSET_DIR as TOKENIZER_DIR

ASSET_DIR = pathlib.Path(__file__).resolve().parent / 'assets' / 'tiny_llava_checkpoint'
SEED = 0


def main() -> None:
  model = LLaVA(preset('tiny_llava'), rngs=nnx.Rngs(SEED))
  donor = checkpoint.load(TINY_MINIGPT4, dtype=jnp.float32)
  if donor.cfg.llm != model.cfg.llm:
    raise ValueError(f'{TINY_MINIGPT4}: its LLM {donor.cfg.llm} is not tiny_llava\'s')
  nnx.update(model.llm, nnx.state(donor.llm, nnx.Param))
  checkpoint.save(model, ASSET_DIR, TOKENIZER_DIR, dtype=jnp.float32, overwrite=True)
  print(f'wrote {ASSET_DIR}')


if __name__ == '__main__':
  main()
