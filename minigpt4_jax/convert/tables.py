"""Parameter-mapping tables: source checkpoint key -> our parameter path(s) + a transform.

One table per tower layout (EVA, Q-Former, BLIP-2, LLaMA, CLIP); each family module
(``minigpt4_jax.families``) adds its own projector and composite layouts. A rule's regex must match the whole (prefix-stripped)
key; its groups fill the ``{0}``, ``{1}`` slots of the target paths. A transform
takes the source array and returns one array per target. Keys matched by a layout's
``unused`` patterns are known and deliberately dropped (the Q-Former's text side,
buffers); anything matched by neither is an error in the converter.

Our paths are ``/``-joined nnx state paths, e.g. ``vision/blocks/3/attn/qkv/kernel``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable

import numpy as np

Transform = Callable[[np.ndarray], tuple[np.ndarray, ...]]


def keep(x: np.ndarray) -> tuple[np.ndarray, ...]:
  return (x,)


def linear_weight(x: np.ndarray) -> tuple[np.ndarray, ...]:
  """torch Linear weight float[out, in] -> our kernel float[in, out]."""
  return (np.ascontiguousarray(x.T),)


def conv_weight(x: np.ndarray) -> tuple[np.ndarray, ...]:
  """torch Conv2d weight float[O, I, kh, kw] -> our kernel float[kh, kw, I, O]."""
  return (np.ascontiguousarray(x.transpose(2, 3, 1, 0)),)


def split_fused_qkv_bias(x: np.ndarray) -> tuple[np.ndarray, ...]:
  """Newer transformers store EVA's bias fused as cat(q_bias, 0, v_bias)."""
  q, k, v = np.split(x, 3)
  if np.any(k != 0):
    raise ValueError(
        'fused qkv.bias has a non-zero key third; EVA attention has no key bias'
    )
  return (q, v)


@dataclasses.dataclass(frozen=True)
class Rule:
  pattern: str
  targets: tuple[str, ...]
  transform: Transform = keep

  def __post_init__(self):
    object.__setattr__(self, '_regex', re.compile(self.pattern))

  def apply(self, key: str, value: np.ndarray) -> dict[str, np.ndarray] | None:
    match = self._regex.fullmatch(key)
    if match is None:
      return None
    arrays = self.transform(value)
    return {t.format(*match.groups()): a for t, a in zip(self.targets, arrays)}


def rule(pattern: str, *targets: str, transform: Transform = keep) -> Rule:
  return Rule(pattern, targets, transform)


@dataclasses.dataclass(frozen=True)
class Layout:
  """A source checkpoint format: its rules and its known-unused key patterns."""

  name: str
  rules: tuple[Rule, ...]
  unused: tuple[str, ...] = ()

  def map_key(self, key: str, value: np.ndarray) -> dict[str, np.ndarray] | None:
    """Our path(s) for one source tensor; {} if known-unused; None if unknown.

    Unused patterns win over rules: a converter may declare otherwise-mappable keys
    unused (EVA-CLIP's last block, which MiniGPT-4 does not build).
    """
    if self.is_unused(key):
      return {}
    for r in self.rules:
      out = r.apply(key, value)
      if out is not None:
        return out
    return None

  def is_unused(self, key: str) -> bool:
    """Known and deliberately dropped: a reader may skip the tensor's data."""
    return any(re.fullmatch(p, key) for p in self.unused)

  def also_unused(self, *patterns: str) -> 'Layout':
    """The same layout with more keys declared unused (each caller says why)."""
    return dataclasses.replace(self, unused=self.unused + patterns)

  def prefixed(self, prefix: str) -> 'Layout':
    """The same layout for keys nested under ``prefix`` (``visual_encoder.`` in a
    LAVIS/MiniGPT-4 model state dict), so errors quote the keys as stored."""
    if not prefix:
      return self
    p = re.escape(prefix)
    return Layout(self.name, tuple(Rule(p + r.pattern, r.targets, r.transform) for r in self.rules),
                  tuple(p + u for u in self.unused))


