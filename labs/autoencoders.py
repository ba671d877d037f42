"""Two small autoencoders for 8x8 digits: a denoising autoencoder and a variational autoencoder.

- :class:`DenoisingAutoencoder` learns ``clean = f(noisy)``: trained on pairs (digit + noise,
  digit), it removes noise it has never seen on new digits; :func:`psnr` measures how well.
- :class:`VAE` (Kingma and Welling 2014) encodes a digit into a Gaussian ``q(z|x)`` over a small
  latent space, decodes a sample of it, and is trained on the evidence lower bound
  (:func:`vae_loss`); decoding ``z ~ N(0, I)`` generates new digits.

Pixels are in [0, 1], images flattened to 64 numbers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["DenoisingAutoencoder", "VAE", "vae_loss", "psnr"]


def psnr(estimate, reference, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(peak^2 / MSE)``; higher is better."""
    estimate, reference = np.asarray(estimate, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if estimate.shape != reference.shape:
        raise ValueError(f"psnr needs two arrays of one shape; got {estimate.shape} and {reference.shape}")
    mse = np.mean((estimate - reference) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(peak ** 2 / mse))


class DenoisingAutoencoder(nn.Module):
    """64 -> hidden -> bottleneck -> hidden -> 64, sigmoid output (pixels in [0, 1])."""

    def __init__(self, hidden: int = 64, bottleneck: int = 16):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, bottleneck), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(bottleneck, hidden), nn.ReLU(), nn.Linear(hidden, 64))

    def forward(self, x):
        return torch.sigmoid(self.decoder(self.encoder(x)))


class VAE(nn.Module):
    """Encoder -> (mu, log sigma^2) of q(z|x); decoder -> Bernoulli logits of the 64 pixels."""

    def __init__(self, latent: int = 4, hidden: int = 64):
        super().__init__()
        self.latent = latent
        self.encoder = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 64))

    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        # The reparameterisation trick: z = mu + sigma * eps keeps z differentiable in mu and sigma.
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        return self.decoder(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator=None):
        z = torch.randn(n, self.latent, generator=generator)
        return torch.sigmoid(self.decoder(z))


def vae_loss(logits, x, mu, logvar):
    """Negative ELBO per image: reconstruction (Bernoulli cross-entropy) + KL(q(z|x) || N(0, I)).

    ``KL = -1/2 sum(1 + log sigma^2 - mu^2 - sigma^2)``, the closed form for two Gaussians.
    Returns (total, reconstruction, kl), each averaged over the batch.
    """
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp()) / len(x)
    return reconstruction + kl, reconstruction, kl
