"""A small Vision Transformer with an MAE decoder, named like the public MAE checkpoints.

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale", ICLR 2021; He, Chen, Xie, Li, Dollar, Girshick, "Masked Autoencoders Are Scalable
Vision Learners", CVPR 2022 (arXiv:2111.06377). TC-MoA (Zhu et al., CVPR 2024) runs two
weight-shared token streams through a frozen MAE ViT and inserts its adapters every 4 blocks;
its code replaces global attention by 14x14 window attention, shifted by 7 on odd blocks (no
mask), with a learned relative-position bias per pair of blocks. :class:`Attention` and
:class:`Block` support that through ``window_size``, ``shift`` and ``rel_pos_bias``.

State-dict names follow ``facebookresearch/mae`` ``models_mae.py`` (timm ``Block``):
``cls_token``, ``pos_embed``, ``patch_embed.proj.{weight,bias}``,
``blocks.{i}.norm1``, ``blocks.{i}.attn.qkv``, ``blocks.{i}.attn.proj``, ``blocks.{i}.norm2``,
``blocks.{i}.mlp.fc1``, ``blocks.{i}.mlp.fc2``, ``norm``, ``decoder_embed``, ``mask_token``,
``decoder_pos_embed``, ``decoder_blocks.{i}...``, ``decoder_norm``, ``decoder_pred``, so
``mae_visualize_vit_base.pth`` / ``..._large_ganloss.pth`` load with :func:`load_mae_weights`
(``ViT-B``: ``embed_dim=768, depth=12, num_heads=12``; ``ViT-L``: ``1024, 24, 16``; both
``patch_size=16``, decoder ``512, 8, 16``, LayerNorm ``eps=1e-6``). The fixed sin-cos position
embeddings are persistent buffers (MAE stores them as frozen parameters), so they are saved and
loaded under the same names but never trained.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn._checks import check_feature_map, check_tokens
from mmfuse.nn.ops import window_partition, window_reverse

__all__ = [
    "get_1d_sincos_pos_embed",
    "get_2d_sincos_pos_embed",
    "resize_pos_embed",
    "PatchEmbed",
    "Mlp",
    "Attention",
    "RelativePositionBias",
    "Block",
    "MaskedAutoencoderViT",
    "load_mae_weights",
]


def get_1d_sincos_pos_embed(embed_dim: int, positions: torch.Tensor) -> torch.Tensor:
    """1-D sin-cos embedding (Vaswani et al. 2017) of positions.

    ``omega_i = 1 / 10000^(i / (D/2))`` for ``i < D/2``; the embedding is
    ``[sin(pos * omega), cos(pos * omega)]``.

    Args:
        embed_dim: ``D`` (even).
        positions: ``(M,)`` positions.

    Returns:
        ``(M, D)`` float32 (computed in float64).
    """
    if embed_dim % 2:
        raise InputError(f"get_1d_sincos_pos_embed: embed_dim must be even, got {embed_dim}")
    omega = torch.arange(embed_dim // 2, dtype=torch.float64) / (embed_dim / 2.0)
    omega = 1.0 / (10000.0**omega)
    out = positions.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1).float()


def get_2d_sincos_pos_embed(
    embed_dim: int, grid_size: int | tuple[int, int], cls_token: bool = False
) -> torch.Tensor:
    """2-D sin-cos position embedding of a patch grid, in the MAE convention.

    Tokens are in row-major order; the first ``D/2`` features encode the column index and the
    last ``D/2`` the row index (MAE's ``np.meshgrid(grid_w, grid_h)`` order).

    Args:
        embed_dim: ``D`` (multiple of 4).
        grid_size: ``G`` or ``(G_h, G_w)``.
        cls_token: prepend a zero row for the class token.

    Returns:
        ``(G_h * G_w, D)`` or ``(1 + G_h * G_w, D)``.
    """
    if embed_dim % 4:
        raise InputError(f"get_2d_sincos_pos_embed: embed_dim must be a multiple of 4, got {embed_dim}")
    gh, gw = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    emb = torch.cat(
        [get_1d_sincos_pos_embed(embed_dim // 2, cols.flatten()), get_1d_sincos_pos_embed(embed_dim // 2, rows.flatten())],
        dim=1,
    )
    if cls_token:
        emb = torch.cat([torch.zeros(1, embed_dim), emb], dim=0)
    return emb


def resize_pos_embed(pos: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize a grid of position embeddings (as TC-MoA does for non-224 inputs).

    Args:
        pos: ``(1, G_h * G_w, D)`` embeddings without class token.
        old_grid: ``(G_h, G_w)``.
        new_grid: target ``(G_h', G_w')``.

    Returns:
        ``(1, G_h' * G_w', D)``.
    """
    if tuple(old_grid) == tuple(new_grid):
        return pos
    d = pos.shape[-1]
    grid = pos.reshape(1, old_grid[0], old_grid[1], d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new_grid, mode="bilinear", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], d)