# --- EVA ViT, LAVIS layout (eva_vit_g.pth, unprefixed) -----------------------------------
_V = 'vision/'
_VB = _V + 'blocks/{0}/'
EVA_LAVIS = Layout(
    'eva_lavis',
    rules=(
        rule(r'cls_token', _V + 'cls_token'),
        rule(r'pos_embed', _V + 'pos_embed'),
        rule(r'patch_embed\.proj\.weight', _V + 'patch_embed/kernel', transform=conv_weight),
        rule(r'patch_embed\.proj\.bias', _V + 'patch_embed/bias'),
        rule(r'blocks\.(\d+)\.norm1\.weight', _VB + 'norm1/scale'),
        rule(r'blocks\.(\d+)\.norm1\.bias', _VB + 'norm1/bias'),
        rule(r'blocks\.(\d+)\.norm2\.weight', _VB + 'norm2/scale'),
        rule(r'blocks\.(\d+)\.norm2\.bias', _VB + 'norm2/bias'),
        rule(r'blocks\.(\d+)\.attn\.qkv\.weight', _VB + 'attn/qkv/kernel', transform=linear_weight),
        rule(r'blocks\.(\d+)\.attn\.q_bias', _VB + 'attn/q_bias'),
        rule(r'blocks\.(\d+)\.attn\.v_bias', _VB + 'attn/v_bias'),
        rule(r'blocks\.(\d+)\.attn\.proj\.weight', _VB + 'attn/proj/kernel', transform=linear_weight),
        rule(r'blocks\.(\d+)\.attn\.proj\.bias', _VB + 'attn/proj/bias'),
        rule(r'blocks\.(\d+)\.mlp\.(fc[12])\.weight', _VB + 'mlp/{1}/kernel', transform=linear_weight),
        rule(r'blocks\.(\d+)\.mlp\.(fc[12])\.bias', _VB + 'mlp/{1}/bias'),
    ),
    # Heads of the full EVA-CLIP model that MiniGPT-4 never builds.
    unused=(r'(norm|fc_norm|head)\.(weight|bias)', r'blocks\.\d+\.attn\.relative_position_.*'),
)

# --- Q-Former, LAVIS BLIP-2 layout (blip2_pretrained_flant5xxl.pth['model']) -------------
_Q = 'qformer/'
_QL = _Q + 'layers/{0}/'
_ATTN_KINDS = {'attention': 'self_attn', 'crossattention': 'cross_attn'}


def _qformer_rules(layer_prefix: str, self_name: str) -> tuple[Rule, ...]:
  """Rules shared by LAVIS and transformers, which differ only in the attention name."""
  out = []
  for src, dst in _ATTN_KINDS.items():
    base = layer_prefix + rf'(\d+)\.{src}\.'
    tgt = _QL + dst + '/'
    out += [
        rule(base + self_name + r'\.(query|key|value)\.weight', tgt + '{1}/kernel', transform=linear_weight),
        rule(base + self_name + r'\.(query|key|value)\.bias', tgt + '{1}/bias'),
        rule(base + r'output\.dense\.weight', tgt + 'out/kernel', transform=linear_weight),
        rule(base + r'output\.dense\.bias', tgt + 'out/bias'),
        rule(base + r'output\.LayerNorm\.weight', tgt + 'norm/scale'),
        rule(base + r'output\.LayerNorm\.bias', tgt + 'norm/bias'),
    ]
  out += [
      rule(layer_prefix + r'(\d+)\.intermediate_query\.dense\.weight', _QL + 'ffn/fc1/kernel', transform=linear_weight),
      rule(layer_prefix + r'(\d+)\.intermediate_query\.dense\.bias', _QL + 'ffn/fc1/bias'),
      rule(layer_prefix + r'(\d+)\.output_query\.dense\.weight', _QL + 'ffn/fc2/kernel', transform=linear_weight),
      rule(layer_prefix + r'(\d+)\.output_query\.dense\.bias', _QL + 'ffn/fc2/bias'),
      rule(layer_prefix + r'(\d+)\.output_query\.LayerNorm\.weight', _QL + 'ffn/norm/scale'),
      rule(layer_prefix + r'(\d+)\.output_query\.LayerNorm\.bias', _QL + 'ffn/norm/bias'),
  ]
  return tuple(out)


