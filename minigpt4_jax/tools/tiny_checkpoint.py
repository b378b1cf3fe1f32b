"""Builds the bundled tiny checkpoint (``minigpt4_jax/assets/tiny_checkpoint``).

The embedded default must behave like the real thing at toy scale: MiniGPT-4
freezes a *pretrained* EVA ViT + Q-Former and a *pretrained* LLM and teaches only the
projector to connect them. So, seeded:

1. the tiny LLaMA is pretrained as a causal LM on the demo texts, rendered in every
   prompt layout with the caption where the image goes (``tiny_llm_corpus``);
2. with that LLM frozen, the ViT, ln_vision and Q-Former are trained on the demo
   photographs in the stage-1, stage-2 and chat layouts (``tiny_towers``);
3. the LLM and a throwaway projector trained on the photographs' frozen tower
   features in the image slot (``photograph_features``), every row of step 2 plus
   balanced POPE questions (``pope_turns``: a "yes" for each "no"). Answering "is
   there a cat?" needs the LLM to check the slot for the object; from the caption's
   text in the slot the tiny LLM answered "no" to every tiny POPE question, and a
   projector trained on captions and descriptions never reached a matching learnt on
   text (issue 14). A released LLM brings that skill from its own pretraining;
4. a fresh projector is left for ``launch.train`` to learn.

  python -m minigpt4_jax.tools.tiny_checkpoint        # rewrites the asset deterministically
  python -m minigpt4_jax.tools.tiny_llava_checkpoint  # then the tiny LLaVA, from its LLM
"""

from __future__ import annotations

import time

import numpy as np
from flax import nnx

from minigpt4_jax.bundled import TINY_CHECKPOINT, TINY_TOKENIZER
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.data.demo_texts import DEMO_IMAGES
from minigpt4_jax.data.transforms import blip_caption
from minigpt4_jax.families import preset
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.text.tokens import pad_token_id
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.tools.tiny_llm_corpus import (Row, chat_row, lm_documents, pope_turns,
                                                question_turns, training_encoders)
from minigpt4_jax.tools.tiny_towers import (SEED, RowMaker, caption_loss, chat_rows,
                                          chat_template_of, demo_images, feature_batches, fit,
                                          fresh_projector, lm_batches, lm_loss,
                                          photograph_features, projector_or_llm,
                                          save_tiny_checkpoint, train_towers)

LLM_STEPS, LLM_BATCH, LLM_LR = 600, 16, 3e-3
FEATURE_STEPS, FEATURE_BATCH, FEATURE_LR = 600, 16, 1e-3


def pretrain_llm(model: VisionLanguageModel, tokenizer) -> float:
  """Trains ``model.llm`` in place as a causal LM on ``lm_documents``; returns the loss."""
  docs = lm_documents(tokenizer)
  batches = lm_batches(docs, LLM_BATCH, pad_token_id(tokenizer), np.random.default_rng(SEED))
  return fit(model.llm, nnx.Param, batches, lm_loss, LLM_STEPS, LLM_LR, 'tiny LLM')


def minigpt4_rows(tokenizer, model: VisionLanguageModel) -> list[RowMaker]:
  """Stage-1 captions, stage-2 descriptions (one instruction per batch) and chat turns."""
  encoders = training_encoders(tokenizer, model.cfg.num_image_tokens)
  captions = {name: blip_caption(c) for name, c, _ in DEMO_IMAGES}
  descriptions = {name: d for name, _, d in DEMO_IMAGES}

  def stage1(names, rng):
    del rng
    return [encoders['stage1'].encode_one(captions[n]) for n in names]

  def stage2(names, rng):
    k = int(rng.integers(encoders['stage2'].num_instructions))
    return [encoders['stage2'].encode_one(descriptions[n], k) for n in names]

  chat = chat_rows(tokenizer, chat_template_of(model), model.cfg.num_image_tokens)
  return [stage1, stage2, chat]


def feature_rows(tokenizer, model: VisionLanguageModel) -> list[tuple[str, Row]]:
  """(photograph, row) for step 3: its stage-1 caption, its stage-2 descriptions (every
  instruction) and its chat turns, balanced POPE questions included."""
  encoders = training_encoders(tokenizer, model.cfg.num_image_tokens)
  template = chat_template_of(model)
  rows = []
  for name, caption, description in DEMO_IMAGES:
    rows.append((name, encoders['stage1'].encode_one(blip_caption(caption))))
    rows += [(name, encoders['stage2'].encode_one(description, k))
             for k in range(encoders['stage2'].num_instructions)]
    rows += [(name, chat_row(tokenizer, template, question, answer, model.cfg.num_image_tokens))
             for question, answer in question_turns(name, description) + pope_turns(name)]
  return rows


def teach_llm_on_features(model: VisionLanguageModel, tokenizer) -> float:
  """Step 3: trains ``model``'s LLM and projector in place on ``feature_rows`` with the
  photographs' frozen tower features, then gives it a fresh projector; returns the loss."""
  batches = feature_batches(feature_rows(tokenizer, model), photograph_features(model),
                            FEATURE_BATCH, pad_token_id(tokenizer), np.random.default_rng(SEED + 6))
  loss = fit(model, projector_or_llm, batches, caption_loss, FEATURE_STEPS, FEATURE_LR,
             'tiny LLM on tower features')
  fresh_projector(model)
  return loss


def main() -> None:
  start = time.perf_counter()
  tokenizer = load_tokenizer(TINY_TOKENIZER)
  model = VisionLanguageModel(preset('tiny'), rngs=nnx.Rngs(SEED))
  print(f'tiny LLM: loss {pretrain_llm(model, tokenizer):.3f}')
  loss = train_towers(model, tokenizer, minigpt4_rows(tokenizer, model), demo_images(), SEED + 2,
                      'tiny ViT + Q-Former')
  print(f'tiny ViT + Q-Former: caption loss {loss:.3f}')
  print(f'tiny LLM on tower features: loss {teach_llm_on_features(model, tokenizer):.3f}')
  save_tiny_checkpoint(model, TINY_CHECKPOINT, start)


if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.tiny_checkpoint', __doc__)
  main()
