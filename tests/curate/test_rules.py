"""Filter rules: the paper's failure strings and the generic checks, and rules from JSON."""

import json

import pytest

from minigpt4_jax.curate.rules import (DEFAULT_RULES, Rule, first_match, first_matches,
                                       load_rules, top_ngram_fraction)
from minigpt4_jax.data.demo_texts import DEMO_IMAGES

# What the random-tower tiny model wrote for every demo photograph (issue 14).
DEGENERATE = ('The image shows a gray wall with clusters and a mortar a mortar that and a mortar '
              'a mortar that and a mortar in the lower part of the image.')
GOOD = ('The image shows a red brick wall beside a narrow street. A bicycle leans against '
        'the wall, and there is a small window above it with white curtains.')


@pytest.mark.parametrize('text, rule', [
    (GOOD, None),
    ("I'm sorry, I made a mistake. " + GOOD, 'apology'),
    ('I apologize for that. ' + GOOD, 'apology'),
    (GOOD + ' Sorry, I made a mistake in the first sentence.', 'made_a_mistake'),
    ('As an AI language model, I cannot see images. ' + GOOD, 'ai_disclaimer'),
    ('Here is the corrected paragraph: ' + GOOD, 'fixer_comment'),
    (GOOD + ' ' + GOOD.split('. ')[0] + '.', 'repeated_sentences'),
    ('Das Bild zeigt eine rote Mauer neben einer schmalen Straße mit einem Fahrrad davor.',
     'non_english'),
    ('这张图片显示了一面红砖墙和一辆自行车，旁边还有一扇小窗户和白色的窗帘。', 'non_english'),
    ('crema sofa window rocket saucer pad launch suit smiles coffee cup', 'non_english'),
    ('A red brick wall by the street.', 'too_short'),
    (DEGENERATE, 'repeated_ngram'),
    ('clusters and a mortar a mortar that and a mortar', 'repeated_ngram'),
])
def test_default_rules(text, rule):
  assert first_match(text, DEFAULT_RULES) == rule


def test_extra_rules_extend_and_replace(tmp_path):
  path = tmp_path / 'rules.json'
  path.write_text(json.dumps([
      {'name': 'no_bicycles', 'kind': 'regex', 'params': {'pattern': r'\bbicycles?\b'}},
      {'name': 'too_short', 'kind': 'min_words', 'params': {'minimum': 50}}]))
  rules = load_rules(path)
  names = [r.name for r in rules]
  assert names == [r.name for r in DEFAULT_RULES] + ['no_bicycles']
  assert rules[names.index('too_short')].params == {'minimum': 50}
  assert first_match(GOOD, rules) == 'too_short'  # 30 words now fall short; checked first
  assert first_match(GOOD, rules[:-2] + rules[-1:]) == 'no_bicycles'


@pytest.mark.parametrize('rules, message', [
    ({'name': 'x'}, 'expected a JSON list'),
    ([{'name': 'x'}], 'needs "name" and "kind"'),
    ([{'name': 'x', 'kind': 'glob'}], "unknown kind 'glob'"),
    ([{'name': 'x', 'kind': 'regex', 'params': {'pattern': '('}}], "rule 0 ('x')"),
    ([{'name': 'x', 'kind': 'min_words', 'params': {'min': 3}}], "rule 0 ('x')"),
    ([{'name': 'x', 'kind': 'repeated_ngram', 'params': {'n': [2], 'max_fraction': [0.2, 0.1]}}],
     'differ in length'),
    ([{'name': 'x', 'kind': 'duplicate_caption', 'params': {'max': 1}}], "rule 0 ('x')"),
])
def test_bad_rule_files_name_the_file_and_rule(tmp_path, rules, message):
  path = tmp_path / 'rules.json'
  path.write_text(json.dumps(rules))
  with pytest.raises(ValueError, match='rules.json') as err:
    load_rules(path)
  assert message in str(err.value)


def test_rule_kind_is_checked():
  with pytest.raises(ValueError, match="rule 'r': unknown kind"):
    Rule('r', 'fuzzy')


@pytest.mark.parametrize('text', [d for _, _, d in DEMO_IMAGES] + [c for _, c, _ in DEMO_IMAGES])
def test_hand_written_descriptions_have_no_repeated_ngram(text):
  repeated_ngram, = [r for r in DEFAULT_RULES if r.name == 'repeated_ngram']
  assert not repeated_ngram.matches(text)


def test_top_ngram_fraction_counts_every_occurrence():
  words = 'a mortar a mortar that'.split()  # 'a mortar' twice: 2 * 7 of 18 characters
  assert top_ngram_fraction(words, 2) == pytest.approx(14 / 18)
  assert top_ngram_fraction(words, 3) == 0.0  # no 3-gram occurs twice
  assert top_ngram_fraction('no phrase occurs twice here'.split(), 2) == 0.0
  assert top_ngram_fraction(words, 2, min_count=3) == 0.0


def test_duplicate_caption_drops_every_image_sharing_a_text():
  distinct = [d for _, _, d in DEMO_IMAGES[:3]]
  # The same fixed text for three images, up to case and punctuation.
  texts = distinct + [GOOD, GOOD.upper(), GOOD.replace('.', ' .')]
  assert first_matches(texts, DEFAULT_RULES) == [None] * 3 + ['duplicate_caption'] * 3
  assert first_matches(distinct, DEFAULT_RULES) == [None] * 3
  assert first_match(GOOD, DEFAULT_RULES) is None  # one text alone is never a duplicate
  # An earlier rule keeps its name on an item it drops; the duplicate count sees every text.
  assert first_matches([DEGENERATE] * 2, DEFAULT_RULES) == ['repeated_ngram'] * 2


def test_duplicate_caption_allows_max_images():
  rule = Rule('dup', 'duplicate_caption', {'max_images': 2})
  assert rule.flags([GOOD, GOOD, 'other']) == [False, False, False]
  assert rule.flags([GOOD] * 3) == [True] * 3
