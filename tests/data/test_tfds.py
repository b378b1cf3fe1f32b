"""TFDS ArrayRecord round trip, without TensorFlow."""

from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.data.pipeline import make_train_iterator
from minigpt4_jax.data.sources import AlignFolderSource
from minigpt4_jax.data.tfds_builder import NAME, TfdsSource, build
from tests.data.test_pipeline import _cfg


def test_align_folder_round_trips_through_array_record(tmp_path):
  source = AlignFolderSource(demo_paths().align_dir)
  build(source, str(tmp_path))
  assert list(tmp_path.glob(f'{NAME}/1.0.0/*.array_record*'))
  stored = TfdsSource(NAME, str(tmp_path))
  assert len(stored) == len(source)
  originals = {source[i]['where']: source[i] for i in range(len(source))}
  for i in range(len(stored)):  # TFDS reorders records when it writes them
    record = stored[i]
    original = originals[record['where']]
    assert record['image_bytes'] == original['image_bytes']
    assert record['text'] == original['text'] and record['error'] == ''
  batch = next(make_train_iterator(_cfg(kind='tfds', tfds_name=NAME, tfds_dir=str(tmp_path)),
                                   global_batch_size=4, seed=0))
  assert batch['image'].shape == (4, 224, 224, 3) and int(batch['skipped']) == 0
