"""lmms-eval's model interface: three abstract request handlers and ``task_dict``."""

import abc


class lmms(abc.ABC):  # noqa: N801 (lmms-eval's name)

  def __init__(self) -> None:
    self.task_dict = {}  # lmms-eval's evaluator fills {task: {split: documents}}

  @abc.abstractmethod
  def loglikelihood(self, requests):
    ...

  @abc.abstractmethod
  def generate_until(self, requests):
    ...

  @abc.abstractmethod
  def generate_until_multi_round(self, requests):
    ...

  @classmethod
  def create_from_arg_string(cls, arg_string, additional_config=None):
    """'a=1,b=x' plus the CLI's extra settings (those that are not None)."""
    args = dict(kv.split('=', 1) for kv in arg_string.split(',') if kv)
    args.update({k: v for k, v in (additional_config or {}).items() if v is not None})
    return cls(**args)
