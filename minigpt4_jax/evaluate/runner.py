"""Running a benchmark: predictions to a resumable JSONL file, then the scores.

  OUT/run_config.json    what the predictions were made with (a resume must match)
  OUT/predictions.jsonl  {"sample_id", "prompt", "prediction"} per line, in the order made
  OUT/results.json       {"task", "split", "num_samples", "metrics", "config", "checkpoint", "date"}
  OUT/results.md         a Markdown table header and the row of this run

Predictions are appended and fsynced batch by batch, so a killed run loses at most
one batch; rerunning skips every sample already predicted (a half-written last line
is dropped). Split over processes (``share``), each appends to its own
OUT/predictions.process-K-of-N.jsonl and resumes it; process 0 then writes the
merged predictions.jsonl (in record order) and the scores.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib
from typing import Any, Callable, Hashable, Sequence

from tqdm import tqdm

from minigpt4_jax import resumable
from minigpt4_jax.atomic import write_text_atomically
from minigpt4_jax.distributed import WorkShare
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
  """sample_id -> prediction of the samples a killed or finished run predicted."""
  rows = resumable.read_log(path, 'a prediction')
  for n, row in enumerate(rows, 1):
    if not isinstance(row, dict) or not {'sample_id', 'prediction'} <= row.keys():
      raise ValueError(f'{path}: line {n} is not a prediction; not resuming from a damaged file')
  return {row['sample_id']: row['prediction'] for row in rows}


def predict(records: Sequence[Record], answer: AnswerFn, preset: str, batch_size: int,
            out_dir: pathlib.Path, name: str = PREDICTIONS) -> dict[Hashable, str]:
  """Predictions for every record, reusing those already in ``out_dir / name``."""
  path = out_dir / name
  done = read_predictions(path)
  todo = [r for r in records if r.sample_id not in done]
  with tqdm(total=len(records), unit='sample', initial=len(records) - len(todo)) as bar:
    for start in range(0, len(todo), batch_size):
      batch = todo[start:start + batch_size]
      messages = [human_message(r, preset) for r in batch]
      answers = answer([r.image_path for r in batch], messages)
      resumable.append_log(path, ({'sample_id': r.sample_id, 'prompt': m, 'prediction': a}
                                  for r, m, a in zip(batch, messages, answers)))
      done.update((r.sample_id, a) for r, a in zip(batch, answers))
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


def merge_predictions(out_dir: pathlib.Path, records: Sequence[Record],
                      share: WorkShare) -> dict[Hashable, str]:
  """Every process's predictions, written as one predictions.jsonl in record order."""
  prompts, predictions = {}, {}
  for name in share.file_names(PREDICTIONS):
    for row in resumable.read_log(out_dir / name, 'a prediction'):
      prompts[row['sample_id']], predictions[row['sample_id']] = row['prompt'], row['prediction']
  write_text_atomically(out_dir / PREDICTIONS, ''.join(
      json.dumps({'sample_id': r.sample_id, 'prompt': prompts[r.sample_id],
                  'prediction': predictions[r.sample_id]}, ensure_ascii=False) + '\n'
      for r in records))
  return predictions


def run(task: Task, records: Sequence[Record], answer: AnswerFn, config: RunConfig, *,
        batch_size: int, out_dir: pathlib.Path,
        share: WorkShare = WorkShare()) -> dict[str, Any] | None:
  """Predicts (resuming), scores, writes results.json and results.md; returns the
  results (None on processes other than 0, which only predict their share)."""
  out_dir.mkdir(parents=True, exist_ok=True)
  resumable.require_same_settings(out_dir / RUN_CONFIG, dataclasses.asdict(config),
                                  'predictions')
  predictions = predict(share.take(records), answer, config.prompt, batch_size, out_dir,
                        share.file_name(PREDICTIONS))
  share.wait_for_all(f'predictions {out_dir}')
  if not share.is_main:
    return None
  if share.count > 1:
    predictions = merge_predictions(out_dir, records, share)
  metrics = task.score(records, predictions)
  results = {'task': task.name, 'split': config.split, 'num_samples': len(records),
             'metrics': metrics, 'config': {**dataclasses.asdict(config), 'batch_size': batch_size},
             'checkpoint': config.checkpoint,
             'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}
  (out_dir / 'results.json').write_text(json.dumps(results, indent=2) + '\n', encoding='utf-8')
  (out_dir / 'results.md').write_text(markdown(config, len(records), metrics), encoding='utf-8')
  return results
