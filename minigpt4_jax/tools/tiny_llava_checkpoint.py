"""Builds the bundled tiny LLaVA checkpoint (``minigpt4_jax/assets/tiny_llava_checkpoint``).

As for MiniGPT-4's (``tiny_checkpoint.py``), stage 1 must teach a projector to steer
a *pretrained* frozen LLM. The tiny LLaVA therefore takes its LLM from the bundled
tiny MiniGPT-4 checkpoint (the same 'tiny' LLaMA, pretrained on the demo texts) and a
seeded random CLIP tower; the projector is left for ``launch.train`` to learn.

  python -m minigpt4_jax.tools.tiny_llava_checkpoint   # rewrites the asset deterministically
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from minigpt4_jax import checkpoint
from minigpt4_jax.bundled import TINY_CHECKPOINT, TINY_LLAVA_CHECKPOINT, TINY_TOKENIZER
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.families import preset
from minigpt4_jax.models import VisionLanguageModel

SEED = 0


def main() -> None:
  model = VisionLanguageModel(preset('tiny_llava'), rngs=nnx.Rngs(SEED))
  donor = checkpoint.load(TINY_CHECKPOINT, dtype=jnp.float32)
  if donor.cfg.llm != model.cfg.llm:
    raise ValueError(f'{TINY_CHECKPOINT}: its LLM {donor.cfg.llm} is not tiny_llava\'s')
  nnx.update(model.llm, nnx.state(donor.llm, nnx.Param))
  checkpoint.save(model, TINY_LLAVA_CHECKPOINT, TINY_TOKENIZER, dtype=jnp.float32, overwrite=True)
  print(f'wrote {TINY_LLAVA_CHECKPOINT}')


if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.tiny_llava_checkpoint', __doc__)
  main()