QFORMER_LAVIS = Layout(
    'qformer_lavis',
    rules=(
        rule(r'query_tokens', _Q + 'query_tokens'),
        rule(r'ln_vision\.weight', 'ln_vision/scale'),
        rule(r'ln_vision\.bias', 'ln_vision/bias'),
        rule(r'Qformer\.bert\.embeddings\.LayerNorm\.weight', _Q + 'layernorm/scale'),
        rule(r'Qformer\.bert\.embeddings\.LayerNorm\.bias', _Q + 'layernorm/bias'),
    ) + _qformer_rules(r'Qformer\.bert\.encoder\.layer\.', 'self'),
    # BLIP-2's text side and heads, which the query path never reads; the ViT comes
    # from --vision (eva_vit_g.pth) even where a file also carries it.
    unused=(
        r'Qformer\.bert\.embeddings\.(word_embeddings|position_embeddings)\.weight',
        r'Qformer\.bert\.embeddings\.position_ids',
        r'Qformer\.bert\.encoder\.layer\.\d+\.(intermediate|output)\.(dense|LayerNorm)\.(weight|bias)',
        r'Qformer\.cls\..*',
        r'(vision_proj|text_proj|itm_head|t5_proj|opt_proj|llm_proj)\.(weight|bias)',
        r'temp',
        r'(t5_model|opt_model|llm_model)\..*',
        r'visual_encoder\..*',
    ),
)

# --- transformers Blip2Model / Blip2ForConditionalGeneration ----------------------------
_HV = r'vision_model\.'
_HVL = _HV + r'encoder\.layers\.(\d+)\.'
BLIP2_HF = Layout(
    'blip2_hf',
    rules=(
        rule(_HV + r'embeddings\.class_embedding', _V + 'cls_token'),
        rule(_HV + r'embeddings\.position_embedding', _V + 'pos_embed'),
        rule(_HV + r'embeddings\.patch_embedding\.weight', _V + 'patch_embed/kernel', transform=conv_weight),
        rule(_HV + r'embeddings\.patch_embedding\.bias', _V + 'patch_embed/bias'),
        rule(_HVL + r'layer_norm([12])\.weight', _VB + 'norm{1}/scale'),
        rule(_HVL + r'layer_norm([12])\.bias', _VB + 'norm{1}/bias'),
        rule(_HVL + r'self_attn\.qkv\.weight', _VB + 'attn/qkv/kernel', transform=linear_weight),
        rule(_HVL + r'self_attn\.qkv\.bias', _VB + 'attn/q_bias', _VB + 'attn/v_bias',
             transform=split_fused_qkv_bias),
        rule(_HVL + r'self_attn\.(q_bias|v_bias)', _VB + 'attn/{1}'),
        rule(_HVL + r'self_attn\.projection\.weight', _VB + 'attn/proj/kernel', transform=linear_weight),
        rule(_HVL + r'self_attn\.projection\.bias', _VB + 'attn/proj/bias'),
        rule(_HVL + r'mlp\.(fc[12])\.weight', _VB + 'mlp/{1}/kernel', transform=linear_weight),
        rule(_HVL + r'mlp\.(fc[12])\.bias', _VB + 'mlp/{1}/bias'),
        # HF's post_layernorm is MiniGPT-4's ln_vision (same weights: transformers ``convert_blip_2_original_to_pytorch.py``).
        rule(_HV + r'post_layernorm\.weight', 'ln_vision/scale'),
        rule(_HV + r'post_layernorm\.bias', 'ln_vision/bias'),
        rule(r'query_tokens', _Q + 'query_tokens'),
        rule(r'qformer\.layernorm\.weight', _Q + 'layernorm/scale'),
        rule(r'qformer\.layernorm\.bias', _Q + 'layernorm/bias'),
    ) + _qformer_rules(r'qformer\.encoder\.layer\.', 'attention'),
    unused=(
        r'(language_model|language_projection|text_projection|vision_projection|itm_head)\..*',
        r'qformer\.embeddings\..*',
        r'qformer\.encoder\.layer\.\d+\.(intermediate|output)\.(dense|LayerNorm)\.(weight|bias)',
    ),
)

