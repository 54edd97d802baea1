"""Decoder distributions p_θ(x|z) of a VAE, factorised over the data dimensions.

The decoder network outputs `n_params` values per dimension (channel-major: all
first parameters, then all second ones); a likelihood turns them into log p(x|z),
the mean E[x|z] (what the views draw) and a sample.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import ContinuousBernoulli as TorchContinuousBernoulli

LOG_STD_MIN = math.log(1e-3)  # floor of a Gaussian decoder's learned std, so log p(x|z) stays finite


class Likelihood:
    n_params: int

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over the last dimension."""
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def marginal_params(self, x: torch.Tensor) -> torch.Tensor:
        """Parameters (n_params * D,) fitted to each dimension of x alone, as if z were ignored
        (the maximum-likelihood fit for Bernoulli and Gaussian, a close start for the continuous Bernoulli)."""
        return torch.logit(x.mean(0).clamp(1e-3, 1 - 1e-3))


class Gaussian(Likelihood):
    """p(x|z) = N(m_θ(z), diag σ_θ(z)²), mean and variance both learned (the notes' "Gaussian case")."""

    n_params = 2

    def split(self, params):
        mean, log_std = params.chunk(2, dim=-1)
        return mean, log_std.clamp(min=LOG_STD_MIN)

    def log_prob(self, x, params):
        mean, log_std = self.split(params)
        return (-0.5 * ((x - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def mean(self, params):
        return self.split(params)[0]

    def sample(self, params, generator=None):
        mean, log_std = self.split(params)
        return mean + log_std.exp() * torch.randn_like(mean, generator=generator)

    def marginal_params(self, x):
        return torch.cat([x.mean(0), x.std(0).clamp(min=1e-3).log()])


class Bernoulli(Likelihood):
    """p(x|z) = Π_d λ_d^x_d (1-λ_d)^(1-x_d), λ = sigmoid(logits).

    On grey levels in [0, 1] this is the usual cross-entropy, not a normalised density
    (Loaiza-Ganem & Cunningham 2019); the continuous Bernoulli fixes the normaliser.
    """

    n_params = 1

    def log_prob(self, x, params):
        return -F.binary_cross_entropy_with_logits(params, x.expand_as(params), reduction="none").sum(-1)

    def mean(self, params):
        return torch.sigmoid(params)

    def sample(self, params, generator=None):
        return torch.bernoulli(torch.sigmoid(params), generator=generator)


class ContinuousBernoulli(Likelihood):
    """The continuous Bernoulli CB(λ) on [0, 1] (Loaiza-Ganem & Cunningham 2019):
    p(x|λ) = C(λ) λ^x (1-λ)^(1-x), C(λ) = 2 artanh(1-2λ) / (1-2λ), a true density for grey pixels."""

    n_params = 1

    def log_prob(self, x, params):
        return TorchContinuousBernoulli(logits=params, validate_args=False).log_prob(x.expand_as(params)).sum(-1)

    def mean(self, params):
        return TorchContinuousBernoulli(logits=params, validate_args=False).mean

    def sample(self, params, generator=None):
        """By inversion: x = F⁻¹(u), u ~ U(0, 1)."""
        u = torch.rand_like(params, generator=generator)
        return TorchContinuousBernoulli(logits=params, validate_args=False).icdf(u)


LIKELIHOODS: dict[str, type[Likelihood]] = {
    "gaussian": Gaussian,
    "bernoulli": Bernoulli,
    "cbernoulli": ContinuousBernoulli,
}
