"""Tests of the ViT / MAE blocks: names of the public MAE checkpoints, position embeddings,
masking, windowed attention, weight loading."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn import Attention, Block, MaskedAutoencoderViT, PatchEmbed, RelativePositionBias, load_mae_weights
from mmfuse.nn.vit import get_2d_sincos_pos_embed, resize_pos_embed

TINY = dict(img_size=32, patch_size=8, in_chans=3, embed_dim=32, depth=2, num_heads=4,
            decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)


def mae_key_names(depth: int, decoder_depth: int) -> set[str]:
    """State-dict keys of facebookresearch/mae models_mae.MaskedAutoencoderViT (timm Block)."""
    keys = {"cls_token", "pos_embed", "mask_token", "decoder_pos_embed", "patch_embed.proj.weight",
            "patch_embed.proj.bias"}
    for prefix in ("norm", "decoder_embed", "decoder_norm", "decoder_pred"):
        keys |= {f"{prefix}.weight", f"{prefix}.bias"}
    for group, n in (("blocks", depth), ("decoder_blocks", decoder_depth)):
        for i in range(n):
            for sub in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
                keys |= {f"{group}.{i}.{sub}.weight", f"{group}.{i}.{sub}.bias"}
    return keys


def test_state_dict_names_and_shapes_follow_mae() -> None:
    model = MaskedAutoencoderViT(**TINY)
    sd = model.state_dict()
    assert set(sd) == mae_key_names(2, 1)
    assert sd["pos_embed"].shape == (1, 1 + 16, 32)  # class token + 4x4 grid
    assert sd["decoder_pred.weight"].shape == (8 * 8 * 3, 16)
    assert sd["blocks.0.attn.qkv.weight"].shape == (96, 32)
    assert sd["blocks.1.mlp.fc1.weight"].shape == (128, 32)
    # fixed sin-cos embeddings are saved but never trained
    assert "pos_embed" not in dict(model.named_parameters())


def test_sincos_values_mae_convention() -> None:
    d = 8
    emb = get_2d_sincos_pos_embed(d, (2, 3), cls_token=True)
    assert emb.shape == (7, 8) and torch.count_nonzero(emb[0]) == 0
    omega = np.array([1.0, 1.0 / 100.0])  # 1 / 10000^(i / (D/4)), i = 0, 1
    row, col = 1, 2
    token = emb[1 + row * 3 + col].numpy()

    def one(pos: float) -> np.ndarray:
        return np.concatenate([np.sin(pos * omega), np.cos(pos * omega)])

    expected = np.concatenate([one(col), one(row)])  # first half: column, second half: row
    assert np.allclose(token, expected, atol=1e-6)
    with pytest.raises(InputError, match="multiple of 4"):
        get_2d_sincos_pos_embed(6, 2)


def test_resize_pos_embed_identity_and_shape() -> None:
    pos = get_2d_sincos_pos_embed(16, 4)[None]
    assert resize_pos_embed(pos, (4, 4), (4, 4)) is pos
    assert resize_pos_embed(pos, (4, 4), (3, 6)).shape == (1, 18, 16)


def test_patch_embed_and_patchify_round_trip() -> None:
    embed = PatchEmbed(4, 3, 10)
    tokens, grid = embed(torch.rand(2, 3, 8, 12))
    assert tokens.shape == (2, 6, 10) and grid == (2, 3)
    with pytest.raises(ShapeError, match="multiple of patch size"):
        embed(torch.rand(1, 3, 9, 12))
    model = MaskedAutoencoderViT(**TINY)
    img = torch.rand(2, 3, 16, 24)
    patches = model.patchify(img)
    assert patches.shape == (2, 6, 8 * 8 * 3)
    assert torch.equal(patches[0, 1].reshape(8, 8, 3).permute(2, 0, 1), img[0, :, :8, 8:16])
    assert torch.equal(model.unpatchify(patches, (2, 3)), img)


def test_random_masking_keeps_and_restores() -> None:
    x = torch.arange(2 * 10 * 3, dtype=torch.float32).reshape(2, 10, 3)
    kept, mask, ids_restore = MaskedAutoencoderViT.random_masking(x, 0.7, torch.Generator().manual_seed(0))
    assert kept.shape == (2, 3, 3)
    assert torch.equal(mask.sum(1), torch.tensor([7.0, 7.0]))
    for b in range(2):  # the kept tokens are exactly those with mask 0
        assert torch.equal(kept[b], x[b][mask[b] == 0][torch.argsort(ids_restore[b][mask[b] == 0])])
    with pytest.raises(InputError, match="mask_ratio"):
        MaskedAutoencoderViT.random_masking(x, 1.0)


def test_mae_forward_non_square_and_gradients(grads) -> None:
    model = MaskedAutoencoderViT(**TINY).train()
    loss, pred, mask = model(torch.rand(2, 3, 24, 40), mask_ratio=0.5)
    assert pred.shape == (2, 15, 192) and mask.shape == (2, 15)
    grads(model, loss)
    full_loss, _, mask0 = model(torch.rand(1, 3, 32, 32), mask_ratio=0.0)
    assert mask0.sum() == 0 and torch.isfinite(full_loss)


def test_windowed_attention_reduces_to_global_and_bias(grads) -> None:
    attn = Attention(16, 4)
    x = torch.randn(2, 12, 16)
    glob = attn(x)
    assert torch.allclose(attn(x, grid=(3, 4), window_size=None), glob)
    sq = torch.randn(1, 16, 16)
    g16 = attn(sq)
    assert torch.allclose(attn(sq, grid=(4, 4), window_size=4), g16, atol=1e-5)
    # a cyclic shift inside one window that covers the grid is a token permutation: no effect
    assert torch.allclose(attn(sq, grid=(4, 4), window_size=4, shift=2), g16, atol=1e-5)
    # 2x2 windows: a token only sees its own window
    local = attn(sq, grid=(4, 4), window_size=2)
    perturbed = sq.clone()
    perturbed[0, 15] += 1.0  # bottom-right window
    assert torch.allclose(attn(perturbed, grid=(4, 4), window_size=2)[0, 0], local[0, 0])
    assert not torch.allclose(attn(perturbed)[0, 0], g16[0, 0])
    with pytest.raises(ShapeError, match="multiple of window"):
        attn(sq, grid=(4, 4), window_size=3)
    rpb = RelativePositionBias(2, 4)
    bias = rpb()
    assert bias.shape == (4, 4, 4)
    assert torch.allclose(torch.diagonal(bias, dim1=1, dim2=2), bias[:, :1, :1].squeeze(-1).expand(4, 4))
    block = Block(16, 4)
    y = block(sq, grid=(4, 4), window_size=2, shift=1, rel_pos_bias=rpb())
    assert y.shape == sq.shape
    grads(block, y.square().sum())
    rpb.relative_position_bias_table.grad = None
    attn(sq, grid=(4, 4), window_size=2, rel_pos_bias=rpb()).sum().backward()
    assert rpb.relative_position_bias_table.grad is not None


class _NotWeights:
    """A class that weights-only unpickling must refuse."""


def official_style(model: MaskedAutoencoderViT) -> dict:
    return {"model": {f"module.{k}": v.clone() for k, v in model.state_dict().items()}, "epoch": 1}


def test_load_mae_weights_pth_and_safetensors(tmp_path: Path) -> None:
    src = MaskedAutoencoderViT(**TINY).eval()
    img = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        ref = src(img, mask_ratio=0.0)[1]
    pth = tmp_path / "mae.pth"
    torch.save(official_style(src), pth)
    st = tmp_path / "mae.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(st))
    for path in (pth, st):
        dst = MaskedAutoencoderViT(**TINY).eval()
        assert load_mae_weights(dst, path) == ([], [])
        with torch.no_grad():
            assert torch.allclose(dst(img, mask_ratio=0.0)[1], ref, atol=1e-6)


def test_load_mae_weights_accepts_args_namespace_but_not_arbitrary_objects(tmp_path: Path) -> None:
    import argparse

    src = MaskedAutoencoderViT(**TINY)
    ok = tmp_path / "with_args.pth"
    torch.save({**official_style(src), "args": argparse.Namespace(lr=1.5e-4, model="mae_vit_tiny")}, ok)
    assert load_mae_weights(MaskedAutoencoderViT(**TINY), ok) == ([], [])
    unsafe = tmp_path / "unsafe.pth"
    torch.save({**official_style(src), "extra": _NotWeights()}, unsafe)
    with pytest.raises(InputError, match="cannot read"):
        load_mae_weights(MaskedAutoencoderViT(**TINY), unsafe)


def test_load_mae_weights_resizes_pos_embed_and_reports_errors(tmp_path: Path) -> None:
    src = MaskedAutoencoderViT(**{**TINY, "img_size": 48})  # 6x6 grid in the file
    dst = MaskedAutoencoderViT(**TINY)  # 4x4 grid
    load_mae_weights(dst, src.state_dict())
    assert dst.pos_embed.shape == (1, 17, 32)
    assert torch.equal(dst.blocks[0].attn.qkv.weight, src.blocks[0].attn.qkv.weight)
    with pytest.raises(InputError, match="not found"):
        load_mae_weights(dst, tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read"):
        load_mae_weights(dst, bad)
    partial = {k: v for k, v in src.state_dict().items() if not k.startswith("decoder")}
    with pytest.raises(InputError, match="missing"):
        load_mae_weights(dst, partial)
    missing, unexpected = load_mae_weights(dst, partial, strict=False)
    assert "decoder_embed.weight" in missing and unexpected == []
    wide = MaskedAutoencoderViT(**{**TINY, "embed_dim": 64})
    with pytest.raises(InputError, match="do not fit"):
        load_mae_weights(dst, wide.state_dict())


def test_embed_for_two_stream_use() -> None:
    model = MaskedAutoencoderViT(**TINY)
    tokens, grid = model.embed(torch.rand(2, 3, 16, 40))
    assert tokens.shape == (2, 10, 32) and grid == (2, 5)
    assert math.isclose(float(model.pos_embed_for((4, 4)).sub(model.pos_embed[:, 1:]).abs().max()), 0.0)
