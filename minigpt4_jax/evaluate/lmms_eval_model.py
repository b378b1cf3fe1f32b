"""lmms-eval model ``minigpt4_jax``: run lmms-eval's tasks on our checkpoints.

With lmms-eval installed beside this package (its ``lmms_eval.models`` entry point,
declared in setup.py, registers the name):

  python -m lmms_eval --model minigpt4_jax \\
      --model_args pretrained=ckpt/minigpt4_13b,batch_size=8 --tasks pope,gqa

``pretrained`` is a converted checkpoint or a training workdir; ``template`` picks a
conversation template (default: the architecture's). Requests follow lmms-eval's
``Instance.args``: ``(context, gen_kwargs, doc_to_visual, doc_id, task, split)`` for
generation and ``(context, continuation or doc_to_target, doc_to_visual, doc_id,
task, split)`` for log-likelihoods; documents come from ``self.task_dict``, which
lmms-eval's evaluator fills. This module imports lmms-eval: only lmms-eval imports it.
"""

from __future__ import annotations

import json
from typing import Any

from lmms_eval.api.model import lmms

from minigpt4_jax.evaluate.harness_model import HarnessModel

MODEL_NAME = 'minigpt4_jax'
# lmms-eval marks where images go with this tag; MiniGPT-4's template places the image.
IMAGE_TAG = '<image>'


def manifest():
  """The entry point's payload: lmms-eval's manifest of this model."""
  from lmms_eval.models.registry_v2 import ModelManifest
  return ModelManifest(model_id=MODEL_NAME, simple_class_path=f'{__name__}.MiniGPT4JAX')


class MiniGPT4JAX(lmms):
  """MiniGPT-4 (JAX) for lmms-eval: greedy/beam/sampled generation and log-likelihoods.

  Args:
    pretrained: converted checkpoint or training workdir.
    template: conversation template; batch_size: rows per generation call.
    device, max_batch_size: passed by lmms-eval's CLI; JAX places the model itself.
  """

  def __init__(self, pretrained: str, template: str | None = None, batch_size: int | str = 1,
               device: str | None = None, max_batch_size: int | None = None) -> None:
    super().__init__()
    del device, max_batch_size
    self.batch_size_per_gpu = int(batch_size)
    self.model = HarnessModel.load(pretrained, template, self.batch_size_per_gpu)

  def _image(self, doc_to_visual, doc_id: int, task: str, split: str):
    """The request's one image (MiniGPT-4 sees a single image per conversation)."""
    visuals = doc_to_visual(self.task_dict[task][split][doc_id])
    if len(visuals) != 1:
      raise ValueError(f'{MODEL_NAME}: task {task!r} doc {doc_id} has {len(visuals)} images; '
                       'MiniGPT-4 takes exactly one')
    return visuals[0]

  def generate_until(self, requests) -> list[str]:
    """Answers, batched over requests that share their generation settings."""
    answers: dict[int, str] = {}
    groups: dict[str, list[int]] = {}
    for i, request in enumerate(requests):
      groups.setdefault(json.dumps(request.args[1], sort_keys=True, default=str), []).append(i)
    for indices in groups.values():
      kwargs: dict[str, Any] = dict(requests[indices[0]].args[1])
      until = kwargs.get('until', [])
      settings = dict(max_new_tokens=int(kwargs.get('max_new_tokens', 128)),
                      num_beams=int(kwargs.get('num_beams', 1)),
                      temperature=float(kwargs.get('temperature', 0.0)),
                      top_p=float(kwargs.get('top_p') or 1.0),
                      until=[until] if isinstance(until, str) else list(until))
      images, messages = [], []
      for i in indices:
        context, _, doc_to_visual, doc_id, task, split = requests[i].args
        images.append(self._image(doc_to_visual, doc_id, task, split))
        messages.append(context.replace(IMAGE_TAG, '').strip())
      for i, answer in zip(indices, self.model.generate(images, messages, **settings)):
        answers[i] = answer
    return [answers[i] for i in range(len(requests))]

  def loglikelihood(self, requests) -> list[tuple[float, bool]]:
    """(log p(continuation | image, context), is greedy) per request."""
    results = []
    for context, target, doc_to_visual, doc_id, task, split in (r.args for r in requests):
      doc = self.task_dict[task][split][doc_id]
      continuation = target if isinstance(target, str) else target(doc)
      results.append(self.model.loglikelihood(self._image(doc_to_visual, doc_id, task, split),
                                              context.replace(IMAGE_TAG, '').strip(),
                                              continuation))
    return results

  def generate_until_multi_round(self, requests) -> list[str]:
    raise NotImplementedError(f'{MODEL_NAME} answers single-round tasks; multi-round '
                              'tasks are not supported yet')
