"""Input pipelines: webdataset shards, cc_sbu_align folders, LLaVA conversation JSON and
TFDS, on grain. The bundled demo set's paths are in ``minigpt4_jax.bundled``."""
