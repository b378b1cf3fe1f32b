"""The official VQA answer normalization (``vqaEval.py``, GT-Vision-Lab/VQA, Python 3 version).

Reproduced rule for rule, quirks included, so our numbers match the evaluation server:

- ``process_punctuation``: each of 21 punctuation marks is deleted when it touches a
  space somewhere in the text, or when the text holds a number with a comma
  (``1,000`` -> ``1000``: then every mark is deleted); otherwise it becomes a space
  (``left-handed`` -> ``left handed``). Periods are deleted unless a digit follows
  (``3.5`` keeps its point, ``yes.`` loses it). Apostrophes and colons are kept.
- ``process_digit_article``: lower-case; number words zero..ten (and 'none') become
  digits; articles a/an/the are dropped; apostrophe-less contractions get their
  apostrophe (``dont`` -> ``don't``; there is no entry for ``its``).
"""

from __future__ import annotations

import re

PUNCTUATION = (';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<',
               '@', '`', ',', '?', '!')
COMMA_STRIP = re.compile(r'(\d)(,)(\d)')
# Verbatim: '(?!<=\d)' was meant as a look-behind but is a look-ahead that always
# holds, so a period goes unless a digit follows it.
PERIOD_STRIP = re.compile(r'(?!<=\d)(\.)(?!\d)')
# vqaEval passes re.UNICODE (== 32) where re.sub takes ``count``: at most 32 periods go.
PERIOD_STRIP_COUNT = 32
NUMBER_WORDS = {'none': '0', 'zero': '0', 'one': '1', 'two': '2', 'three': '3', 'four': '4',
                'five': '5', 'six': '6', 'seven': '7', 'eight': '8', 'nine': '9', 'ten': '10'}
ARTICLES = ('a', 'an', 'the')
# Keys with capitals ('Im', 'Ive', ...) never match the lower-cased words: as in vqaEval.
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}


def process_punctuation(text: str) -> str:
  """vqaEval's ``processPunctuation`` (no lower-casing here, as there)."""
  out = text
  has_number_with_comma = COMMA_STRIP.search(text) is not None
  for p in PUNCTUATION:
    # Tested against the original text, not the partly cleaned one: as vqaEval.
    if p + ' ' in text or ' ' + p in text or has_number_with_comma:
      out = out.replace(p, '')
    else:
      out = out.replace(p, ' ')
  return PERIOD_STRIP.sub('', out, count=PERIOD_STRIP_COUNT)


def process_digit_article(text: str) -> str:
  """vqaEval's ``processDigitArticle``: lower-case, number words, articles, contractions."""
  words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
  return ' '.join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def normalize_answer(text: str) -> str:
  """What vqaEval does to a predicted answer before comparing it."""
  text = text.replace('\n', ' ').replace('\t', ' ').strip()
  return process_digit_article(process_punctuation(text))
