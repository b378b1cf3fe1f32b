"""Filter rules: the paper's failure strings and the generic checks, and rules from JSON."""

import json

import pytest

from minigpt4_jax.curate.rules import DEFAULT_RULES, Rule, first_match, load_rules

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
