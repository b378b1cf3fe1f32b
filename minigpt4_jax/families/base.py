"""What a model family is: the one object every "which family?" question is asked of.

A family (MiniGPT-4, LLaVA, MiniGPT-v2, ...) is one module in this package that
builds a ``Family`` and registers it (``registry.py``). It owns the architecture
presets, how its released files convert, its chat template, how its images are
preprocessed, which parameters its training stages train, and its decoding defaults.
Code elsewhere asks ``family_of(model.cfg)`` instead of testing names or types.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from minigpt4_jax.models.configs import ModelConfig


@dataclasses.dataclass(frozen=True)
class Family:
  """A model family.

  Attributes:
    name: the ``ModelConfig.family`` value of its models.
    title: how the family is shown to people (the demo's title).
    presets: architecture name -> ``ModelConfig`` (random init, tests, benchmarks).
    chat_template: the text template its chat, demo and evaluation render prompts
      with, for a given architecture (MiniGPT-4's depends on the LLM it was trained with).
    image_transform: how an image becomes the tower's square input at inference
      (``minigpt4_jax.data.transforms.IMAGE_TRANSFORMS``).
    trainable: stage name -> regex patterns over parameter paths that train.
    chat_defaults: ``GenerationConfig`` fields its chat and demo use by default.
    add_convert_arguments: adds the family's ``launch.convert`` flags to an argparse group.
    convert: (parsed args, out dir, dtype, seed, overwrite) -> the written ``ModelConfig``.
    export_projector: (projector arrays by path, out path) -> writes the family's own file.
    export_trained: (checkpoint or workdir, out path) -> writes the family's own file,
      where that holds more than the projector (MiniGPT-v2's LoRA adapters); used
      instead of ``export_projector``.
    tasks: the task identifiers its questions can start with (MiniGPT-v2's [refer],
      [grounding], ...), whose answers hold boxes as text (``minigpt4_jax.grounding``);
      () for a family without them.
    task_prompt: (task or None, question) -> the question as the model is asked it
      with that task's identifier (None: unchanged); set where ``tasks`` is.
  """

  name: str
  title: str
  presets: Mapping[str, ModelConfig]
  chat_template: Callable[[ModelConfig], str]
  image_transform: str
  trainable: Mapping[str, tuple[str, ...]]
  chat_defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  add_convert_arguments: Callable[[Any], None] | None = None
  convert: Callable[..., ModelConfig] | None = None
  export_projector: Callable[[Mapping[str, Any], Any], None] | None = None
  export_trained: Callable[[Any, Any], None] | None = None
  tasks: tuple[str, ...] = ()
  task_prompt: Callable[[str | None, str], str] | None = None

  def __post_init__(self):
    for name, cfg in self.presets.items():
      if cfg.family != self.name:
        raise ValueError(f'family {self.name!r}: preset {name!r} has family {cfg.family!r}')
    if bool(self.tasks) != (self.task_prompt is not None):
      raise ValueError(f'family {self.name!r}: tasks and task_prompt go together')

  def stage_trainable(self, stage: str) -> tuple[str, ...]:
    try:
      return self.trainable[stage]
    except KeyError:
      raise ValueError(f'family {self.name!r} has no training stage {stage!r}; known: '
                       f'{sorted(self.trainable)}') from None
