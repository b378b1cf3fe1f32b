"""What an entry point of the ``lmms_eval.models`` group returns."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelManifest:
  model_id: str
  simple_class_path: str | None = None
  chat_class_path: str | None = None
  aliases: tuple[str, ...] = ()
