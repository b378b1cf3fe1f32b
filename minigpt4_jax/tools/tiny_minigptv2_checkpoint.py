"""Builds the bundled tiny MiniGPT-v2 checkpoint (``minigpt4_jax/assets/tiny_minigptv2_checkpoint``).

MiniGPT-v2's stage 3 trains LoRA and ``llama_proj`` between a *pretrained* frozen EVA
ViT and a Llama-2 that its stages 1-2 already taught the task identifiers and the box
text. From random parts the tiny run learned nothing (loss 6.7 after 200 steps; chat
answered ``><><``), so, seeded, from the bundled tiny MiniGPT-4 checkpoint:

1. its ViT (pretrained on the demo photographs, ``tiny_towers``) at 448 px, the
   position embeddings resized bicubically as the original does at load
   (``families.minigptv2.at_image_size``), and its LLM (pretrained on the demo texts,
   then on the tiny MiniGPT-4's tower features);
2. the LLM trained on as a causal LM on the MiniGPT-v2 layouts (training and chat) of
   every demo turn, the grounding samples of ``minigptv2_demo`` ([grounding], [refer],
   [identify] with ``{<x1><y1><x2><y2>}`` boxes) included, the photograph's caption in
   the image slot, beside its earlier documents (``tiny_llm_corpus``), to write
   boxes: ``<>{}`` and the digits are byte pieces of the tiny tokenizer, a box is 16
   tokens;
3. the projector and the LLM trained on every v2 row of step 2 with the photograph's
   frozen ViT features in the image slot (the 448-px squash the data pipeline and
   evaluation use; computed once, the ViT stays as step 1 left it), as the original's
   stages 1-2 train ``llama_proj`` and the LLM before stage 3: the LLM's box text has
   to come from the image and the phrase, not from the caption it was shown in step 2
   (from step 2 alone, 200 stage-3 steps scored 0 of 14 on the tiny RefCOCO; this
   checkpoint alone, without adapters, scores 12 of 14);
4. no adapters: ``configs/tiny_minigptv2.py`` adds them and trains them with the
   projector.

  python -m minigpt4_jax.tools.tiny_minigptv2_checkpoint  # after tiny_checkpoint; deterministic
"""

from __future__ import annotations

import dataclasses
import time

import jax.numpy as jnp
import numpy as np
from flax import nnx

from minigpt4_jax import checkpoint
from minigpt4_jax.bundled import TINY_CHECKPOINT, TINY_MINIGPTV2_CHECKPOINT, TINY_TOKENIZER
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.data.demo_texts import DEMO_IMAGES
from minigpt4_jax.families import minigptv2, preset
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.text.sequences import SequenceEncoder, SequenceLayout
from minigpt4_jax.text.templates import MINIGPTV2
from minigpt4_jax.text.tokens import pad_token_id, tokenize_text
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.tools.minigptv2_demo import demo_grounding_samples
from minigpt4_jax.tools.tiny_llm_corpus import (Document, Row, chat_row, ended, fill_image_slot,
                                                lm_documents, question_turns)
from minigpt4_jax.tools.tiny_towers import (SEED, caption_loss, feature_batches, fit, lm_batches,
                                            lm_loss, photograph_features, projector_or_llm,
                                            save_tiny_checkpoint)

LLM_STEPS, LLM_BATCH, LLM_LR = 300, 16, 1e-3
IMAGE_STEPS, IMAGE_BATCH, IMAGE_LR = 400, 16, 1e-3
MAX_LENGTH = 512  # above any v2 document (the longest, a description, is 216 tokens)
Turn = tuple[str, str]  # (instruction, answer)


def v2_turns() -> dict[str, list[Turn]]:
  """Photograph -> its (instruction, answer) turns: the grounding samples of the boxed
  ones, and every photograph's chat turns (descriptions, POPE, VQA)."""
  turns = {name: question_turns(name, description) for name, _, description in DEMO_IMAGES}
  for sample in demo_grounding_samples():
    question, answer = (c['value'] for c in sample['conversations'])
    turns[sample['image'].removesuffix('.jpg')].append((question.removeprefix('<image>\n'),
                                                        answer))
  return turns


