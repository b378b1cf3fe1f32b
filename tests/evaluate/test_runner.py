"""The runner with a stand-in model: resumable predictions, results files, config checks."""

import json
import pathlib

import pytest

from minigpt4_jax.evaluate import runner
from minigpt4_jax.evaluate.readers import POPERecord
from minigpt4_jax.evaluate.tasks import TASKS

RECORDS = [POPERecord(i, pathlib.Path(f'{i}.jpg'), f'Is there a thing {i}?',
                      'yes' if i % 2 else 'no') for i in range(5)]
CONFIG = runner.RunConfig(checkpoint='/ckpt/tiny', task='pope', split='random', data='/data',
                          images='', prompt='question', template='vicuna_v0',
                          generation={'max_new_tokens': 20, 'num_beams': 1})


class Recorder:
  """Answers 'Yes.' to odd-numbered questions and 'No.' to others, and records calls."""

  def __init__(self, fail_after: int | None = None):
    self.calls: list[list[str]] = []
    self.fail_after = fail_after

  def __call__(self, images, messages):
    if self.fail_after is not None and len(self.calls) == self.fail_after:
      raise KeyboardInterrupt  # a kill mid-run
    self.calls.append([p.name for p in images])
    return ['Yes.' if int(p.stem) % 2 else 'No.' for p in images]


def run(out_dir: pathlib.Path, answer, config=CONFIG):
  return runner.run(TASKS['pope'], RECORDS, answer, config, batch_size=2, out_dir=out_dir)


def test_writes_predictions_results_and_markdown(tmp_path):
  results = run(tmp_path, Recorder())
  rows = [json.loads(line) for line in (tmp_path / 'predictions.jsonl').read_text().splitlines()]
  assert rows[1] == {'sample_id': 1, 'prompt': 'Is there a thing 1?', 'prediction': 'Yes.'}
  assert results['metrics']['accuracy'] == 100.0
  saved = json.loads((tmp_path / 'results.json').read_text())
  assert saved == results
  assert saved['config']['batch_size'] == 2 and saved['checkpoint'] == '/ckpt/tiny'
  assert (tmp_path / 'results.md').read_text().splitlines() == [
      '| checkpoint | task | split | prompt | samples | accuracy | precision | recall | f1 '
      '| yes_ratio |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      '| tiny | pope | random | question | 5 | 100.00 | 100.00 | 100.00 | 100.00 | 40.00 |']


def test_resume_skips_predicted_samples(tmp_path):
  with pytest.raises(KeyboardInterrupt):
    run(tmp_path, Recorder(fail_after=1))
  again = Recorder()
  results = run(tmp_path, again)
  assert again.calls == [['2.jpg', '3.jpg'], ['4.jpg']]
  assert results['metrics']['accuracy'] == 100.0
  assert len((tmp_path / 'predictions.jsonl').read_text().splitlines()) == 5


def test_resume_drops_a_half_written_line(tmp_path):
  path = tmp_path / 'predictions.jsonl'
  path.write_text('{"sample_id": 0, "prompt": "p", "prediction": "No."}\n'
                  '{"sample_id": 1, "prompt": "p", "predi')
  again = Recorder()
  run(tmp_path, again)
  assert again.calls == [['1.jpg', '2.jpg'], ['3.jpg', '4.jpg']]
  assert [json.loads(line)['sample_id'] for line in path.read_text().splitlines()] == [
      0, 1, 2, 3, 4]


def test_damaged_predictions_are_an_error(tmp_path):
  (tmp_path / 'predictions.jsonl').write_text('not json\n{"sample_id": 1, "prediction": "x"}\n')
  with pytest.raises(ValueError, match='line 1 is not a prediction'):
    run(tmp_path, Recorder())


def test_resume_with_another_config_is_an_error(tmp_path):
  run(tmp_path, Recorder())
  other = runner.RunConfig(**{**CONFIG.__dict__, 'prompt': 'llava'})
  with pytest.raises(ValueError, match=r"'prompt': \('question', 'llava'\)"):
    run(tmp_path, Recorder(), other)
