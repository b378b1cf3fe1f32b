"""Captioning scores with pycocoevalcap (the COCO caption evaluation code).

Captions are tokenized by pycocoevalcap's ``PTBTokenizer`` (Stanford CoreNLP 3.4.1
under Java, lower-cased, punctuation tokens dropped), then scored by its BLEU-1..4,
METEOR 1.5 (Java), ROUGE-L and CIDEr-D (document frequencies from this set's
references, as COCO's server). SPICE is not computed (it downloads Stanford models).

Without Java, ``python_ptb_tokenize`` stands in for the tokenizer and METEOR is
left out; the result's ``tokenizer`` entry says which ran, since the two can differ
on rare inputs (slashes, abbreviations).
"""

from __future__ import annotations

import re
import shutil
from typing import Mapping, Sequence

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS, PTBTokenizer

from minigpt4_jax.evaluate.metrics.common import aligned
from minigpt4_jax.evaluate.readers import CaptionRecord

# PTB splits clitics off ("don't" -> "do n't", "dog's" -> "dog 's"), keeps numbers,
# abbreviations ("a.m.", "d.c.") and hyphen/slash compounds whole, and writes
# brackets as -lrb- etc. (tokens that survive: PUNCTUATIONS lists them upper-case).
_PTB_TOKEN = re.compile(r"\w+(?=n't\b)|n't\b|'(?:s|re|ve|ll|d|m)\b|\d+(?:[.,:]\d+)+"
                        r"|\w+(?:\.\w+)+\.?|\w+(?:[-/]\w+)*|\.\.\.|--|\S")
_BRACKETS = {'(': '-lrb-', ')': '-rrb-', '[': '-lsb-', ']': '-rsb-', '{': '-lcb-', '}': '-rcb-'}
# PTB turns '"' into `` or '', both dropped.
_DROPPED = frozenset(PUNCTUATIONS) | {'"'}


def python_ptb_tokenize(text: str) -> str:
  """An approximation of ``PTBTokenizer`` for one caption, for machines without Java
  (known difference: titles such as "Mr." lose their period)."""
  return ' '.join(_BRACKETS.get(t, t) for t in _PTB_TOKEN.findall(text.lower())
                  if t not in _DROPPED)


def java_available() -> bool:
  return shutil.which('java') is not None


def tokenized(captions: Mapping[int, list[str]], use_java: bool) -> dict[int, list[str]]:
  if use_java:
    return PTBTokenizer().tokenize({k: [{'caption': c} for c in v] for k, v in captions.items()})
  return {k: [python_ptb_tokenize(c) for c in v] for k, v in captions.items()}


def caption_scores(records: Sequence[CaptionRecord], predictions: Mapping[int, str],
                   use_java: bool | None = None) -> dict[str, float | str]:
  """BLEU-1..4, METEOR (Java only), ROUGE-L and CIDEr, x100 as papers print them,
  and ``tokenizer``: 'ptb' or 'python' (``use_java`` defaults to whether Java is on PATH)."""
  use_java = java_available() if use_java is None else use_java
  preds = aligned(records, predictions)
  gts = tokenized({r.sample_id: list(r.references) for r in records}, use_java)
  res = tokenized({r.sample_id: [p] for r, p in zip(records, preds)}, use_java)
  bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
  scores: dict[str, float | str] = {f'BLEU-{n}': 100 * b for n, b in enumerate(bleu, 1)}
  if use_java:
    meteor = Meteor()
    scores['METEOR'] = 100 * meteor.compute_score(gts, res)[0]
    del meteor  # its __del__ ends the Java process now rather than at exit
  scores['ROUGE-L'] = 100 * float(Rouge().compute_score(gts, res)[0])
  scores['CIDEr'] = 100 * float(Cider().compute_score(gts, res)[0])
  scores['tokenizer'] = 'ptb' if use_java else 'python'
  return scores