# --- LLaMA, transformers layout -----------------------------------------------------------
_L = 'llm/'
_LL = _L + 'layers/{0}/'
LLAMA_HF = Layout(
    'llama_hf',
    rules=(
        rule(r'model\.embed_tokens\.weight', _L + 'embed_tokens/embedding'),
        rule(r'model\.layers\.(\d+)\.self_attn\.([qkvo]_proj)\.weight', _LL + 'attn/{1}/kernel', transform=linear_weight),
        rule(r'model\.layers\.(\d+)\.mlp\.(gate_proj|up_proj|down_proj)\.weight', _LL + 'mlp/{1}/kernel', transform=linear_weight),
        rule(r'model\.layers\.(\d+)\.input_layernorm\.weight', _LL + 'input_norm/weight'),
        rule(r'model\.layers\.(\d+)\.post_attention_layernorm\.weight', _LL + 'post_attention_norm/weight'),
        rule(r'model\.norm\.weight', _L + 'norm/weight'),
        rule(r'lm_head\.weight', _L + 'lm_head/kernel', transform=linear_weight),
    ),
    # A buffer older transformers versions saved; recomputed from rope_theta.
    unused=(r'model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq',),
)

_CL = r'encoder\.layers\.(\d+)\.'

# --- CLIP vision tower, transformers layout (unprefixed) -----------------------------
CLIP_HF = Layout(
    'clip_hf',
    rules=(
        rule(r'embeddings\.class_embedding', _V + 'class_embedding'),
        rule(r'embeddings\.position_embedding\.weight', _V + 'pos_embed'),
        rule(r'embeddings\.patch_embedding\.weight', _V + 'patch_embed/kernel', transform=conv_weight),
        rule(r'pre_layrnorm\.weight', _V + 'pre_norm/scale'),  # sic: transformers' spelling
        rule(r'pre_layrnorm\.bias', _V + 'pre_norm/bias'),
        rule(_CL + r'layer_norm([12])\.weight', _VB + 'norm{1}/scale'),
        rule(_CL + r'layer_norm([12])\.bias', _VB + 'norm{1}/bias'),
        rule(_CL + r'self_attn\.([qkv]_proj|out_proj)\.weight', _VB + 'attn/{1}/kernel',
             transform=linear_weight),
        rule(_CL + r'self_attn\.([qkv]_proj|out_proj)\.bias', _VB + 'attn/{1}/bias'),
        rule(_CL + r'mlp\.(fc[12])\.weight', _VB + 'mlp/{1}/kernel', transform=linear_weight),
        rule(_CL + r'mlp\.(fc[12])\.bias', _VB + 'mlp/{1}/bias'),
    ),
    # LLaVA reads an inner layer's raw hidden states: the final norm is never applied.
    # position_ids is a buffer older transformers versions saved.
    unused=(r'post_layernorm\.(weight|bias)', r'embeddings\.position_ids'),
)

# CLIPModel's text tower and contrastive heads, beside vision_model.* in a CLIP directory.
CLIP_TEXT_SIDE = (r'text_model\..*', r'(visual|text)_projection\.weight', r'logit_scale')


def combined(name: str, *layouts: Layout) -> Layout:
  """One layout holding the rules and unused patterns of several (one file, many towers)."""
  return Layout(name, tuple(r for lay in layouts for r in lay.rules),
                tuple(u for lay in layouts for u in lay.unused))


def clip_layers_unused(built: int, in_file: int) -> tuple[str, ...]:
  """Patterns for the CLIP layers past the one LLaVA reads (ViT-L's 24th of 24)."""
  if built >= in_file:
    return ()
  indices = '|'.join(str(i) for i in range(built, in_file))
  return (rf'encoder\.layers\.({indices})\..*',)
