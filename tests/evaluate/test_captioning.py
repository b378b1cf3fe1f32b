"""Captioning scores through pycocoevalcap, against hand-computed values.

The Python tokenizer runs everywhere; the PTB tokenizer and METEOR need Java and are
skipped without it.
"""

import math
import pathlib

import pytest

from minigpt4_jax.evaluate.metrics.captioning import (caption_scores, java_available,
                                                      python_ptb_tokenize, tokenized)
from minigpt4_jax.evaluate.readers import CaptionRecord

needs_java = pytest.mark.skipif(not java_available(),
                                reason='no java on PATH: PTBTokenizer and METEOR need a JRE')

CAPTIONS = [
    'A man riding a wave on top of a surfboard.',
    "It's a dog's toy, isn't it?",
    'Two people (a man and a woman) stand near 3.5 "nice" cars -- ok...',
    'A t-shirt costs $1,000 at 10:30 a.m. today!',
    "A boy's bike and/or skateboard [sic] {x}",
]
PTB_TOKENS = [
    'a man riding a wave on top of a surfboard',
    "it 's a dog 's toy is n't it",
    'two people -lrb- a man and a woman -rrb- stand near 3.5 nice cars ok',
    'a t-shirt costs $ 1,000 at 10:30 a.m. today',
    "a boy 's bike and/or skateboard -lsb- sic -rsb- -lcb- x -rcb-",
]


def records(*references: str) -> list[CaptionRecord]:
  return [CaptionRecord(i, pathlib.Path(f'{i}.jpg'), (ref,)) for i, ref in enumerate(references)]


def test_python_tokenizer():
  assert [python_ptb_tokenize(c) for c in CAPTIONS] == PTB_TOKENS


@needs_java
def test_python_tokenizer_matches_ptb():
  assert tokenized({i: [c] for i, c in enumerate(CAPTIONS)}, use_java=True) == {
      i: [t] for i, t in enumerate(PTB_TOKENS)}


def test_identical_captions():
  refs = records('a black dog sleeping on the couch', 'two men throw frisbees in parks')
  scores = caption_scores(refs, {0: 'A black dog sleeping on the couch.',
                                 1: 'Two men throw frisbees in parks.'}, use_java=False)
  # CIDEr-D: every n-gram is in one image's reference (idf log 2 > 0), the vectors are
  # equal (cosine 1 for n = 1..4) and so are the lengths: 10 per image.
  assert scores == pytest.approx({'BLEU-1': 100.0, 'BLEU-2': 100.0, 'BLEU-3': 100.0,
                                  'BLEU-4': 100.0, 'ROUGE-L': 100.0, 'CIDEr': 1000.0,
                                  'tokenizer': 'python'})


def test_bleu_1_and_rouge_l_by_hand():
  scores = caption_scores(records('a black dog sleeping on the couch'),
                          {0: 'a dog on a couch'}, use_java=False)
  # BLEU-1: clipped unigram matches a, dog, on, couch = 4 of 5; brevity penalty
  # exp(1 - 7/5) (closest reference length 7 > 5). No bigram matches: BLEU-2 ~ 0.
  assert scores['BLEU-1'] == pytest.approx(100 * 0.8 * math.exp(1 - 7 / 5))
  assert scores['BLEU-2'] < 1e-3
  # ROUGE-L: LCS 'a dog on couch' = 4; P = 4/5, R = 4/7, beta = 1.2.
  p, r, b2 = 4 / 5, 4 / 7, 1.2 ** 2
  assert scores['ROUGE-L'] == pytest.approx(100 * (1 + b2) * p * r / (r + b2 * p))
  # One image: idf = log(1) - log(1) = 0 for every n-gram, so CIDEr is 0.
  assert scores['CIDEr'] == 0.0


def test_cider_by_hand():
  scores = caption_scores(records('a black dog', 'two men run'),
                          {0: 'a black cat', 1: 'two men run'}, use_java=False)
  # Two images: every n-gram's weight is tf * (log 2 - log max(1, df)) = log 2 (df <= 1).
  # Image 0, cosine per n: 1-grams {a, black, cat} vs {a, black, dog}: 2/3; 2-grams: 1/2;
  #   3-grams: 0; no 4-grams: 0. Equal lengths, no penalty: 10 * (2/3 + 1/2) / 4 = 70/24.
  # Image 1, identical: 1, 1, 1 and no 4-grams: 10 * 3/4.
  assert scores['CIDEr'] == pytest.approx(100 * (70 / 24 + 7.5) / 2)


@needs_java
def test_with_java_meteor_and_ptb():
  refs = records('a black dog sleeping on the couch', 'two men throw frisbees in parks')
  predictions = {0: 'A black dog sleeping on the couch.', 1: 'Two men (throw) a ball.'}
  with_java = caption_scores(refs, predictions)
  without = caption_scores(refs, predictions, use_java=False)
  assert with_java.pop('tokenizer') == 'ptb' and without.pop('tokenizer') == 'python'
  meteor = with_java.pop('METEOR')
  assert 30 < meteor < 100
  # '(' and ')' become '-lrb-', '-rrb-' under both tokenizers: the same scores.
  assert with_java == pytest.approx(without)
