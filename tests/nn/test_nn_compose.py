"""The blocks compose into the papers' networks: a tiny TG-ECNet-style restoration U-Net
(spec tg-ecnet.md Sec. 7.2, configuration "tiny") built only from mmfuse.nn plus glue."""
from __future__ import annotations

import torch
from torch import nn

from mmfuse.nn import (
    Downsample,
    MoE,
    Mlp,
    OverlapPatchEmbed,
    PromptGenBlock,
    TaskPrompt,
    TransformerBlock,
    Upsample,
)


class TinyTGECNet(nn.Module):
    """d = 16, blocks [1, 1, 1, 2], heads [1, 2, 4, 8], 5 experts top-3, 8 x 32 atoms."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        heads = [1, 2, 4, 8]
        self.task_prompt = TaskPrompt(1, hidden=16, cond_dim=8, num_atoms=8, atom_dim=32)
        self.patch_embed = OverlapPatchEmbed(1, d)
        widths = [d, 2 * d, 4 * d]
        self.proj = nn.ModuleList(nn.Linear(32, c) for c in widths)
        self.moe = nn.ModuleList(
            MoE(lambda i, c=c: Mlp(c, int(2.66 * c)), k=3, num_experts=5, gate_dim=2 * c, gate_with_input=True,
                combine="logspace", gate_init="normal")
            for c in widths
        )
        self.enc = nn.ModuleList(TransformerBlock(c, h) for c, h in zip(widths, heads))
        self.down = nn.ModuleList(Downsample(c) for c in widths)
        self.latent = nn.Sequential(TransformerBlock(8 * d, 8), TransformerBlock(8 * d, 8))
        # PromptIR decoder prompts: widths 8d + p3, 4d + p2, 2d + p1 (p = 16, 32, 64 for d = 16)
        self.prompt3 = PromptGenBlock(64, 3, 4, 8 * d)
        self.noise3 = TransformerBlock(8 * d + 64, 4)
        self.reduce_noise3 = nn.Conv2d(8 * d + 64, 4 * d, 1, bias=False)
        self.up4_3 = Upsample(4 * d)
        self.reduce3 = nn.Conv2d(6 * d, 4 * d, 1, bias=False)
        self.dec3 = TransformerBlock(4 * d, 4)
        self.prompt2 = PromptGenBlock(32, 3, 8, 4 * d)
        self.noise2 = TransformerBlock(4 * d + 32, 4)
        self.reduce_noise2 = nn.Conv2d(4 * d + 32, 4 * d, 1, bias=False)
        self.up3_2 = Upsample(4 * d)
        self.reduce2 = nn.Conv2d(4 * d, 2 * d, 1, bias=False)
        self.dec2 = TransformerBlock(2 * d, 2)
        self.prompt1 = PromptGenBlock(16, 3, 16, 2 * d)
        self.noise1 = TransformerBlock(2 * d + 16, 4)
        self.reduce_noise1 = nn.Conv2d(2 * d + 16, 2 * d, 1, bias=False)
        self.up2_1 = Upsample(2 * d)
        self.dec1 = TransformerBlock(2 * d, 1)
        self.refinement = TransformerBlock(2 * d, 1)
        self.output = nn.Conv2d(2 * d, 1, 3, padding=1, bias=False)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.task_prompt(img)
        x = self.patch_embed(img)
        skips, load = [], img.new_zeros(())
        for moe, proj, enc, down in zip(self.moe, self.proj, self.enc, self.down):
            out = moe(x, gate_input=proj(p))
            load = load + out.loss
            x = enc(x + out.output)
            skips.append(x)
            x = down(x)
        x = self.latent(x)
        x = self.reduce_noise3(self.noise3(torch.cat([x, self.prompt3(x)], 1)))
        x = self.dec3(self.reduce3(torch.cat([self.up4_3(x), skips[2]], 1)))
        x = self.reduce_noise2(self.noise2(torch.cat([x, self.prompt2(x)], 1)))
        x = self.dec2(self.reduce2(torch.cat([self.up3_2(x), skips[1]], 1)))
        x = self.reduce_noise1(self.noise1(torch.cat([x, self.prompt1(x)], 1)))
        x = self.dec1(torch.cat([self.up2_1(x), skips[0]], 1))
        return self.output(self.refinement(x)) + img, load


def test_tiny_tg_ecnet_trains_one_step() -> None:
    from mmfuse.losses import CompositeLoss

    net = TinyTGECNet().train()
    loss_fn = CompositeLoss({"restoration": 1.0, "restoration_gradient": 10.0, "load": 0.1})
    clean = torch.rand(2, 1, 32, 32)
    noisy = (clean + 0.1 * torch.randn_like(clean)).clamp(0, 1)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(3):
        restored, load = net(noisy)
        terms = loss_fn(pred=restored, target=clean, load_loss=load)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        losses.append(terms["total"].item())
    assert restored.shape == clean.shape
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
    n = sum(p.numel() for p in net.parameters())
    assert 0.5e6 < n < 3e6  # the spec's analytic count for this size is about 1.7 M with the fusion branch
