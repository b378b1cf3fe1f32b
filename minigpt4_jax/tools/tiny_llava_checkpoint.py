"""Builds the bundled tiny LLaVA checkpoint (``minigpt4_jax/assets/tiny_llava_checkpoint``).

As for MiniGPT-4's (``tiny_checkpoint.py``), stage 1 must teach a projector to connect
a *pretrained* frozen tower to a *pretrained* frozen LLM. The tiny LLaVA takes its
LLM from the bundled tiny MiniGPT-4 checkpoint (the same 'tiny' LLaMA, pretrained on
the demo texts, then on the tiny MiniGPT-4's tower features), trains its seeded CLIP
tower on the demo photographs (padded to square, as LLaVA-1.5 pads them) in the plain,
v1 and chat layouts (``tiny_towers``), and leaves a fresh projector for
``launch.train`` to learn.

  python -m minigpt4_jax.tools.tiny_llava_checkpoint   # after tiny_checkpoint; deterministic
"""

from __future__ import annotations

import time

import jax.numpy as jnp
from flax import nnx

from minigpt4_jax import checkpoint
from minigpt4_jax.bundled import TINY_CHECKPOINT, TINY_LLAVA_CHECKPOINT, TINY_TOKENIZER
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.data.transforms import pad_to_square
from minigpt4_jax.families import preset
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.tools.llava_demo import demo_samples
from minigpt4_jax.tools.tiny_llm_corpus import llava_encoders
from minigpt4_jax.tools.tiny_towers import (SEED, RowMaker, chat_rows, chat_template_of,
                                          demo_images, save_tiny_checkpoint, train_towers)


def llava_rows(tokenizer, model: VisionLanguageModel) -> list[RowMaker]:
  """The demo's LLaVA JSON under plain (stage 1) and v1 (stage 2), and chat turns."""
  encoders = llava_encoders(tokenizer, model.cfg.num_image_tokens)
  makers = []
  for encoder, samples in zip(encoders.values(), demo_samples()):
    by_name = {s['id']: s['conversations'] for s in samples}
    makers.append(lambda names, rng, encoder=encoder, by_name=by_name: [
        encoder.encode_one(by_name[n]) for n in names])
  return [*makers, chat_rows(tokenizer, chat_template_of(model), model.cfg.num_image_tokens)]


def main() -> None:
  start = time.perf_counter()
  tokenizer = load_tokenizer(TINY_TOKENIZER)
  model = VisionLanguageModel(preset('tiny_llava'), rngs=nnx.Rngs(SEED))
  donor = checkpoint.load(TINY_CHECKPOINT, dtype=jnp.float32)
  if donor.cfg.llm != model.cfg.llm:
    raise ValueError(f'{TINY_CHECKPOINT}: its LLM {donor.cfg.llm} is not tiny_llava\'s')
  nnx.update(model.llm, nnx.state(donor.llm, nnx.Param))
  squares = {name: pad_to_square(im) for name, im in demo_images().items()}
  loss = train_towers(model, tokenizer, llava_rows(tokenizer, model), squares, SEED + 3,
                      'tiny CLIP')
  print(f'tiny CLIP: caption loss {loss:.3f}')
  save_tiny_checkpoint(model, TINY_LLAVA_CHECKPOINT, start)


if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.tiny_llava_checkpoint', __doc__)
  main()
