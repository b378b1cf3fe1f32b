"""Builds the bundled tiny checkpoint (``minigpt4_jax/assets/tiny_checkpoint``).

The embedded default must behave like the real thing at toy scale: MiniGPT-4
freezes a *pretrained* LLM and teaches only the projector to speak to it. A frozen
random LLM cannot be steered (its logits barely depend on its inputs), so here the
tiny LLaMA is first pretrained for a few hundred steps as a plain language model on
the demo captions, descriptions and prompt templates; the ViT and Q-Former stay
random (seeded), and the projector is left for ``launch.train`` to learn.

  python -m minigpt4_jax.tools.tiny_checkpoint   # rewrites the asset deterministically
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from minigpt4_jax import checkpoint
from minigpt4_jax.bundled import TINY_CHECKPOINT, TINY_TOKENIZER
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.families import preset
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.tools.tiny_tokenizer import corpus
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.train.loss import token_nll_sum

SEQ_LEN = 64
STEPS = 400
SEED = 0


def lm_batches(texts: list[str], batch: int, rng: np.random.Generator):
  """Endless batches of [BOS] text windows: (ids int32[B, L], mask float32[B, L])."""
  tok = load_tokenizer(TINY_TOKENIZER)
  docs = [[tok.bos_token_id] + tok(t, add_special_tokens=False).input_ids + [tok.eos_token_id]
          for t in texts]
  while True:
    ids = np.zeros((batch, SEQ_LEN), np.int32)
    mask = np.zeros((batch, SEQ_LEN), np.float32)
    for row in range(batch):
      doc = docs[rng.integers(len(docs))][:SEQ_LEN]
      ids[row, :len(doc)] = doc
      mask[row, 1:len(doc)] = 1
    yield ids, mask


def pretrain_llm(model: VisionLanguageModel, texts: list[str]) -> float:
  """Trains ``model.llm`` in place as a causal LM; returns the final loss."""
  graphdef, params = nnx.split(model.llm, nnx.Param)
  tx = optax.adamw(optax.cosine_decay_schedule(3e-3, STEPS), weight_decay=0.01)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, ids, mask):
    def loss_fn(p):
      logits = nnx.merge(graphdef, p)(input_ids=ids)
      total, count = token_nll_sum(logits, ids, mask)
      return total / count
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  batches = lm_batches(texts, 16, np.random.default_rng(SEED))
  for _ in range(STEPS):
    params, opt_state, loss = step(params, opt_state, *next(batches))
  nnx.update(model.llm, params)
  return float(loss)


def main() -> None:
  model = VisionLanguageModel(preset('tiny'), rngs=nnx.Rngs(SEED))
  loss = pretrain_llm(model, corpus())
  checkpoint.save(model, TINY_CHECKPOINT, TINY_TOKENIZER, dtype=jnp.float32, overwrite=True)
  print(f'wrote {TINY_CHECKPOINT} (LLM pretrained to loss {loss:.3f})')


if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.tiny_checkpoint', __doc__)
  main()
