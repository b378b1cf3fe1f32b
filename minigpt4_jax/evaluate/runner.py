"""Running a benchmark: predictions to a resumable JSONL file, then the scores.

  OUT/run_config.json    what the predictions were made with (a resume must match)
  OUT/predictions.jsonl  {"sample_id", "prompt", "prediction"} per line, in the order made
  OUT/results.json       {"task", "split", "num_samples", "metrics", "config", "checkpoint", "date"}
  OUT/results.md         a Markdown table header and the row of this run

Predictions are appended and fsynced batch by batch, so a killed run loses at most
one batch; rerunning skips every sample already predicted (a half-written last line
is dropped).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
from typing import Any, Callable, Hashable, Sequence

from tqdm import tqdm

from minigpt4_jax.evaluate.readers import Record
from minigpt4_jax.evaluate.tasks import Scores, Task, human_message

# (image paths, human messages) -> answers
AnswerFn = Callable[[Sequence[pathlib.Path], Sequence[str]], list[str]]
PREDICTIONS = 'predictions.jsonl'
RUN_CONFIG = 'run_config.json'


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """What predictions depend on; a resumed run must match it field for field."""

  checkpoint: str
  task: str
  split: str
  data: str
  images: str
  prompt: str  # the preset's name
  template: str
  generation: dict[str, Any]  # GenerationConfig's fields


def read_predictions(path: pathlib.Path) -> dict[Hashable, str]:
  """sample_id -> prediction. A last line without its newline was cut short by a kill:
  it is removed from the file, so appending continues cleanly (that sample is redone)."""
  if not path.exists():
    return {}
  complete, newline, partial = path.read_bytes().rpartition(b'\n')
  if partial:
    with open(path, 'r+b') as f:
      f.truncate(len(complete) + len(newline))
  done = {}
  for n, line in enumerate(complete.split(b'\n') if newline else [], 1):
    try:
      row = json.loads(line)
      done[row['sample_id']] = row['prediction']
    except (json.JSONDecodeError, TypeError, KeyError):
      raise ValueError(f'{path}: line {n} is not a prediction; not resuming from a damaged '
                       'file') from None
  return done


def check_run_config(out_dir: pathlib.Path, config: RunConfig) -> None:
  """Writes ``config`` for a new run; for a resumed one, it must be the same."""
  path = out_dir / RUN_CONFIG
  now = dataclasses.asdict(config)
  if not path.exists():
    path.write_text(json.dumps(now, indent=2) + '\n', encoding='utf-8')
    return
  before = json.loads(path.read_text(encoding='utf-8'))
  changed = {k: (before.get(k), now.get(k)) for k in before.keys() | now.keys()
             if before.get(k) != now.get(k)}
  if changed:
    raise ValueError(f'{out_dir} holds predictions made differently ({changed}, as '
                     '(then, now)); use another --out or delete it')


def predict(records: Sequence[Record], answer: AnswerFn, preset: str, batch_size: int,
            out_dir: pathlib.Path) -> dict[Hashable, str]:
  """Predictions for every record, reusing those already in ``out_dir``."""
  path = out_dir / PREDICTIONS
  done = read_predictions(path)
  todo = [r for r in records if r.sample_id not in done]
  with open(path, 'a', encoding='utf-8') as f, tqdm(total=len(records), unit='sample',
                                                    initial=len(records) - len(todo)) as bar:
    for start in range(0, len(todo), batch_size):
      batch = todo[start:start + batch_size]
      messages = [human_message(r, preset) for r in batch]
      answers = answer([r.image_path for r in batch], messages)
      for record, message, prediction in zip(batch, messages, answers):
        f.write(json.dumps({'sample_id': record.sample_id, 'prompt': message,
                            'prediction': prediction}) + '\n')
        done[record.sample_id] = prediction
      f.flush()
      os.fsync(f.fileno())
      bar.update(len(batch))
  return done


def markdown(config: RunConfig, num_samples: int, metrics: Scores) -> str:
  """A header line, its separator and this run's row."""
  columns = ['checkpoint', 'task', 'split', 'prompt', 'samples', *metrics]
  cells = [pathlib.Path(config.checkpoint).name, config.task, config.split, config.prompt,
           str(num_samples),
           *(f'{v:.2f}' if isinstance(v, float) else str(v) for v in metrics.values())]
  return '\n'.join('| ' + ' | '.join(row) + ' |'
                   for row in (columns, ['---'] * len(columns), cells)) + '\n'


def run(task: Task, records: Sequence[Record], answer: AnswerFn, config: RunConfig, *,
        batch_size: int, out_dir: pathlib.Path) -> dict[str, Any]:
  """Predicts (resuming), scores, writes results.json and results.md; returns the results."""
  out_dir.mkdir(parents=True, exist_ok=True)
  check_run_config(out_dir, config)
  predictions = predict(records, answer, config.prompt, batch_size, out_dir)
  metrics = task.score(records, predictions)
  results = {'task': task.name, 'split': config.split, 'num_samples': len(records),
             'metrics': metrics, 'config': {**dataclasses.asdict(config), 'batch_size': batch_size},
             'checkpoint': config.checkpoint,
             'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}
  (out_dir / 'results.json').write_text(json.dumps(results, indent=2) + '\n', encoding='utf-8')
  (out_dir / 'results.md').write_text(markdown(config, len(records), metrics), encoding='utf-8')
  return results