def v2_row(tokenizer, encoder: SequenceEncoder, turn: Turn, chat: bool) -> Row:
  """``turn`` in the training layout (``[INST] <Img>..</Img> q  [/INST]a</s>``) or, with
  ``chat``, as ``generate.chat`` prompts for it (``<s>[INST] <Img>..</Img> q [/INST]``)."""
  question, answer = turn
  if chat:
    return chat_row(tokenizer, MINIGPTV2, question, answer, encoder.layout.num_image_tokens)
  return encoder.encode_one([{'from': 'human', 'value': '<image>\n' + question},
                             {'from': 'gpt', 'value': answer}])


def v2_encoder(tokenizer, num_image_tokens: int) -> SequenceEncoder:
  return SequenceEncoder(tokenizer, SequenceLayout(MINIGPTV2, (), 0, MAX_LENGTH, num_image_tokens))


def v2_documents(tokenizer) -> list[Document]:
  """Every v2 turn in both layouts, the caption in the image slot."""
  encoder = v2_encoder(tokenizer, 1)
  captions = {name: caption for name, caption, _ in DEMO_IMAGES}
  docs = []
  for name, turns in v2_turns().items():
    slot = tokenize_text(tokenizer, captions[name], split_specials=True)
    docs += [ended(fill_image_slot(v2_row(tokenizer, encoder, turn, chat)[0], slot),
                   tokenizer.eos_token_id) for turn in turns for chat in (False, True)]
  return docs


def image_rows(tokenizer, num_image_tokens: int) -> list[tuple[str, Row]]:
  """(photograph, row) for every v2 turn in both layouts, ``num_image_tokens`` slots."""
  encoder = v2_encoder(tokenizer, num_image_tokens)
  return [(name, v2_row(tokenizer, encoder, turn, chat)) for name, turns in v2_turns().items()
          for turn in turns for chat in (False, True)]


def from_tiny_minigpt4(model: VisionLanguageModel) -> None:
  """``model``'s ViT and LLM set, in place, to the bundled tiny MiniGPT-4's (its ViT at
  ``model``'s image size)."""
  donor = checkpoint.load(TINY_CHECKPOINT, dtype=jnp.float32)
  if donor.cfg.llm != model.cfg.llm:
    raise ValueError(f"{TINY_CHECKPOINT}: its LLM {donor.cfg.llm} is not minigptv2_tiny's")
  minigptv2.at_image_size(donor, model.cfg.vision.image_size)
  if donor.cfg.vision != model.cfg.vision:
    raise ValueError(f"{TINY_CHECKPOINT}: its ViT {donor.cfg.vision} is not minigptv2_tiny's")
  nnx.update(model.llm, nnx.state(donor.llm, nnx.Param))
  nnx.update(model.vision, nnx.state(donor.vision, nnx.Param))


def main() -> None:
  start = time.perf_counter()
  tokenizer = load_tokenizer(TINY_TOKENIZER)
  cfg = dataclasses.replace(preset('minigptv2_tiny'), lora=None)
  model = VisionLanguageModel(cfg, rngs=nnx.Rngs(SEED))
  from_tiny_minigpt4(model)
  docs = v2_documents(tokenizer) + lm_documents(tokenizer)
  batches = lm_batches(docs, LLM_BATCH, pad_token_id(tokenizer), np.random.default_rng(SEED + 4))
  loss = fit(model.llm, nnx.Param, batches, lm_loss, LLM_STEPS, LLM_LR, 'tiny v2 LLM')
  print(f'tiny v2 LLM: loss {loss:.3f}')
  batches = feature_batches(image_rows(tokenizer, model.cfg.num_image_tokens),
                            photograph_features(model), IMAGE_BATCH, pad_token_id(tokenizer),
                            np.random.default_rng(SEED + 5))
  loss = fit(model, projector_or_llm, batches, caption_loss, IMAGE_STEPS, IMAGE_LR,
             'tiny v2 projector + LLM')
  print(f'tiny v2 projector + LLM: loss {loss:.3f}')
  save_tiny_checkpoint(model, TINY_MINIGPTV2_CHECKPOINT, start)


if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.tiny_minigptv2_checkpoint', __doc__)
  main()
