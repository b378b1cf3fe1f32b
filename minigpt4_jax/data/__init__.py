"""Input pipelines: webdataset shards, cc_sbu_align folders and TFDS, on grain."""

from __future__ import annotations

import dataclasses
import pathlib

_DEMO = pathlib.Path(__file__).resolve().parent / 'demo'


@dataclasses.dataclass(frozen=True)
class DemoPaths:
  shards: str     # brace pattern of the webdataset shards (stage-1 captions)
  align_dir: str  # cc_sbu_align folder (stage-2 descriptions)


def demo_paths() -> DemoPaths:
  """The bundled demo set, inside the installed package."""
  return DemoPaths(shards=str(_DEMO / 'shards' / '{00000..00003}.tar'),
                   align_dir=str(_DEMO / 'cc_sbu_align'))
