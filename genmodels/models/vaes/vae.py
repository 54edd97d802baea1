"""Variational autoencoder (Kingma & Welling 2014; course notes, "Variational Autoencoders").

    ELBO  L(θ, φ) = E_{q_φ(z|x)}[log p_θ(x|z)] - KL(q_φ(·|x) || p(z))      (notes, "From log-likelihood to ELBO")
    z = g_φ(x, ε) = m_φ(x) + σ_φ(x) ⊙ ε,  ε ~ N(0, I)                      (notes, "Reparameterisation trick")
    IWAE  L_k = E log (1/k) Σ_i p_θ(x, z_i) / q_φ(z_i|x),  z_i ~ q_φ(·|x)  (Burda et al. 2016), L_1 = L ≤ L_k ≤ log p(x)

Switches (all in `VAEConfig`):
- `kl_estimate`: the KL in closed form (Gaussian q and prior) or by Monte Carlo, log q(z|x) - log p(z) at the sampled z.
- `estimator`: the gradient of the ELBO w.r.t. φ (notes, "Gradient estimators"; Roeder et al. 2017).
  "total" differentiates log q_φ(g_φ(x, ε)|x) through both z and φ; "path" ("sticking the
  landing") stops the gradient through the variational parameters in log q, dropping the
  score term ∇_φ log q_φ(z|x), whose expectation is zero. Only the Monte Carlo KL contains a
  sampled log q: with `kl_estimate="closed"` the KL is differentiated exactly, nothing is
  dropped, and "path" gives the same gradients as "total".
- `objective`: the notes' Fig. 4 ablation: the ELBO (with β weighting the KL), the
  reconstruction term alone (an autoencoder), or the KL alone (q forgets x).
- `prior`: N(0, I) or a RealNVP flow p_ψ(z) (notes, "Inverse Autoregressive Flow VAE": a
  flow prior, trained jointly by the same ELBO; its KL needs `kl_estimate="mc"`).
- `posterior`: the Gaussian q_φ(z|x), or that Gaussian pushed through IAF layers conditioned on
  the encoder (iaf_posterior.py; Kingma et al. 2016); also needs `kl_estimate="mc"`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ...errors import UserError
from ...evaluation.ellipses import ellipses
from ...evaluation.estimators import gradient_variance
from ..base import GenerativeModel
from ..flows.flow import standard_normal_log_prob
from ..flows.realnvp import RealNVP, RealNVPConfig
from ..nets import conv_decoder, conv_encoder, downsamples_twice, mlp
from .iaf_posterior import IAFPosterior
from .likelihoods import LIKELIHOODS

EVAL_ROWS = 4096  # z samples per decoder call when evaluating bounds
EVAL_POINTS = 64  # test points per evaluation batch
VARIANCE_POINTS, VARIANCE_DRAWS = 32, 16  # the fixed minibatch and z draws of the gradient-variance probe
LATENT_GRID = {"image": 15, "vector": 21}  # decoded latent grid side
ELLIPSES, INTERPOLATION_STEPS, RECONSTRUCTIONS = 12, 10, 10
IAF_CONTEXT = 16  # size of the encoder's context h(x) that conditions the IAF layers
MOMENT_DRAWS = 64  # z draws per point for the mean and covariance of a non-Gaussian posterior


@dataclass(frozen=True)
class VAEConfig:
    latent: int = field(default=2, metadata={"min": 1, "max": 32, "help": "latent dimension p"})
    hidden: int = field(default=256, metadata={"min": 8, "max": 2048, "help": "hidden width of encoder and decoder"})
    image_likelihood: str = field(default="bernoulli", metadata={
        "choices": ("bernoulli", "cbernoulli"),
        "help": "decoder p(x|z) of pixels (continuous Bernoulli is normalised on [0, 1]); "
                "2D data always uses a Gaussian with learned mean and variance"})
    kl_estimate: str = field(default="closed", metadata={
        "choices": ("closed", "mc"), "help": "KL(q || p) in closed form or by Monte Carlo at the sampled z"})
    beta: float = field(default=1.0, metadata={
        "min": 0.0, "max": 20.0, "help": "weight β of the KL in the ELBO objective",
        "shown_when": {"objective": ("elbo",)}})
    objective: str = field(default="elbo", metadata={
        "choices": ("elbo", "reconstruction", "kl"),
        "help": "train the ELBO, or one of its two terms alone (notes' Fig. 4)"})
    estimator: str = field(default="total", metadata={
        "choices": ("total", "path"),
        "help": "gradient w.r.t. the encoder: total derivative, or path derivative (sticking the landing); "
                "they differ only with kl_estimate=mc"})
    prior: str = field(default="gaussian", metadata={
        "choices": ("gaussian", "realnvp"), "help": "prior p(z): N(0, I) or a RealNVP flow (needs kl_estimate=mc)"})
    prior_layers: int = field(default=4, metadata={"min": 1, "max": 16, "help": "coupling layers of the flow prior",
                                                   "shown_when": {"prior": ("realnvp",)}})
    posterior: str = field(default="gaussian", metadata={
        "choices": ("gaussian", "iaf"), "help": "q(z|x): Gaussian, or Gaussian then IAF layers (needs kl_estimate=mc)"})
    posterior_layers: int = field(default=2, metadata={"min": 1, "max": 8, "help": "IAF layers of the posterior",
                                                       "shown_when": {"posterior": ("iaf",)}})
    iwae_k: int = field(default=100, metadata={
        "min": 1, "max": 10_000, "help": "importance samples k of the IWAE bound (test NLL)"})
    variance_every: int = field(default=200, metadata={
        "min": 0, "max": 100_000, "help": "steps between measurements of the estimators' gradient variance (0: never)"})


def gaussian_kl(mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) = ½ Σ_j (μ_j² + σ_j² - 1 - 2 log σ_j)."""
    return 0.5 * (mu**2 + torch.exp(2 * log_std) - 1 - 2 * log_std).sum(-1)


