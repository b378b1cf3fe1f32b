"""LLaMA tokenizers: loading a checkpoint's, and training tiny ones for tests and the demo.

MiniGPT-4 uses the slow sentencepiece ``LlamaTokenizer`` and adds BOS itself, so we
always tokenize with ``add_special_tokens=False``.
"""

from __future__ import annotations

import io
import pathlib
from typing import Iterable

import sentencepiece as spm
from transformers import AutoTokenizer, LlamaTokenizer, PreTrainedTokenizerBase

TOKENIZER_FILES = ('tokenizer.model', 'tokenizer.json', 'tokenizer_config.json',
                   'special_tokens_map.json', 'added_tokens.json')


def load_tokenizer(directory: str | pathlib.Path) -> PreTrainedTokenizerBase:
  """The tokenizer saved in ``directory`` (a LLaMA/Vicuna dir or a converted checkpoint)."""
  directory = pathlib.Path(directory)
  if (directory / 'tokenizer.model').exists():
    # transformers 5's LlamaTokenizer(vocab_file=...) silently builds an empty
    # vocabulary; from_pretrained on the directory reads the sentencepiece model.
    return LlamaTokenizer.from_pretrained(str(directory))
  if (directory / 'tokenizer.json').exists():
    return AutoTokenizer.from_pretrained(str(directory))
  raise FileNotFoundError(f'{directory}: no tokenizer.model or tokenizer.json')


def train_tokenizer(out_dir: str | pathlib.Path, lines: Iterable[str], vocab_size: int) -> int:
  """Trains a LLaMA-style sentencepiece BPE model into ``out_dir``; returns its size.

  unk=0, bos=1, eos=2 as LLaMA; identity normalisation and byte fallback so any text
  round-trips. ``vocab_size`` is an upper bound on a small corpus.
  """
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(list(lines)), model_writer=model, vocab_size=vocab_size,
      model_type='bpe', character_coverage=1.0, byte_fallback=True,
      normalization_rule_name='identity', remove_extra_whitespaces=False,
      split_digits=True, hard_vocab_limit=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
      num_threads=1, minloglevel=2,
  )
  (out_dir / 'tokenizer.model').write_bytes(model.getvalue())
  tok = LlamaTokenizer.from_pretrained(str(out_dir))
  tok.save_pretrained(str(out_dir))
  return len(tok)
