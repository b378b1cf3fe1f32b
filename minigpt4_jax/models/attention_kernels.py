"""Which attention kernel runs: XLA's einsum + softmax, cuDNN flash attention, or the
Pallas splash kernel, chosen from the backend, dtype and shapes alone.

``jax.nn.dot_product_attention(implementation=None)`` is XLA on every backend in jax
0.10.2 (``jax/_src/nn/functions.py``: "defaults to XLA for now"), materialising the
[B, N, T, S] logits: at LLaVA-1.5's 2048 tokens, 8 GiB of f32 per layer for 16 rows.
The fused kernels never hold them:

- GPU: ``implementation='cudnn'`` where cuDNN's flash path takes the inputs
  (``jax/_src/cudnn/fused_attention_stablehlo.py``, ``check_layout`` and
  ``check_is_flash_attention``: fp16/bf16, head dim a multiple of 8 and at most 128
  before Hopper; with a bias or mask in training, even T and S). The boolean mask
  reaches it as a [B, 1, T, S] additive bias, which is not the logits (no N, input
  dtype).
- TPU: ``jax.experimental.pallas.ops.tpu.splash_attention`` for causal
  self-attention of at least ``SPLASH_MIN_TOKENS`` tokens (as MaxText's
  ``layers/attention_op.py`` calls it): a static causal mask with segment ids for
  padding (1 = real token, 0 = padding), K dividing N, one kernel per row under
  ``vmap``, split over the mesh's batch and head axes with ``shard_map``.
- Anything else, and every CPU: XLA, the numbers of the parity tests.

``'auto'`` picks; a model's ``attention_impl`` forces one (``set_implementation``).
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental.pallas.ops.tpu import splash_attention
from jax.sharding import PartitionSpec

from minigpt4_jax import sharding

Requested = Literal['auto', 'xla', 'cudnn', 'splash']
Kernel = Literal['xla', 'cudnn', 'splash']
IMPLEMENTATIONS: tuple[str, ...] = ('auto', 'xla', 'cudnn', 'splash')

# Below this many tokens the logits are small and XLA's fused softmax is as fast.
SPLASH_MIN_TOKENS = 512
SPLASH_BLOCKS = (512, 256, 128)  # the kernel's tiles; the sequence must divide by one
CUDNN_DTYPES = (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
CUDNN_MAX_HEAD_DIM = 128  # 256 on Hopper and later; 128 holds on every GPU cuDNN runs


def choose(requested: Requested, backend: str, dtype: jnp.dtype, query_len: int, key_len: int,
           head_dim: int, *, masked: bool, causal_self: bool) -> Kernel:
  """The kernel for one attention call.

  Args:
    requested: 'auto', or the kernel a user forces ('splash' off TPU runs in Pallas'
      interpreter: tests only).
    backend: ``jax.default_backend()``: 'cpu', 'gpu' or 'tpu'.
    dtype: the queries' dtype.
    query_len, key_len: T and S.
    head_dim: H.
    masked: a boolean mask is applied (cuDNN turns it into a bias).
    causal_self: the mask is causal self-attention over the T tokens plus key
      padding (what splash expresses with a causal mask and segment ids).

  Raises:
    ValueError: ``requested`` is not a name in ``IMPLEMENTATIONS``, or names a kernel
      these inputs cannot use.
  """
  if requested not in IMPLEMENTATIONS:
    raise ValueError(f'model.attention={requested!r}; expected one of {IMPLEMENTATIONS}')
  cudnn_fits = (backend == 'gpu' and jnp.dtype(dtype) in CUDNN_DTYPES
                and head_dim % 8 == 0 and head_dim <= CUDNN_MAX_HEAD_DIM
                and not (masked and (query_len % 2 or key_len % 2)))
  splash_fits = causal_self and query_len == key_len and _splash_block(query_len) is not None
  if requested == 'cudnn' and not cudnn_fits:
    raise ValueError(f'model.attention=cudnn: needs a GPU, bf16/fp16, head dim a multiple of 8 '
                     f'<= {CUDNN_MAX_HEAD_DIM} and, with a mask, even lengths; got {backend}, '
                     f'{jnp.dtype(dtype)}, H={head_dim}, T={query_len}, S={key_len}')
  if requested == 'splash' and not splash_fits:
    raise ValueError(f'model.attention=splash: needs causal self-attention over a multiple '
                     f'of {SPLASH_BLOCKS[-1]} tokens; got T={query_len}, S={key_len}')
  if requested != 'auto':
    return requested
  if cudnn_fits:
    return 'cudnn'
  if backend == 'tpu' and splash_fits and query_len >= SPLASH_MIN_TOKENS:
    return 'splash'
  return 'xla'


def target_backend() -> str:
  """The platform the program is built for: the context mesh's devices where one is set
  (``launch.plan`` compiles for TPU devices from a CPU host), else the default backend."""
  device = jax.sharding.get_abstract_mesh().abstract_device
  return device.platform if device is not None else jax.default_backend()


def _splash_block(tokens: int) -> int | None:
  return next((b for b in SPLASH_BLOCKS if tokens % b == 0), None)


def attention(q_btnh: jax.Array, k_bskh: jax.Array, v_bskh: jax.Array, *,
              mask_bts: jax.Array | None, scale: float | None, requested: Requested = 'auto',
              causal_valid_bt: jax.Array | None = None) -> jax.Array:
  """Softmax attention by the kernel ``choose`` picks; see ``layers.attention``.

  ``causal_valid_bt`` (bool[B, T]) says that ``mask_bts`` is causal self-attention
  over T tokens whose keys are valid where it is True (``llama.causal_mask``); splash
  runs only then. Rows of padding queries may differ between kernels (they are never
  used): XLA lets them see earlier real tokens, splash only earlier padding.
  """
  _, t, _, h = q_btnh.shape
  backend = target_backend()
  kernel = choose(requested, backend, q_btnh.dtype, t, k_bskh.shape[1], h,
                  masked=mask_bts is not None, causal_self=causal_valid_bt is not None)
  if kernel == 'splash':
    scale = 1.0 / np.sqrt(h) if scale is None else scale  # jax.nn's default
    return splash(q_btnh, k_bskh, v_bskh, causal_valid_bt, scale, interpret=backend != 'tpu')
  mask = None if mask_bts is None else mask_bts[:, None, :, :]
  return jax.nn.dot_product_attention(q_btnh, k_bskh, v_bskh, mask=mask, scale=scale,
                                      implementation=kernel)


def splash(q_btnh: jax.Array, k_bskh: jax.Array, v_bskh: jax.Array, valid_bt: jax.Array,
           scale: float, *, interpret: bool = False) -> jax.Array:
  """Causal self-attention with key padding by the Pallas splash kernel.

  Under a context mesh (``jax.set_mesh``) the kernel runs per shard: rows over the
  mesh's batch axes, heads over ``tensor`` (a Pallas call is not partitioned by
  GSPMD, which would otherwise gather every row onto each device).
  """
  mesh = jax.sharding.get_abstract_mesh()
  batch_axes = tuple(a for a in sharding.BATCH_AXES if a in mesh.axis_names)
  head_axis = 'tensor' if 'tensor' in mesh.axis_names else None
  run = functools.partial(_splash_rows, scale=scale, interpret=interpret)
  if mesh.empty:
    return run(q_btnh, k_bskh, v_bskh, valid_bt)
  heads = PartitionSpec(batch_axes, None, head_axis, None)
  rows = PartitionSpec(batch_axes, None)
  return jax.shard_map(run, mesh=mesh, in_specs=(heads, heads, heads, rows), out_specs=heads,
                       check_vma=False)(q_btnh, k_bskh, v_bskh, valid_bt)


def _splash_rows(q_btnh, k_bskh, v_bskh, valid_bt, *, scale: float,
                 interpret: bool) -> jax.Array:
  """One device's rows and heads: [B, T, N, H] in and out; the kernel takes [N, T, H]."""
  _, t, n, _ = q_btnh.shape
  kernel = _splash_kernel(t, n, interpret)
  segments = valid_bt.astype(jnp.int32)
  to_heads_first = lambda x: jnp.swapaxes(x, 1, 2)
  # The kernel does not scale the logits: scaling q first is what MaxText does.
  q_bnth = to_heads_first(q_btnh * jnp.asarray(scale, q_btnh.dtype))
  out_bnth = jax.vmap(kernel)(q_bnth, to_heads_first(k_bskh), to_heads_first(v_bskh),
                              segment_ids=splash_attention.SegmentIds(q=segments, kv=segments))
  return to_heads_first(out_bnth).astype(q_btnh.dtype)