def diagonal_normal_log_prob(z: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) summed over the last dimension."""
    return standard_normal_log_prob((z - mu) / log_std.exp()) - log_std.sum(-1)


def over_rows(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """fn applied to the (N, D) rows of z (..., D); the output keeps z's leading shape."""
    out = fn(z.reshape(-1, z.shape[-1]))
    return out.reshape(*z.shape[:-1], *out.shape[1:])


class Encoding(NamedTuple):
    """The encoder's output for a batch: q_0(z|x) = N(mu, diag exp(log_std)²) and the IAF context h."""

    mu: torch.Tensor
    log_std: torch.Tensor
    h: torch.Tensor


class VAE(GenerativeModel):
    family = "vae"
    Config = VAEConfig

    def __init__(self, config: VAEConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        if config.kl_estimate == "closed" and (config.prior, config.posterior) != ("gaussian", "gaussian"):
            raise UserError("the closed-form KL needs the Gaussian prior and posterior; "
                            f"set kl_estimate=mc for prior={config.prior}, posterior={config.posterior}")
        self.is_image = len(self.shape) == 3
        self.likelihood = LIKELIHOODS[config.image_likelihood if self.is_image else "gaussian"]()
        context = IAF_CONTEXT if config.posterior == "iaf" else 0
        n_code, n_params = 2 * config.latent + context, self.likelihood.n_params
        if downsamples_twice(self.shape):
            self.encoder = conv_encoder(self.shape, n_code, config.hidden)
            self.decoder = conv_decoder(config.latent, self.shape, n_params * self.shape[0], config.hidden)
        else:
            self.encoder = mlp(dim, n_code, config.hidden)
            self.decoder = mlp(config.latent, n_params * dim, config.hidden)
        self.posterior_flow = None
        if config.posterior == "iaf":
            self.posterior_flow = IAFPosterior(config.latent, config.posterior_layers, config.hidden, context)
        self.prior = None
        if config.prior == "realnvp":
            self.prior = RealNVP(RealNVPConfig(layers=config.prior_layers, hidden=config.hidden), config.latent)
        self.register_buffer("probe", torch.zeros(0, dim), persistent=False)
        self.register_buffer("variance_batch", torch.zeros(0, dim), persistent=False)
        self.steps_seen = 0
        self.variance_history: list[tuple[int, float, float, float]] = []

    # -- the pieces of the ELBO --------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> Encoding:
        """Mean m_φ(x), log σ_φ(x) of the Gaussian q_0(z|x), and the IAF context h(x) (empty without IAF)."""
        p = self.config.latent
        out = self.encoder(x)
        return Encoding(out[:, :p], out[:, p : 2 * p], out[:, 2 * p :])

    def posterior_sample(self, q: Encoding, k: int, estimator: str = "total") -> tuple[torch.Tensor, torch.Tensor]:
        """k reparameterised draws z ~ q(z|x) (k, B, p) and log q(z|x) (k, B).

        estimator="path" evaluates log q with φ stopped (μ, σ, h and the IAF weights detached):
        the gradient reaches φ only through z.
        """
        mu, log_std = q.mu, q.log_std
        z = mu + log_std.exp() * torch.randn(k, *mu.shape, device=mu.device, dtype=mu.dtype, generator=self.rng)
        if self.posterior_flow is None:
            if estimator == "path":
                mu, log_std = mu.detach(), log_std.detach()
            return z, diagonal_normal_log_prob(z, mu, log_std)
        h = q.h.expand(k, *q.h.shape).reshape(-1, q.h.shape[-1])
        z_t, log_det = self.posterior_flow(z.reshape(-1, z.shape[-1]), h)
        if estimator == "path":
            z_0, log_det_inverse = self.posterior_flow.stopped_inverse(z_t, h)
            log_q = diagonal_normal_log_prob(z_0.view(z.shape), mu.detach(), log_std.detach())
            return z_t.view(z.shape), log_q + log_det_inverse.view(z.shape[:-1])
        log_q = diagonal_normal_log_prob(z, mu, log_std) - log_det.view(z.shape[:-1])
        return z_t.view(z.shape), log_q

    def posterior_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, p) and covariance (B, p, p) of q(z|x): exact for the Gaussian, from draws with IAF."""
        q = self.encode(x)
        if self.posterior_flow is None:
            return q.mu, torch.diag_embed(torch.exp(2 * q.log_std))
        z, _ = self.posterior_sample(q, MOMENT_DRAWS)
        mean = z.mean(0)
        return mean, torch.einsum("kbi,kbj->bij", z - mean, z - mean) / (len(z) - 1)

    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        if self.prior is None:
            return standard_normal_log_prob(z)
        return over_rows(self.prior.log_prob, z)

    def prior_sample(self, n: int) -> torch.Tensor:
        if self.prior is None:
            weight = next(self.parameters())
            return torch.randn(n, self.config.latent, device=weight.device, dtype=weight.dtype,
                               generator=self.rng)
        return self.prior.sample(n)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The parameters of p_θ(x|z) for z (..., p)."""
        return over_rows(self.decoder, z)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p_θ(x|z) for x (B, D) and z (k, B, p): (k, B)."""
        return self.likelihood.log_prob(x, self.decode(z))

    def elbo_terms(self, x: torch.Tensor, estimator: str, kl_estimate: str) -> tuple[torch.Tensor, torch.Tensor]:
        """One-sample estimates of the reconstruction term E_q log p(x|z) and of KL(q || p), each (B,)."""
        q = self.encode(x)
        z, log_q = self.posterior_sample(q, 1, estimator)
        recon = self.log_likelihood(x, z)[0]
        if kl_estimate == "closed":
            return recon, gaussian_kl(q.mu, q.log_std)
        return recon, (log_q - self.prior_log_prob(z))[0]

    def forward(self, x: torch.Tensor, estimator: str, kl_estimate: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Calling the module gives `elbo_terms`, so torch.func can differentiate it w.r.t. chosen parameters."""
        return self.elbo_terms(x, estimator, kl_estimate)

    # -- training ------------------------------------------------------------------------------------
    def loss(self, x: torch.Tensor, phase: str = "model") -> dict[str, torch.Tensor]:
        """Minimise -(recon - β KL), or one term alone; always log the true ELBO (β = 1) and its terms."""
        recon, kl = self.elbo_terms(x, self.config.estimator, self.config.kl_estimate)
        objective = {
            "elbo": -(recon - self.config.beta * kl),
            "reconstruction": -recon,
            "kl": kl,
        }[self.config.objective]
        return {"loss": objective.mean(), "elbo": (recon - kl).mean(), "recon": recon.mean(), "kl": kl.mean()}

    @property
    def has_closed_kl(self) -> bool:
        return self.prior is None and self.posterior_flow is None

    def variational_parameters(self) -> dict[str, nn.Parameter]:
        """φ: the parameters of q_φ(z|x), by name (encoder and IAF layers)."""
        return {name: p for name, p in self.named_parameters() if name.startswith(("encoder.", "posterior_flow."))}

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Start an MLP decoder at the per-dimension fit of the data (output bias, as in Burda et al.'s code)."""
        self.variance_batch = x[:VARIANCE_POINTS].clone()
        last = self.decoder[-1]
        if isinstance(last, nn.Linear):
            last.bias.copy_(self.likelihood.marginal_params(x))

    def set_probe(self, x: torch.Tensor) -> None:
        self.probe = x.clone()

    def after_step(self, phase: str) -> None:
        """Every `variance_every` steps, measure each estimator's gradient variance on the fixed minibatch."""
        self.steps_seen += 1
        every = self.config.variance_every
        if every and len(self.variance_batch) and (self.steps_seen == 1 or self.steps_seen % every == 0):
            v = gradient_variance(self, self.variance_batch, VARIANCE_DRAWS)
            self.variance_history.append((self.steps_seen, v["total"], v["path"], v["closed"]))

    # -- bounds on log p(x) ----------------------------------------------------------------------------
    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) for k draws z_i ~ q(·|x): (k, B)."""
        q = self.encode(x)
        chunk = max(1, EVAL_ROWS // len(x))
        out = []
        for start in range(0, k, chunk):
            z, log_q = self.posterior_sample(q, min(chunk, k - start))
            out.append(self.log_likelihood(x, z) + self.prior_log_prob(z) - log_q)
        return torch.cat(out)

    def bounds(self, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ELBO and IWAE-k estimates (B,) from the same k draws: mean_i log w_i ≤ log mean_i w_i."""
        log_w = self.log_weights(x, k)
        return log_w.mean(0), torch.logsumexp(log_w, 0) - math.log(k)

    def metrics(self, x_test: torch.Tensor) -> dict[str, float]:
        """Mean test ELBO and the IWAE-k negative log-likelihood bound, in nats per example."""
        k = self.config.iwae_k
        with self.drawing_from(torch.Generator(self.device).manual_seed(0)):
            elbo, iwae = (torch.cat(b) for b in zip(*(self.bounds(x, k) for x in x_test.split(EVAL_POINTS))))
        return {"test_elbo": float(elbo.mean()), "test_nll": float(-iwae.mean()), "iwae_k": k}

    # -- using the model -----------------------------------------------------------------------------
    def sample(self, n: int) -> torch.Tensor:
        """x ~ p(x|z), z ~ p(z) for 2D data; for images the decoder means E[x|z] (no pixel speckle)."""
        params = self.decode(self.prior_sample(n))
        return self.likelihood.mean(params) if self.is_image else self.likelihood.sample(params, self.rng)

    def images(self, x: torch.Tensor) -> np.ndarray:
        """Flat rows to (n, H, W) greyscale (or (n, C, H, W)) arrays."""
        return x.reshape(-1, *self.shape).squeeze(1).cpu().numpy()

    def latent_plane(self, mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A centre c (p,) and basis B (p, 2) of the plane drawn: the latent itself for p ≤ 2
        (the second axis unused for p = 1), else the top two principal axes of the posterior means."""
        p = mu.shape[1]
        if p <= 2:
            return mu.new_zeros(p), torch.eye(p, 2, device=mu.device, dtype=mu.dtype)
        centre = mu.mean(0)
        return centre, torch.linalg.svd(mu - centre, full_matrices=False).Vh[:2].T

    @torch.no_grad()
    def visuals(self, grid: torch.Tensor | None) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.is_image:
            out["samples"] = self.images(self.sample(64))
        else:
            out["samples"] = self.sample(1000).cpu().numpy()
        points = self.probe if len(self.probe) else None
        z_prior = self.prior_sample(1000)
        mu, cov = self.posterior_moments(points) if points is not None else (z_prior, None)
        centre, basis = self.latent_plane(mu)
        coords = (mu - centre) @ basis
        out.update(self.latent_grid(torch.cat([coords, (z_prior - centre) @ basis]), centre, basis))
        if points is not None:
            out.update(self.probe_views(points, mu, cov, coords, basis))
        if self.variance_history:
            out["grad_variance"] = np.array(self.variance_history, dtype=np.float64)
        return out

    def latent_grid(self, coords: torch.Tensor, centre: torch.Tensor, basis: torch.Tensor) -> dict[str, np.ndarray]:
        """Decoded means of a G x G grid on the latent plane, spanning the coordinates of the given points
        (the test codes and prior draws: a collapsed latent axis still shows what the decoder does)."""
        g = LATENT_GRID["image" if self.is_image else "vector"]
        lo, hi = coords.quantile(0.01, dim=0), coords.quantile(0.99, dim=0)
        pad = 0.1 * (hi - lo) + 0.1
        u, v = (torch.linspace(a, b, g, device=coords.device, dtype=coords.dtype) for a, b in zip(lo - pad, hi + pad))
        uv = torch.stack(torch.meshgrid(u, v, indexing="xy"), -1)  # (g rows over v, g columns over u, 2)
        x_hat = self.likelihood.mean(self.decode(centre + uv @ basis.T))
        out = {"latent_grid_u": u.cpu().numpy(), "latent_grid_v": v.cpu().numpy()}
        if not self.is_image:
            out["latent_grid"] = x_hat.cpu().numpy()  # (g, g, 2): a mesh drawn over the data
            return out
        out["latent_grid"] = self.images(x_hat.flip(0).reshape(g * g, -1))  # row by row, top row = largest v
        return out

    def probe_views(self, x, mu, cov, coords, basis) -> dict[str, np.ndarray]:
        """Latent scatter with posterior 2σ ellipses, reconstructions and an interpolation of held-out points."""
        plane_cov = basis.T @ cov[:ELLIPSES] @ basis  # Cov(z|x) projected on the plane drawn
        out = {
            "latent_points": coords.cpu().numpy(),
            "latent_ellipses": ellipses(coords[:ELLIPSES].cpu().double().numpy(), plane_cov.cpu().double().numpy()),
        }
        x_hat = self.likelihood.mean(self.decode(mu[:RECONSTRUCTIONS] if self.is_image else mu))
        if not self.is_image:
            out["reconstructions"] = x_hat.cpu().numpy()
            return out
        out["inputs"], out["reconstructions"] = self.images(x[:RECONSTRUCTIONS]), self.images(x_hat)
        far = int(torch.cdist(mu[:1], mu[:50]).argmax())  # the nearby test point farthest in z from the first
        t = torch.linspace(0, 1, INTERPOLATION_STEPS, device=mu.device, dtype=mu.dtype)[:, None]
        out["interpolation"] = self.images(self.likelihood.mean(self.decode((1 - t) * mu[0] + t * mu[far])))
        out["interpolation_ends"] = np.array([0, far])
        return out
