"""Text -> token ids: the image marker, and the two tokenizer rules the originals follow.

Prompts are split at ``<ImageHere>``; each piece is tokenized without special tokens
and ``IMAGE_TOKEN_ID`` stands once per image token where the marker was
(``VisionLanguageModel.embed_multimodal`` swaps them for the image embeddings). BOS is added by
hand, as MiniGPT-4 (``minigpt4/models/mini_gpt4.py``, ef1ac08) and LLaVA
(``llava/mm_utils.py:tokenizer_image_token``) both do.

Literal special-token text inside a piece (``<s>[INST] ``, ``answer</s>``) is where
the rules differ. MiniGPT-4 and MiniGPT-v2 ran transformers 4.28-4.30's slow
``LlamaTokenizer``: the text is split at the special strings, each string becomes its
id and every other piece is encoded by sentencepiece with its dummy prefix, so
``<s>[INST]`` is ``<s> ▁[ INST ]`` (``split_specials=True`` below; computed here with the
sentencepiece model itself, as 4.30 did, independent of the transformers version).
LLaVA-1.5's Vicuna v1.5 tokenizer is non-legacy: text right after a special token gets
no dummy prefix (``</s>USER`` is ``</s> USER``, hence LLaVA's ``not tokenizer.legacy``
correction in ``llava/train/train.py:preprocess_v1``); that is transformers 5's default,
used as is (``split_specials=False``).
"""

from __future__ import annotations

import functools
import re

import sentencepiece as spm
from transformers import PreTrainedTokenizerBase

from minigpt4_jax.models.vlm import IMAGE_TOKEN_ID

IMAGE_MARKER = '<ImageHere>'
# LLaVA's data marks the image with '<image>'; conversations are parsed into IMAGE_MARKER.
LLAVA_IMAGE_MARKER = '<image>'


def pad_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
  """The id padding is written with (LLaMA tokenizers often have none: EOS then)."""
  return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


@functools.lru_cache(maxsize=8)
def _sentencepiece(model_file: str) -> spm.SentencePieceProcessor:
  return spm.SentencePieceProcessor(model_file=model_file)


def _special_pattern(specials: tuple[str, ...]) -> re.Pattern:
  return re.compile('(' + '|'.join(re.escape(s) for s in sorted(specials, key=len, reverse=True))
                    + ')')


def legacy_ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
  """transformers 4.30's slow ``LlamaTokenizer`` (``add_special_tokens=False``): split at
  the special strings, each one its id, every other piece encoded by sentencepiece with
  its dummy prefix. Tokenizers without a sentencepiece model encode the pieces themselves."""
  specials = tuple(tokenizer.all_special_tokens)
  model_file = getattr(tokenizer, 'vocab_file', None)
  if model_file:
    encode = _sentencepiece(str(model_file)).encode
  else:
    encode = lambda piece: tokenizer(piece, add_special_tokens=False).input_ids
  ids = []
  for piece in _special_pattern(specials).split(text) if specials else [text]:
    if piece in specials:
      ids.append(tokenizer.convert_tokens_to_ids(piece))
    elif piece:
      ids += encode(piece)
  return ids


def tokenize_text(tokenizer: PreTrainedTokenizerBase, text: str, *,
                  split_specials: bool) -> list[int]:
  """Text without added special tokens (answers, prompt pieces, stop strings), under the
  legacy rule (``split_specials``) or the tokenizer's own."""
  if split_specials:
    return legacy_ids(tokenizer, text)
  return tokenizer(text, add_special_tokens=False).input_ids


def tokenize_with_image(tokenizer: PreTrainedTokenizerBase, text: str, num_image_tokens: int, *,
                        split_specials: bool, add_bos: bool = True) -> list[int]:
  """Ids of ``text`` with ``num_image_tokens`` placeholders per ``<ImageHere>``."""
  ids = [tokenizer.bos_token_id] if add_bos else []
  for i, piece in enumerate(text.split(IMAGE_MARKER)):
    if i:
      ids += [IMAGE_TOKEN_ID] * num_image_tokens
    if piece:
      ids += tokenize_text(tokenizer, piece, split_specials=split_specials)
  return ids