def _splash_kernel(tokens: int, heads: int, interpret: bool):
  """The causal kernel for ``heads`` local heads of ``tokens``. Built inside each trace:
  it holds its block masks as arrays, so a cached one would leak a tracer."""
  block = _splash_block(tokens)
  mask = splash_attention.MultiHeadMask(
      [splash_attention.CausalMask((tokens, tokens))] * heads)
  # One backward kernel for dq, dk and dv (MaxText's default, sa_use_fused_bwd_kernel).
  sizes = splash_attention.BlockSizes(
      block_q=block, block_kv=block, block_kv_compute=block,
      block_q_dkv=block, block_kv_dkv=block, block_kv_dkv_compute=block,
      use_fused_bwd_kernel=True)
  return splash_attention.make_splash_mha(mask, block_sizes=sizes, head_shards=1,
                                          q_seq_shards=1, interpret=interpret)


def set_implementation(model: nnx.Module, requested: Requested) -> None:
  """Forces (or, with 'auto', frees) the kernel of every attention in ``model``: each
  module that calls ``layers.attention`` holds its choice as ``attention_impl``, a
  static attribute, so jit specialises on it."""
  if requested not in IMPLEMENTATIONS:
    raise ValueError(f'model.attention={requested!r}; expected one of {IMPLEMENTATIONS}')
  for _, module in nnx.iter_modules(model):
    if hasattr(module, 'attention_impl'):
      module.attention_impl = requested
