"""Prompt text -> token ids with image placeholders, shared by training and generation.

MiniGPT-4 splits the prompt at ``<ImageHere>``, tokenizes each piece without special
tokens, and splices the image embeddings between them; BOS is added by hand. We emit
``IMAGE_TOKEN_ID`` once per image token instead, and ``VisionLanguageModel.embed_multimodal``
swaps them for the embeddings on the device.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from minigpt4_jax.models.vlm import IMAGE_TOKEN_ID

IMAGE_PLACEHOLDER = '<ImageHere>'
# LLaVA's conv_vicuna_v1 system message: its stage-2 training text and its chat template.
VICUNA_V1_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                    "The assistant gives helpful, detailed, and polite answers to the human's "
                    "questions.")


def tokenize_with_image(
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    num_image_tokens: int,
    *,
    add_bos: bool = True,
) -> list[int]:
  """Ids of ``text`` with ``num_image_tokens`` placeholders per ``<ImageHere>``."""
  ids = [tokenizer.bos_token_id] if add_bos else []
  pieces = text.split(IMAGE_PLACEHOLDER)
  for i, piece in enumerate(pieces):
    if i:
      ids += [IMAGE_TOKEN_ID] * num_image_tokens
    if piece:
      ids += tokenizer(piece, add_special_tokens=False).input_ids
  return ids


def tokenize_text(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
  """Plain text without special tokens (answers, stop strings)."""
  return tokenizer(text, add_special_tokens=False).input_ids
