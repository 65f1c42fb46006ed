"""Patch discriminator for the generator's optional adversarial fine-tuning.

A network trained only on mean squared error predicts the average of every face that fits
the conditions: soft skin, no pores, no stray hairs. A discriminator that tells real crops
from drawn ones, each composited into its surroundings and seen with the same conditions,
pushes the generator to commit to one plausible face instead (as in adversarial diffusion
distillation and DeepPrivacy2). Used by ``streamanon train`` only, never shipped.

    disc = PatchDiscriminator(cond_channels=13)
    scores = disc(images, cond)          # (B, 1, R/8, R/8), one score per patch
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

log = logging.getLogger(__name__)


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN with spectral norm: image (3) plus conditions in, patch scores out."""

    def __init__(self, cond_channels: int, width: int = 32) -> None:
        super().__init__()
        c = width
        layers: list[nn.Module] = []
        for cin, cout in ((3 + cond_channels, c), (c, 2 * c), (2 * c, 4 * c)):
            layers += [spectral_norm(nn.Conv2d(cin, cout, 4, 2, 1)), nn.LeakyReLU(0.2)]
        layers += [spectral_norm(nn.Conv2d(4 * c, 4 * c, 3, 1, 1)), nn.LeakyReLU(0.2)]
        layers.append(spectral_norm(nn.Conv2d(4 * c, 1, 3, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([image, cond], 1))


def hinge_losses(real: torch.Tensor, fake: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss, each patch weighted (``weight`` broadcast to the score map)."""
    per_patch = torch.relu(1 - real) + torch.relu(1 + fake)
    return (per_patch * weight).sum() / weight.sum().clamp(min=1e-6)


def generator_loss(fake: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The generator's side of the hinge game: raise the scores of its patches."""
    return -(fake * weight).sum() / weight.sum().clamp(min=1e-6)


def balance(reconstruction: torch.Tensor, adversarial: torch.Tensor, layer: torch.Tensor,
            limit: float = 1e4) -> torch.Tensor:
    """Weight that gives the adversarial loss the reconstruction loss's gradient size at the
    generator's last layer (the adaptive weight of VQGAN, Esser et al. 2021)."""
    g_rec = torch.autograd.grad(reconstruction, layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adversarial, layer, retain_graph=True)[0]
    return (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0.0, limit).detach()


class Adversary:
    """The discriminator side of ``train.adversarial_weight``: its network, optimizer and the
    generator's extra loss. Real and drawn faces are both composited into the real
    surroundings, so only the face and its seam are judged; patches count by their mask share."""

    def __init__(self, cond_channels: int, weight: float, lr: float, device) -> None:
        self.weight, self.lr = weight, lr
        self.net = PatchDiscriminator(cond_channels).to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr, betas=(0.0, 0.99))
        self.last: dict[str, float] = {}

    def load(self, state: dict | None) -> None:
        if state is None:
            log.info("adversarial fine-tuning: new discriminator")
            return
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["optimizer"])
        for group in self.opt.param_groups:  # the config's rate, not the saved one
            group["lr"] = self.lr

    def state(self) -> dict:
        return {"net": self.net.state_dict(), "optimizer": self.opt.state_dict()}

    @staticmethod
    def _composite(face, x0, c):
        mask = c[:, -1:]
        return face * mask + x0 * (1 - mask), mask

    def _patch_weight(self, mask, scores):
        import torch.nn.functional as F

        return F.adaptive_avg_pool2d(mask, scores.shape[-2:])

    def generator_term(self, model, reconstruction, pred, x0, c):
        image, mask = self._composite(pred, x0, c)
        self.net.requires_grad_(False)  # the generator's step moves the generator only
        scores = self.net(image, c)
        self.net.requires_grad_(True)
        adversarial = generator_loss(scores, self._patch_weight(mask, scores))
        scale = balance(reconstruction, adversarial, model.unet.conv_out.weight)
        self.last.update(adv_g=float(adversarial.item()), adv_scale=float(scale.item()))
        return self.weight * scale * adversarial

    def step(self, pred, x0, c) -> None:
        fake, mask = self._composite(pred, x0, c)
        real_scores, fake_scores = self.net(x0, c), self.net(fake, c)
        loss = hinge_losses(real_scores, fake_scores, self._patch_weight(mask, real_scores))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.last["adv_d"] = float(loss.item())

    def report(self) -> dict:
        return dict(self.last)
