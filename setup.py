"""minigpt4-jax: MiniGPT-4 in JAX/Flax NNX."""

from setuptools import find_packages, setup

setup(
    name='minigpt4-jax',
    version='0.1.0',
    description='MiniGPT-4 (EVA-ViT-g + Q-Former + LLaMA) in JAX/Flax NNX: convert, train, chat.',
    python_requires='>=3.10',
    packages=find_packages(include=['minigpt4_jax*', 'launch*', 'configs*']),
    package_data={'minigpt4_jax': ['assets/**/*', 'data/demo/**/*', 'evaluate/metrics/*.txt']},
    include_package_data=True,
    install_requires=[
        'jax>=0.10.2,<0.11',
        'flax>=0.12.8,<0.13',
        'optax>=0.2.8',
        'orbax-checkpoint>=0.12.8,<0.13',
        'transformers>=5.20,<6',
        'tensorflow-datasets>=4.9.10',
        'grain>=0.2.18,<0.3',
        'array_record>=0.8',
        'importlib_resources',  # tensorflow-datasets needs it when TensorFlow is absent
        'ml-collections>=1.1',
        'absl-py',
        'filelock',  # the compilation cache's lock (minigpt4_jax/compile_cache.py)
        'numpy',
        'pillow',
        'qwix>=0.1.8',  # --quantize int8 (models/quantize.py)
        'safetensors',
        'sentencepiece',
        'tensorboardX',
        'tqdm',
    ],
    extras_require={
        # PyTorch only reads/writes .pth files and serves as the test oracle. From the public
        # index torch==2.13.0 on Linux is the CUDA build (with its nvidia-* wheels); install the
        # CPU build first from https://download.pytorch.org/whl/cpu to keep it small (README).
        'torch': ['torch==2.13.0'],
        'demo': ['gradio==6.31.0'],  # launch.demo
        'bench': ['torch==2.13.0', 'matplotlib'],  # launch.bench (PyTorch reference, chart)
        'eval': ['pycocoevalcap'],  # launch.evaluate captioning metrics (needs Java)
        # launch.plan's TPU compiler (libtpu 0.0.42.*, jax[tpu]'s own pin); install it in
        # its own venv: with libtpu present every jax start probes for a TPU.
        'tpu': ['jax[tpu]==0.10.2'],
        'tensorboard': ['tensorboard'],  # tensorboard --logdir runs (the event files' viewer)
        'test': ['pytest', 'torch==2.13.0', 'peft>=0.21',  # peft: MiniGPT-v2's LoRA oracle
                 'gradio==6.31.0', 'matplotlib', 'pycocoevalcap',
                 'openai',  # tests/serve: the real OpenAI client against launch.serve
                 'pytest-xdist'],  # the README's test command runs two workers (-n 2)
    },
    # lmms-eval finds its models through this group (``--model minigpt4_jax``).
    entry_points={'lmms_eval.models': [
        'minigpt4_jax = minigpt4_jax.evaluate.lmms_eval_model:manifest']},
)