class PatchEmbed(nn.Module):
    """Non-overlapping patch embedding: ``Conv(k = s = patch_size)`` then flatten.

    Args:
        patch_size: ``p``.
        in_chans: image channels.
        embed_dim: ``D``.

    Shape:
        ``(B, C, H, W)`` with ``H, W`` multiples of ``p`` -> tokens ``(B, H/p * W/p, D)``
        (row-major); :meth:`forward` also returns the grid ``(H/p, W/p)``.
    """

    def __init__(self, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        self.patch_size, self.in_chans = patch_size, in_chans
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        check_feature_map(x, "PatchEmbed", self.in_chans)
        p = self.patch_size
        if x.shape[-2] % p or x.shape[-1] % p:
            raise ShapeError(f"PatchEmbed: image size {tuple(x.shape[-2:])} is not a multiple of patch size {p}")
        x = self.proj(x)
        grid = (int(x.shape[-2]), int(x.shape[-1]))
        return x.flatten(2).transpose(1, 2), grid


class Mlp(nn.Module):
    """Token MLP ``fc2(GELU(fc1(x)))`` (timm ``Mlp`` names); also TG-ECNet's TaskMoE expert.

    Args:
        in_features: input size.
        hidden_features: hidden size.
        out_features: output size (default ``in_features``).

    Shape:
        ``(*, in_features)`` -> ``(*, out_features)``.
    """

    def __init__(self, in_features: int, hidden_features: int, out_features: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features if out_features is None else out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class RelativePositionBias(nn.Module):
    """Learned relative-position bias of a square window (Swin Transformer, Liu et al. 2021).

    A table ``((2w - 1)^2, heads)``, truncated-normal init (std 0.02), indexed by the relative
    offset of every token pair in the window.

    Args:
        window_size: ``w``.
        num_heads: heads.

    Shape:
        ``forward()`` -> ``(heads, w*w, w*w)``.
    """

    def __init__(self, window_size: int, num_heads: int) -> None:
        super().__init__()
        self.window_size, self.num_heads = window_size, num_heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        rows, cols = torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
        coords = torch.stack([rows.flatten(), cols.flatten()])  # (2, w*w)
        rel = coords[:, :, None] - coords[:, None, :] + (window_size - 1)  # (2, n, n), in [0, 2w-2]
        index = rel[0] * (2 * window_size - 1) + rel[1]
        self.register_buffer("relative_position_index", index, persistent=False)

    def forward(self) -> torch.Tensor:
        n = self.window_size * self.window_size
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        return bias.reshape(n, n, self.num_heads).permute(2, 0, 1).contiguous()


class Attention(nn.Module):
    """Multi-head self-attention over tokens (timm/MAE names ``qkv`` and ``proj``).

    Global by default; with ``window_size`` the token grid is split into non-overlapping
    windows (optionally cyclically shifted by ``shift`` first and shifted back after, with no
    attention mask, as TC-MoA's code), and ``rel_pos_bias`` ``(heads, w*w, w*w)`` is added to
    the logits.

    Args:
        dim: token size ``D``.
        num_heads: heads; must divide ``D``.
        qkv_bias: bias of the ``qkv`` projection (MAE: ``True``).

    Shape:
        ``(B, N, D)`` -> ``(B, N, D)``; windowed mode needs ``grid = (G_h, G_w)`` with
        ``G_h * G_w = N`` and both multiples of ``window_size``.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise InputError(f"Attention: num_heads {num_heads} must divide dim {dim}")
        self.dim, self.num_heads = dim, num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def _attend(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        mask = None if bias is None else bias.unsqueeze(0).to(x.dtype)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
        return out.transpose(1, 2).reshape(b, n, d)

    def forward(
        self,
        x: torch.Tensor,
        grid: tuple[int, int] | None = None,
        window_size: int | None = None,
        shift: int = 0,
        rel_pos_bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        check_tokens(x, "Attention", self.dim)
        if window_size is None:
            return self.proj(self._attend(x, rel_pos_bias))
        if grid is None or grid[0] * grid[1] != x.shape[1]:
            raise ShapeError(f"Attention: windowed attention needs the token grid of {x.shape[1]} tokens, got {grid}")
        gh, gw = grid
        if gh % window_size or gw % window_size:
            raise ShapeError(f"Attention: token grid {grid} is not a multiple of window size {window_size}")
        b, _, d = x.shape
        m = x.reshape(b, gh, gw, d)
        if shift:
            m = torch.roll(m, shifts=(-shift, -shift), dims=(1, 2))
        win = self._attend(window_partition(m, window_size), rel_pos_bias)
        m = window_reverse(win, window_size, gh, gw)
        if shift:
            m = torch.roll(m, shifts=(shift, shift), dims=(1, 2))
        return self.proj(m.reshape(b, gh * gw, d))


class Block(nn.Module):
    """Pre-norm ViT block ``x += attn(norm1(x))``; ``x += mlp(norm2(x))`` (timm/MAE names).

    Args:
        dim: token size ``D``.
        num_heads: attention heads.
        mlp_ratio: MLP hidden size / ``D`` (4).
        qkv_bias: ``qkv`` bias (``True``).
        norm_eps: LayerNorm epsilon (MAE: ``1e-6``).

    Shape:
        ``(B, N, D)`` -> ``(B, N, D)``; the keyword arguments of :meth:`forward` are passed to
        :class:`Attention`.
    """

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True, norm_eps: float = 1e-6
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(
        self,
        x: torch.Tensor,
        grid: tuple[int, int] | None = None,
        window_size: int | None = None,
        shift: int = 0,
        rel_pos_bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), grid, window_size, shift, rel_pos_bias)
        return x + self.mlp(self.norm2(x))


class MaskedAutoencoderViT(nn.Module):
    """MAE: ViT encoder on the visible patches, light transformer decoder predicting pixels.

    Defaults are MAE ViT-L/16 with the 512-d, 8-block decoder; for CPU work use a tiny
    configuration (e.g. ``patch_size=8, embed_dim=64, depth=4, num_heads=4,
    decoder_embed_dim=32, decoder_depth=2, decoder_num_heads=4``).

    Non-square inputs are supported: the stored ``img_size`` grid of position embeddings is
    bilinearly resized to the actual patch grid (:func:`resize_pos_embed`).

    Args:
        img_size: training image side (sets the stored position-embedding grid).
        patch_size: ``p``.
        in_chans: image channels.
        embed_dim: encoder width.
        depth: encoder blocks.
        num_heads: encoder heads.
        decoder_embed_dim: decoder width.
        decoder_depth: decoder blocks.
        decoder_num_heads: decoder heads.
        mlp_ratio: MLP ratio of every block.
        norm_eps: LayerNorm epsilon (``1e-6`` in the released models).
        norm_pix_loss: normalise each target patch by its mean and variance in
            :meth:`forward_loss`.

    Shape:
        ``forward(imgs (B, C, H, W), mask_ratio)`` -> ``(loss, pred (B, L, p*p*C), mask (B, L))``.
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 1024,
        depth: int = 24,
        num_heads: int = 16,
        decoder_embed_dim: int = 512,
        decoder_depth: int = 8,
        decoder_num_heads: int = 16,
        mlp_ratio: float = 4.0,
        norm_eps: float = 1e-6,
        norm_pix_loss: bool = False,
    ) -> None:
        super().__init__()
        if img_size % patch_size:
            raise InputError(f"MaskedAutoencoderViT: img_size {img_size} is not a multiple of patch_size {patch_size}")
        self.patch_size, self.in_chans, self.norm_pix_loss = patch_size, in_chans, norm_pix_loss
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.register_buffer("pos_embed", get_2d_sincos_pos_embed(embed_dim, self.grid_size, True).unsqueeze(0))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, True, norm_eps) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.register_buffer(
            "decoder_pos_embed", get_2d_sincos_pos_embed(decoder_embed_dim, self.grid_size, True).unsqueeze(0)
        )
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, True, norm_eps) for _ in range(decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim, eps=norm_eps)
        self.decoder_pred = nn.Linear(decoder_embed_dim, patch_size * patch_size * in_chans)
        self._init_weights()

    def _init_weights(self) -> None:
        """MAE initialisation: Xavier-uniform linears (and patch projection), zero biases."""
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # -- patches --------------------------------------------------------------------------
    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, L, p*p*C)`` with per-patch order ``(row, col, channel)``."""
        check_feature_map(imgs, "MaskedAutoencoderViT.patchify", self.in_chans)
        p, c = self.patch_size, self.in_chans
        b, _, hh, ww = imgs.shape
        if hh % p or ww % p:
            raise ShapeError(f"MaskedAutoencoderViT: image size {(hh, ww)} is not a multiple of patch size {p}")
        h, w = hh // p, ww // p
        x = imgs.reshape(b, c, h, p, w, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, h * w, p * p * c)

    def unpatchify(self, x: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
        """``(B, L, p*p*C)`` -> ``(B, C, G_h p, G_w p)``; ``grid`` defaults to a square grid."""
        p, c = self.patch_size, self.in_chans
        b, n, _ = x.shape
        if grid is None:
            side = int(round(n**0.5))
            grid = (side, side)
        h, w = grid
        if h * w != n:
            raise ShapeError(f"MaskedAutoencoderViT.unpatchify: grid {grid} does not hold {n} patches")
        x = x.reshape(b, h, w, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, c, h * p, w * p)

    def pos_embed_for(self, grid: tuple[int, int], decoder: bool = False) -> torch.Tensor:
        """Position embeddings ``(1, G_h * G_w, D)`` (no class token) for a patch grid."""
        pos = (self.decoder_pos_embed if decoder else self.pos_embed)[:, 1:, :]
        return resize_pos_embed(pos, self.grid_size, grid)

    def embed(self, imgs: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Patch tokens plus position embeddings, no class token and no masking.

        This is the entry point for fusion models that run their own loop over
        :attr:`blocks` (TC-MoA's two streams).

        Returns:
            ``(tokens (B, L, D), grid)``.
        """
        x, grid = self.patch_embed(imgs)
        return x + self.pos_embed_for(grid), grid

    @staticmethod
    def random_masking(
        x: torch.Tensor, mask_ratio: float, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keep a random ``1 - mask_ratio`` subset of the tokens of every sample.

        Args:
            x: ``(B, L, D)``.
            mask_ratio: fraction removed, in ``[0, 1)``.
            generator: optional RNG.

        Returns:
            ``(kept (B, L_keep, D), mask (B, L) with 1 = removed, ids_restore (B, L))``.
        """
        if not 0.0 <= mask_ratio < 1.0:
            raise InputError(f"random_masking: mask_ratio must be in [0, 1), got {mask_ratio}")
        b, n, d = x.shape
        keep = int(n * (1 - mask_ratio))
        noise = torch.rand(b, n, generator=generator, device=x.device)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        kept = torch.gather(x, 1, ids_shuffle[:, :keep, None].expand(-1, -1, d))
        mask = torch.ones(b, n, device=x.device)
        mask[:, :keep] = 0
        return kept, torch.gather(mask, 1, ids_restore), ids_restore

    def forward_encoder(
        self, imgs: torch.Tensor, mask_ratio: float, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int]]:
        """Encode the visible patches.

        Returns:
            ``(latent (B, 1 + L_keep, D) with the class token first, mask (B, L), ids_restore,
            grid)``.
        """
        x, grid = self.embed(imgs)
        x, mask, ids_restore = self.random_masking(x, mask_ratio, generator)
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore, grid

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Decode all patches (mask tokens in the removed places).

        Returns:
            ``pred (B, L, p*p*C)``.
        """
        x = self.decoder_embed(latent)
        b, _, d = x.shape
        n = ids_restore.shape[1]
        tokens = torch.cat([x[:, 1:, :], self.mask_token.expand(b, n + 1 - x.shape[1], -1)], dim=1)
        tokens = torch.gather(tokens, 1, ids_restore[:, :, None].expand(-1, -1, d))
        cls = x[:, :1, :] + self.decoder_pos_embed[:, :1, :]
        x = torch.cat([cls, tokens + self.pos_embed_for(grid, decoder=True)], dim=1)
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:, :]

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error on the removed patches (all patches when none is removed)."""
        target = self.patchify(imgs)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6) ** 0.5
        per_patch = ((pred - target) ** 2).mean(dim=-1)
        if mask.sum() == 0:
            return per_patch.mean()
        return (per_patch * mask).sum() / mask.sum()

    def forward(
        self, imgs: torch.Tensor, mask_ratio: float = 0.75, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        latent, mask, ids_restore, grid = self.forward_encoder(imgs, mask_ratio, generator)
        pred = self.forward_decoder(latent, ids_restore, grid)
        return self.forward_loss(imgs, pred, mask), pred, mask


def load_mae_weights(
    model: MaskedAutoencoderViT,
    source: str | os.PathLike[str] | Mapping[str, torch.Tensor],
    strict: bool = True,
) -> tuple[list[str], list[str]]:
    """Load MAE weights (official checkpoint or mmfuse export) into ``model``.

    Accepts a state dict, a ``.safetensors`` file, or a ``.pth`` file read with
    ``torch.load(weights_only=True)`` (never full unpickling). A top-level ``"model"`` entry
    (the official files) is unwrapped and a ``"module."`` prefix is stripped. Position
    embeddings of another grid size are resized bilinearly.

    Args:
        model: target model.
        source: path or mapping.
        strict: raise on missing or unexpected keys.

    Returns:
        ``(missing_keys, unexpected_keys)``.

    Raises:
        InputError: if the file cannot be read or, with ``strict``, the keys do not match.
    """
    if isinstance(source, Mapping):
        state: Mapping[str, object] = source
        origin = "state dict"
    else:
        path = os.fspath(source)
        origin = path
        if not os.path.isfile(path):
            raise InputError(f"{path}: weights file not found")
        try:
            if path.endswith(".safetensors"):
                from safetensors.torch import load_file

                state = load_file(path)
            else:
                # training checkpoints may carry their argparse options next to the weights;
                # Namespace is plain data, every other non-tensor global is still refused
                with torch.serialization.safe_globals([argparse.Namespace]):
                    state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file for the user
            raise InputError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from exc
    if "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]  # type: ignore[assignment]
    clean: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        clean[key[len("module."):] if key.startswith("module.") else key] = value
    for name in ("pos_embed", "decoder_pos_embed"):
        if name in clean and clean[name].shape != getattr(model, name).shape:
            src = clean[name]
            side = int(round((src.shape[1] - 1) ** 0.5))
            if side * side != src.shape[1] - 1:
                raise InputError(f"{origin}: {name} of shape {tuple(src.shape)} is not a square grid plus class token")
            grid = resize_pos_embed(src[:, 1:, :], (side, side), model.grid_size)
            clean[name] = torch.cat([src[:, :1, :], grid], dim=1)
    try:
        result = model.load_state_dict(clean, strict=False)
    except RuntimeError as exc:  # shape mismatch
        first = str(exc).strip().splitlines()[-1].strip()
        raise InputError(f"{origin}: weights do not fit the model ({first})") from exc
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if strict and (missing or unexpected):
        raise InputError(
            f"{origin}: weights do not match the model (missing: {missing[:5]}, unexpected: {unexpected[:5]})"
        )
    return missing, unexpected
