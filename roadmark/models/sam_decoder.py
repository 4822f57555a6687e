"""SAM's (``model_type`` ``sam``) prompt decoder with the work that does not depend on the
prompt done once per embedding.

``SamModel.forward`` redoes per click what only depends on the image: the image-wide
positional encoding, the dense prompt embedding added to the image embedding (no earlier
mask is ever sent: an earlier mask becomes a box, see :mod:`roadmark.models.sam`), the
conversion of the cached float16 embedding, and in the first two-way attention block the
three projections of the 64 x 64 image tokens (the keys and values of the tokens-to-image
attention and the queries of the image-to-tokens attention: the image tokens only change
after that block). In the later blocks and the final attention the projections of the
image tokens run as one fused matrix product, the positional encoding's share of them
(``(x + pe) W = x W + pe W``) computed once per embedding too. :class:`SamDecoder`
computes those once per embedding
(:meth:`SamDecoder.prepare`) and runs the rest of the decoder with the module's own layers
and weights, so the result is the module's (to float rounding; the tests compare the two).
It also computes only the mask tokens the output keeps.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional as F


@dataclass(frozen=True)
class Prepared:
    """What a decode on one embedding reuses (image tokens are ``N x C``)."""

    keys: torch.Tensor  # image embedding + dense (no mask) prompt embedding
    key_pe: torch.Tensor  # image-wide positional encoding
    first_k: torch.Tensor  # block 0, tokens-to-image: key projection of keys + pe
    first_v: torch.Tensor  # block 0, tokens-to-image: value projection of keys
    first_q: torch.Tensor  # block 0, image-to-tokens: query projection of keys + pe
    # per later block and the final attention: the projections of the image tokens fused
    # into one matrix product, and the projections of the positional encoding they add
    fused: tuple[_Fused, ...]
    height: int
    width: int


@dataclass(frozen=True)
class _Fused:
    """``tokens @ weight.T + bias`` gives the keys, values (tokens-to-image) and, in a
    block, the queries (image-to-tokens) of the image tokens, before the positional
    encoding's share (``pe_k``, ``pe_q``) is added: ``(x + pe) W = x W + pe W``."""

    weight: torch.Tensor
    bias: torch.Tensor
    pe_k: torch.Tensor
    pe_q: torch.Tensor | None
    split: tuple[int, ...]

    @classmethod
    def of(cls, key_pe: torch.Tensor, t2i: Any, i2t: Any | None) -> _Fused:
        projections = [t2i.k_proj, t2i.v_proj] + ([i2t.q_proj] if i2t is not None else [])
        return cls(
            weight=torch.cat([p.weight for p in projections]),
            bias=torch.cat([p.bias for p in projections]),
            pe_k=key_pe @ t2i.k_proj.weight.T,
            pe_q=None if i2t is None else key_pe @ i2t.q_proj.weight.T,
            split=tuple(p.out_features for p in projections),
        )

    def __call__(self, keys: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(k, v)`` or ``(k, v, q)`` of the image tokens ``keys``."""
        parts = F.linear(keys, self.weight, self.bias).split(self.split, dim=1)
        k = parts[0] + self.pe_k
        if self.pe_q is None:
            return k, parts[1]
        return k, parts[1], parts[2] + self.pe_q


def _attend(attention: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
            ) -> torch.Tensor:
    """A ``SamAttention`` on already projected ``L x D`` queries, keys and values."""
    heads = attention.num_attention_heads

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], heads, -1).transpose(0, 1)

    out = F.scaled_dot_product_attention(
        split(query), split(key), split(value), scale=attention.scaling
    )
    out = out.transpose(0, 1).reshape(query.shape[0], -1)
    result: torch.Tensor = attention.out_proj(out)
    return result


def _full(attention: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
          ) -> torch.Tensor:
    return _attend(attention, attention.q_proj(query), attention.k_proj(key),
                   attention.v_proj(value))


class SamDecoder:
    """The prompt decoder of a ``transformers`` ``SamModel`` (see the module doc).

    Keeps the prepared parts of the last embedding it saw (the embedding array itself is
    the key, held so that its identity cannot be reused).
    """

    def __init__(self, module: Any) -> None:
        self.module = module
        self._lock = threading.Lock()
        self._last: tuple[NDArray[Any], Prepared] | None = None

    @staticmethod
    def supports(module: Any) -> bool:
        """Whether ``module`` is a plain SAM (SAM-HQ and SAM 2 decoders differ)."""
        return type(module).__name__ == "SamModel"

    def prepare(self, embedding: NDArray[Any], device: str, dtype: torch.dtype) -> Prepared:
        """The prompt-independent parts for ``embedding`` (``C x h x w``), cached."""
        with self._lock:
            last = self._last
        if last is not None and last[0] is embedding:
            return last[1]
        module = self.module
        image = torch.from_numpy(embedding).to(device, dtype)
        _, height, width = image.shape
        dense = module.prompt_encoder.no_mask_embed.weight.reshape(-1, 1, 1)
        keys = (image + dense).flatten(1).transpose(0, 1).contiguous()
        key_pe = module.get_image_wide_positional_embeddings()[0].flatten(1).transpose(0, 1)
        key_pe = key_pe.contiguous()
        transformer = module.mask_decoder.transformer
        block = transformer.layers[0]
        key = keys + key_pe
        fused = [_Fused.of(key_pe, b.cross_attn_token_to_image, b.cross_attn_image_to_token)
                 for b in transformer.layers[1:]]
        fused.append(_Fused.of(key_pe, transformer.final_attn_token_to_image, None))
        prepared = Prepared(
            keys=keys,
            key_pe=key_pe,
            first_k=block.cross_attn_token_to_image.k_proj(key),
            first_v=block.cross_attn_token_to_image.v_proj(keys),
            first_q=block.cross_attn_image_to_token.q_proj(key),
            fused=tuple(fused),
            height=height,
            width=width,
        )
        with self._lock:
            self._last = (embedding, prepared)
        return prepared

    def __call__(
        self,
        prepared: Prepared,
        *,
        input_points: torch.Tensor | None,
        input_labels: torch.Tensor | None,
        input_boxes: torch.Tensor | None,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(K x h x w mask logits, K predicted IoUs)`` as ``SamModel.forward`` gives them
        for one image and one prompt (batch and point batch of 1)."""
        module = self.module
        sparse, _ = module.prompt_encoder(input_points, input_labels, input_boxes, None)
        decoder = module.mask_decoder
        tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
        if sparse is not None:
            tokens = torch.cat([tokens, sparse[0, 0].to(tokens.dtype)], dim=0)
        queries, point_pe = tokens, tokens
        keys = prepared.keys
        transformer = decoder.transformer
        for index, block in enumerate(transformer.layers):
            if block.skip_first_layer_pe:
                queries = _full(block.self_attn, queries, queries, queries)
            else:
                query = queries + point_pe
                queries = queries + _full(block.self_attn, query, query, queries)
            queries = block.layer_norm1(queries)
            t2i = block.cross_attn_token_to_image
            query = queries + point_pe
            # the image tokens change only at the end of a block: one product for both
            if index == 0:
                k, v, q = prepared.first_k, prepared.first_v, prepared.first_q
            else:
                k, v, q = prepared.fused[index - 1](keys)
            queries = block.layer_norm2(queries + _attend(t2i, t2i.q_proj(query), k, v))
            queries = block.layer_norm3(queries + block.mlp(queries))
            i2t = block.cross_attn_image_to_token
            query = queries + point_pe
            keys = block.layer_norm4(
                keys + _attend(i2t, q, i2t.k_proj(query), i2t.v_proj(queries))
            )
        query = queries + point_pe
        final = transformer.final_attn_token_to_image
        k, v = prepared.fused[-1](keys)
        queries = transformer.layer_norm_final_attn(
            queries + _attend(final, final.q_proj(query), k, v)
        )
        chosen = range(1, decoder.num_mask_tokens) if multimask_output else range(0, 1)
        hyper = torch.stack(
            [decoder.output_hypernetworks_mlps[i](queries[1 + i]) for i in chosen]
        )
        masks = self._upscale(keys, hyper, prepared.height, prepared.width)
        iou = decoder.iou_prediction_head(queries[0])[list(chosen)]
        return masks, iou

    def _upscale(self, keys: torch.Tensor, hyper: torch.Tensor, height: int, width: int
                 ) -> torch.Tensor:
        """The decoder's upscaling (two 2 x 2 stride-2 transposed convolutions with a
        channel layer norm and GELUs) and the hypernetwork product, on image tokens kept
        channels-last: a transposed convolution whose stride is its kernel is one matrix
        product per token, so the work is three matrix products and a reordering of the
        ``K`` masks only (not of the 64 and 32 feature channels)."""
        decoder = self.module.mask_decoder
        conv1, conv2 = decoder.upscale_conv1, decoder.upscale_conv2
        norm = decoder.upscale_layer_norm
        c1, c2 = conv1.out_channels, conv2.out_channels
        # weight cin x cout x 2 x 2 -> cin x (2 x 2 x cout): rows (a, b, cout)
        w1 = conv1.weight.permute(0, 2, 3, 1).reshape(conv1.in_channels, 4 * c1)
        w2 = conv2.weight.permute(0, 2, 3, 1).reshape(conv2.in_channels, 4 * c2)
        up = (keys @ w1).reshape(-1, c1) + conv1.bias  # (i, j, a, b) x c1
        up = decoder.activation(F.layer_norm(up, (c1,), norm.weight, norm.bias, norm.eps))
        up = (up @ w2).reshape(-1, c2) + conv2.bias  # (i, j, a, b, a2, b2) x c2
        up = decoder.activation(up)
        masks = (up @ hyper.T).reshape(height, width, 2, 2, 2, 2, -1)
        # row 4i + 2a + a2, column 4j + 2b + b2
        return masks.permute(6, 0, 2, 4, 1, 3, 5).reshape(-1, 4 * height, 4 * width)


def frame_masks(logits: torch.Tensor, side: int, resized: tuple[int, int],
                frame: tuple[int, int]) -> NDArray[np.bool_]:
    """``K x h x w`` low-resolution logits as frame-size masks, as SAM's post-processing
    makes them (upsampled to the model's input square, the padding cut, upsampled to the
    frame; bilinear), thresholded at 0."""
    rh, rw = resized
    out = F.interpolate(logits[None], size=(side, side), mode="bilinear",
                        align_corners=False)[0, :, :rh, :rw]
    out = F.interpolate(out[None], size=frame, mode="bilinear", align_corners=False)[0]
    masks: NDArray[np.bool_] = (out > 0).cpu().numpy()
    return masks
