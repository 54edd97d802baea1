"""Generative adversarial networks: one generator/critic pair, several objectives (course notes, "GANs").

A generator g maps z ~ π0 = N(0, I) to x = g(z); a discriminator (critic) d scores x.
Each objective is a loss pair (d_loss, g_loss) on the critic's raw outputs, and the
one training loop is the trainer's: [Phase("D", n_critic), Phase("G")].

    GAN        minimax, Goodfellow et al. 2014: ℓ(g, d) = -π[log d] - π0[log(1 - d∘g)]
               (the notes' "Loss function and Jensen-Shannon divergence"); g minimises -ℓ.
    NSGAN      the same critic; g minimises -π0[log d∘g] (non-saturating, ibid. §3).
    LSGAN      Mao et al. 2017 with the notes' targets: d minimises π[(d - b)²] + π0[(d∘g - a)²],
               g minimises π0[(d∘g - c)²]; a, b, c = -1, 1, 1 by default.
    WGAN       Arjovsky et al. 2017: f maximises π[f] - π0[f∘g] over clipped weights (RMSprop);
               g minimises -π0[f∘g].
    WGANGP     Gulrajani et al. 2017: the same pair plus λ E[(‖∇f(x̂)‖ - 1)²] on interpolates x̂
               (the notes put the penalty at the fakes g(z); the paper and this code use x̂).

The minimax and non-saturating critics output a logit l, D(x) = σ(l); their optimum is
D*(x) = p(x) / (p(x) + p_g(x)), i.e. l* = log p - log p_g, where -ℓ(g, D*) = 2 JS(p, p_g) - log 4
(the notes write this as ℓ(g, d*) = log 4 - JS with JS without its 1/2 weights).

Two settings change every objective alike:

    pack = m   PacGAN, Lin et al. 2018: the critic scores packs u = (x_1, ..., x_m) of m samples
               concatenated, all real (u ~ p^m) or all fake (u ~ p_g^m), so each expectation above
               is over packs. The game then measures the divergence between the product
               distributions p^m and p_g^m, which a generator missing a mode pays for m times over
               (ibid. §3), and the optimum is D*(u) = Π p(x_i) / (Π p(x_i) + Π p_g(x_i)).
    r1 = γ     (NSGAN) Mescheder et al. 2018, eq. 9: the critic also minimises
               R1 = γ/2 E_{u ~ p^m}[‖∇_u l(u)‖²], zero gradient on the data, which makes the
               game locally convergent where the unregularised one circles.
    ema = β    Yazıcı et al. 2019: samples, pictures and metrics come from an exponential moving
               average of the generator's weights, θ̄ ← β_k θ̄ + (1 - β_k) θ after G step k
               (`averaging`), which averages out the generator's oscillation about the modes;
               training uses θ alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import UserError
from ..averaging import averaged_copy, update_average
from ..base import GenerativeModel, Phase
from ..nets import mlp

N_FIXED = 2500  # fixed z for the live samples: the mode-coverage protocol's sample size
N_ARROWS = 64  # fake points that get generator-gradient arrows
N_IMAGES, N_TIMELINE_IMAGES = 64, 16
MANIFOLD_LINES, MANIFOLD_POINTS, MANIFOLD_RANGE = 11, 100, 3.0
VIEW_WIDENING = 1.5  # the critic's plane: the data's grid widened by this factor, room for the fakes around it
TIMELINE_CAPACITY, TIMELINE_INTERVAL = 64, 10
LR = {"min": 1e-6, "max": 1e-1, "log": True}
PACK = {"min": 1, "max": 4, "help": "PacGAN: the critic scores packs of this many samples (1: no packing)"}
EMA = {"min": 0.0, "max": 0.9999, "help": "samples from a moving average of G's weights with this decay (0: off)"}


# -- networks --------------------------------------------------------------------------------
def leaky_relu() -> nn.Module:
    return nn.LeakyReLU(0.2)


def conv_generator(latent_dim: int, shape: tuple[int, ...], width: int) -> nn.Sequential:
    """DCGAN-style (Radford et al. 2016), without batch norm: z -> (2w, H/4, W/4) -> 2x up -> 2x up -> sigmoid."""
    c, h, w = shape
    return nn.Sequential(
        nn.Linear(latent_dim, 2 * width * (h // 4) * (w // 4)), nn.ReLU(),
        nn.Unflatten(1, (2 * width, h // 4, w // 4)),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(width, c, 4, 2, 1), nn.Sigmoid(),
        nn.Flatten(),
    )


def conv_critic(shape: tuple[int, ...], width: int) -> nn.Sequential:
    """Two stride-2 convolutions with leaky ReLU, then a linear score.

    No batch norm: it couples the samples of a batch, which breaks the per-sample gradient penalty.
    """
    c, h, w = shape
    return nn.Sequential(
        nn.Unflatten(1, shape),
        nn.Conv2d(c, width, 4, 2, 1), leaky_relu(),
        nn.Conv2d(width, 2 * width, 4, 2, 1), leaky_relu(),
        nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), 1),
    )


def build_nets(config, dim: int, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """(generator, critic): MLPs for points, small convolutions for images (flattened rows in and out).

    The critic reads a pack of `config.pack` samples: m·dim inputs, or m·C channels for images.
    """
    m = config.pack
    if len(shape) != 3:
        return build_generator(config, dim, shape), mlp(m * dim, 1, config.d_hidden, config.depth, leaky_relu)
    c, h, w = shape
    return build_generator(config, dim, shape), conv_critic((m * c, h, w), config.channels)


def build_generator(config, dim: int, shape: tuple[int, ...]) -> nn.Module:
    if len(shape) != 3:
        return mlp(config.latent_dim, dim, config.g_hidden, config.depth)
    if shape[1] % 4 or shape[2] % 4:
        raise UserError(
            f"GAN image networks need height and width divisible by 4; the images are {shape[1]}x{shape[2]}")
    return conv_generator(config.latent_dim, shape, config.channels)


def packed(x: torch.Tensor, m: int) -> torch.Tensor:
    """Consecutive samples grouped in packs of m: (n, d) -> (n // m, m·d), u_j = (x_{jm+1}, ..., x_{jm+m}).

    Flattened images (C·H·W each) become m·C channels, C-major, which is what the critic's
    first convolution reads. A remainder of fewer than m samples is dropped.
    """
    n = len(x) - len(x) % m
    if n == 0:
        raise UserError(f"the critic scores packs of pack = {m} samples; batch_size must be at least {m}")
    return x[:n].reshape(n // m, m * x.shape[1])


def packed_optimum(d_star: np.ndarray, m: int) -> np.ndarray:
    """The optimal packed D on m copies of x: p^m / (p^m + p_g^m) = σ(m logit D*(x)), from D* = p / (p + p_g)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 / (1 + ((1 - d_star) / d_star) ** m)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], x_real: torch.Tensor, x_fake: torch.Tensor,
                     eps: torch.Tensor) -> torch.Tensor:
    """E[(‖∇_x f(x̂)‖ - 1)²] at x̂ = eps x_real + (1 - eps) x_fake, eps ~ U[0, 1] per sample.

    Gulrajani et al. 2017, eq. 3 (without λ). With packing, x are packs and x̂ lies between two packs.
    """
    x_hat = (eps[:, None] * x_real + (1 - eps[:, None]) * x_fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.norm(dim=1) - 1) ** 2).mean()


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], x_real: torch.Tensor) -> torch.Tensor:
    """½ E_{x ~ p}[‖∇_x l(x)‖²] on the data alone: Mescheder et al. 2018, eq. 9, without γ.

    The gradient is part of the graph (create_graph), so the critic's step minimises it too.
    """
    x = x_real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return 0.5 * (grad**2).sum(1).mean()


class Timeline:
    """A bounded history of small sample sets for the app's slider over past steps.

    Records every `interval` generator steps; when more than `capacity` entries are
    held, every other one is dropped and the interval doubles, so at most `capacity`
    entries always span the whole run (step 0 included).
    """

    def __init__(self, capacity: int = TIMELINE_CAPACITY, interval: int = TIMELINE_INTERVAL):
        self.capacity, self.interval = capacity, interval
        self.steps: list[int] = []
        self.samples: list[np.ndarray] = []

    def due(self, step: int) -> bool:
        return step % self.interval == 0

    def add(self, step: int, x: np.ndarray) -> None:
        self.steps.append(step)
        self.samples.append(x)
        if len(self.steps) > self.capacity:
            self.interval *= 2
            keep = [i for i, s in enumerate(self.steps) if s % self.interval == 0]
            self.steps = [self.steps[i] for i in keep]
            self.samples = [self.samples[i] for i in keep]


# -- configs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GANConfig:
    """Fields every objective shares. The trainer's `lr` is not used: G and D have their own."""

    latent_dim: int = field(default=2, metadata={"min": 1, "max": 256, "help": "dimension of z (manifold: z_1, z_2)"})
    g_hidden: int = field(default=128, metadata={"min": 4, "max": 1024, "help": "generator MLP width (points)"})
    d_hidden: int = field(default=128, metadata={"min": 4, "max": 1024, "help": "critic MLP width (points)"})
    depth: int = field(default=3, metadata={"min": 1, "max": 6, "help": "hidden layers of both MLPs (points)"})
    channels: int = field(default=32, metadata={"min": 4, "max": 256, "help": "first conv layer's channels (images)"})
    n_critic: int = field(default=1, metadata={"min": 1, "max": 20, "help": "critic steps per generator step"})
    lr_g: float = field(default=2e-4, metadata={**LR, "help": "generator learning rate"})
    lr_d: float = field(default=2e-4, metadata={**LR, "help": "critic learning rate"})
    beta1: float = field(default=0.5, metadata={"min": 0.0, "max": 0.999, "help": "Adam β1 of both networks"})
    beta2: float = field(default=0.999, metadata={"min": 0.0, "max": 0.9999, "help": "Adam β2 of both networks"})
    pack: int = field(default=1, metadata=PACK)
    ema: float = field(default=0.0, metadata=EMA)


@dataclass(frozen=True)
class NSGANConfig(GANConfig):
    """The best objective's defaults, found by measurement (`python -m genmodels bench --gans`, BENCHMARKS.md):
    packs of 2, lr 1e-3 for both networks, samples from a 0.999 moving average of G; R1 off."""

    lr_g: float = field(default=1e-3, metadata={**LR, "help": "generator learning rate"})
    lr_d: float = field(default=1e-3, metadata={**LR, "help": "critic learning rate"})
    pack: int = field(default=2, metadata=PACK)
    ema: float = field(default=0.999, metadata=EMA)
    r1: float = field(default=0.0, metadata={
        "min": 0.0, "max": 100.0, "help": "R1 weight γ: the critic also minimises γ/2 E_data ‖∇ logit‖²"})


@dataclass(frozen=True)
class LSGANConfig(GANConfig):
    a: float = field(default=-1.0, metadata={"min": -10.0, "max": 10.0, "help": "critic target for fakes"})
    b: float = field(default=1.0, metadata={"min": -10.0, "max": 10.0, "help": "critic target for data"})
    c: float = field(default=1.0, metadata={"min": -10.0, "max": 10.0, "help": "generator's target for fakes"})


@dataclass(frozen=True)
class WGANConfig(GANConfig):
    """Arjovsky et al.'s Algorithm 1 uses RMSprop (no β), lr 5e-5, clip 0.01, n_critic 5; lr is larger here for 2D."""

    n_critic: int = field(default=5, metadata={"min": 1, "max": 20, "help": "critic steps per generator step"})
    lr_g: float = field(default=1e-4, metadata={**LR, "help": "generator learning rate"})
    lr_d: float = field(default=1e-4, metadata={**LR, "help": "critic learning rate"})
    clip: float = field(default=0.01, metadata={
        "min": 1e-4, "max": 10.0, "log": True, "help": "critic weights kept in [-clip, clip]"})


@dataclass(frozen=True)
class WGANGPConfig(GANConfig):
    """Gulrajani et al.'s Algorithm 1: λ = 10, n_critic = 5, Adam lr 1e-4, β = (0.5, 0.9)."""

    n_critic: int = field(default=5, metadata={"min": 1, "max": 20, "help": "critic steps per generator step"})
    lr_g: float = field(default=1e-4, metadata={**LR, "help": "generator learning rate"})
    lr_d: float = field(default=1e-4, metadata={**LR, "help": "critic learning rate"})
    beta2: float = field(default=0.9, metadata={"min": 0.0, "max": 0.9999, "help": "Adam β2 of both networks"})
    gp_lambda: float = field(default=10.0, metadata={"min": 0.0, "max": 1000.0, "help": "gradient penalty weight λ"})


# -- models ----------------------------------------------------------------------------------
class GAN(GenerativeModel):
    """The original minimax GAN: the critic outputs a logit l(x), D(x) = σ(l(x)).

    Subclasses change only the loss pair (`d_loss`, `g_loss`), `critic_value` for
    display, and where needed the optimisers, `penalty` and `after_step`.
    """

    family = "gan"
    averaged = "generator_ema"
    uses_lr = False  # lr_g and lr_d
    Config = GANConfig
    critic_label = "D(x)"

    def __init__(self, config: GANConfig, dim: int, shape: tuple[int, ...] = ()):
        super().__init__(config, dim, shape)
        self.generator, self.critic_net = build_nets(config, dim, self.shape)
        self.generator_ema = None
        if config.ema > 0:
            self.generator_ema = averaged_copy(self.generator, lambda: build_generator(config, dim, self.shape))
        z = torch.randn(N_FIXED, config.latent_dim, generator=torch.Generator().manual_seed(0), device="cpu")
        self.register_buffer("z_fixed", z)
        self.g_steps = 0
        self.timeline = Timeline()
        self._record()

    # -- the loss pair (on the critic's raw outputs) ----------------------------------------
    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """ℓ = -π[log D] - π0[log(1 - D∘g)] with D = σ(l): softplus(-l) = -log σ(l), softplus(l) = -log(1 - σ(l))."""
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    def g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """The saturating generator loss π0[log(1 - D∘g)]: its gradient vanishes where D rejects the fakes."""
        return -F.softplus(d_fake).mean()

    def critic_value(self, d: torch.Tensor) -> torch.Tensor:
        """What the heatmap shows: D(x) = σ(l) for the classifier objectives, the raw score otherwise."""
        return torch.sigmoid(d)

    def d_diagnostics(self, d_real: torch.Tensor, d_fake: torch.Tensor, loss_d: torch.Tensor
                      ) -> dict[str, torch.Tensor]:
        """JS lower bound of the current critic: log 2 - ℓ/2 ≤ JS(p^m, p_g^m), with equality at D* (m = pack)."""
        return {"js_bound": math.log(2) - loss_d / 2}

    def penalty(self, u_real: torch.Tensor, u_fake: torch.Tensor) -> torch.Tensor | None:
        """A regulariser added to the critic's loss, on packs of real and fake samples (WGAN-GP, R1), or None."""
        return None

    @classmethod
    def optimal_critic(cls, config, d_star: np.ndarray) -> np.ndarray | None:
        """The optimal `critic_value` on m copies of x (what the heatmap shows) given D* = p / (p + p_g),
        or None without a closed form."""
        return packed_optimum(d_star, config.pack)

    @classmethod
    def critic_range(cls, config) -> tuple[float, float] | None:
        """The range of the optimal critic (a fixed colour scale for the heatmaps), or None if unbounded."""
        return (0.0, 1.0)

    # -- training ----------------------------------------------------------------------------
    def phases(self) -> list[Phase]:
        return [Phase("D", self.config.n_critic), Phase("G")]

    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        """Adam for each network with its own learning rate (the training `lr` does not apply: `uses_lr`)."""
        c = self.config
        betas = (c.beta1, c.beta2)
        return {"D": torch.optim.Adam(self.critic_net.parameters(), lr=c.lr_d, betas=betas),
                "G": torch.optim.Adam(self.generator.parameters(), lr=c.lr_g, betas=betas)}

    def score(self, u: torch.Tensor) -> torch.Tensor:
        """The critic's raw output on packs u: (n, m·dim) -> (n,)."""
        return self.critic_net(u)[:, 0]

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        """The critic on consecutive packs of m samples: (n, dim) -> (n // m,)."""
        return self.score(packed(x, self.config.pack))

    def critic_on_copies(self, x: torch.Tensor) -> torch.Tensor:
        """The critic at each point x alone, as the pack (x, ..., x) of m copies: the map the view draws."""
        return self.score(x.repeat(1, self.config.pack))

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """g(z) with the trained weights θ: what the losses see."""
        return self.generator(z)

    def generate_shown(self, z: torch.Tensor) -> torch.Tensor:
        """g(z) with the averaged weights θ̄ where `ema` is on, else θ: what samples, pictures and metrics show."""
        return (self.generator if self.generator_ema is None else self.generator_ema)(z)

    def loss(self, x: torch.Tensor, phase: str = "D") -> dict[str, torch.Tensor]:
        """One phase's loss on a batch: len(x) // m packs of data and as many packs of fakes."""
        m = self.config.pack
        u_real = packed(x, m)
        z = torch.randn(len(u_real) * m, self.config.latent_dim, device=x.device, generator=self.rng)
        if phase == "G":
            return {"loss": self.g_loss(self.critic(self.generate(z)))}
        with torch.no_grad():
            u_fake = packed(self.generate(z), m)
        d_real, d_fake = self.score(u_real), self.score(u_fake)
        loss_d = self.d_loss(d_real, d_fake)
        out = {"real": self.critic_value(d_real).mean(), "fake": self.critic_value(d_fake).mean(),
               **self.d_diagnostics(d_real, d_fake, loss_d)}
        penalty = self.penalty(u_real, u_fake)
        if penalty is not None:
            out["penalty"] = penalty
            loss_d = loss_d + penalty
        return {"loss": loss_d, **out}

    def after_step(self, phase: str) -> None:
        if phase == "G":
            self.g_steps += 1
            if self.generator_ema is not None:
                update_average(self.generator_ema, self.generator, self.config.ema, self.g_steps)
            if self.timeline.due(self.g_steps):
                self._record()

    def _record(self) -> None:
        n = N_TIMELINE_IMAGES if len(self.shape) == 3 else N_FIXED
        with torch.no_grad():
            x = self.generate_shown(self.z_fixed[:n]).cpu().numpy()
        self.timeline.add(self.g_steps, x.reshape(n, *self.shape[-2:]) if len(self.shape) == 3 else x)

    # -- using the model ----------------------------------------------------------------------
    def sample(self, n: int) -> torch.Tensor:
        return self.generate_shown(torch.randn(n, self.config.latent_dim, device=self.device, generator=self.rng))

    def generator_gradient(self, x_fake: torch.Tensor) -> torch.Tensor:
        """-∂ℓ_G/∂x for each fake point: where the generator loss pushes it (GAN Lab's arrows).

        With packing, ℓ_G of the drawn map: the critic on m copies of each point (`critic_on_copies`).
        """
        with torch.enable_grad():
            x = x_fake.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.g_loss(self.critic_on_copies(x)) * len(x), x)
        return -grad

    def manifold(self) -> torch.Tensor:
        """g of a grid of z lines (z_1, z_2 in [-3, 3], other coordinates 0): (lines, points, dim)."""
        t = torch.linspace(-MANIFOLD_RANGE, MANIFOLD_RANGE, MANIFOLD_POINTS, device=self.device)
        ticks = torch.linspace(-MANIFOLD_RANGE, MANIFOLD_RANGE, MANIFOLD_LINES, device=self.device)
        z = torch.zeros(1 if self.config.latent_dim == 1 else 2 * MANIFOLD_LINES, MANIFOLD_POINTS,
                        self.config.latent_dim, device=self.device)
        z[..., 0] = t
        if self.config.latent_dim > 1:
            z[:MANIFOLD_LINES, :, 1] = ticks[:, None]
            z[MANIFOLD_LINES:, :, 0], z[MANIFOLD_LINES:, :, 1] = ticks[:, None], t
        return self.generate_shown(z.reshape(-1, self.config.latent_dim)).reshape(len(z), MANIFOLD_POINTS, -1)

    @torch.no_grad()
    def visuals(self, grid: torch.Tensor | None) -> dict[str, np.ndarray]:
        """Fixed-z samples (they move only when G steps), critic on the grid, arrows, manifold, timeline."""
        out = {"timeline": np.stack(self.timeline.samples), "timeline_step": np.array(self.timeline.steps)}
        if len(self.shape) == 3:
            images = self.generate_shown(self.z_fixed[:N_IMAGES])
            return {**out, "images": images.reshape(N_IMAGES, *self.shape[-2:]).cpu().numpy()}
        x_fake = self.generate_shown(self.z_fixed)
        out.update(samples=x_fake.cpu().numpy(), arrows_x=x_fake[:N_ARROWS].cpu().numpy(),
                   arrows_v=self.generator_gradient(x_fake[:N_ARROWS]).cpu().numpy())
        if grid is not None:
            gx, gy = widened(grid, VIEW_WIDENING)
            out.update(grid_x=gx.cpu().numpy(), grid_y=gy.cpu().numpy())
            plane = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).reshape(-1, 2)
            out["critic"] = self.critic_value(self.critic_on_copies(plane)).cpu().numpy()
        if self.dim == 2:
            out["manifold"] = self.manifold().cpu().numpy()
        return out


def widened(grid: torch.Tensor, factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The axis ticks of a square (G*G, 2) grid (x varying fastest), widened by `factor` about its centre."""
    g = math.isqrt(len(grid))
    axes = grid[:g, 0], grid[::g, 1]
    return tuple(a.mean() + (a - a.mean()) * factor for a in axes)


class NSGAN(GAN):
    """Non-saturating GAN: the same critic, the generator maximises π0[log D∘g] instead; optionally R1."""

    Config = NSGANConfig

    def g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """-π0[log D∘g] = π0[softplus(-l)]: strong gradients exactly where D rejects the fakes."""
        return F.softplus(-d_fake).mean()

    def penalty(self, u_real, u_fake):
        """γ/2 E_data[‖∇ l‖²] (Mescheder et al. 2018, eq. 9) on the packs of data, or None for γ = 0."""
        if self.config.r1 == 0:
            return None
        return self.config.r1 * r1_penalty(self.score, u_real)


class LSGAN(GAN):
    """Least-squares GAN (Mao et al. 2017) with the notes' targets a, b, c and no 1/2 factors."""

    Config = LSGANConfig
    critic_label = "d(x) (least squares)"

    def d_loss(self, d_real, d_fake):
        """π[(d - b)²] + π0[(d∘g - a)²]; its minimiser is d* = (b p + a p_g) / (p + p_g)."""
        return ((d_real - self.config.b) ** 2).mean() + ((d_fake - self.config.a) ** 2).mean()

    def g_loss(self, d_fake):
        """π0[(d∘g - c)²]."""
        return ((d_fake - self.config.c) ** 2).mean()

    def critic_value(self, d):
        return d

    def d_diagnostics(self, d_real, d_fake, loss_d):
        return {}

    @classmethod
    def optimal_critic(cls, config, d_star):
        """d* = (b p + a p_g) / (p + p_g) = a + (b - a) D*, with D* of the packs (m copies of x)."""
        return config.a + (config.b - config.a) * packed_optimum(d_star, config.pack)

    @classmethod
    def critic_range(cls, config):
        return (min(config.a, config.b), max(config.a, config.b))


class WassersteinGAN(GAN):
    """The Wasserstein loss pair shared by WGAN and WGAN-GP (the notes' "Wasserstein GAN").

    The critic maximises the IPM estimate π[f] - π0[f∘g]; the two differ in how they keep f Lipschitz.
    """

    critic_label = "critic f(x)"

    def d_loss(self, d_real, d_fake):
        """-(π[f] - π0[f∘g])."""
        return d_fake.mean() - d_real.mean()

    def g_loss(self, d_fake):
        """-π0[f∘g]."""
        return -d_fake.mean()

    def critic_value(self, d):
        return d

    def d_diagnostics(self, d_real, d_fake, loss_d):
        """The critic's estimate of W1 (up to its Lipschitz constant)."""
        return {"w1": d_real.mean() - d_fake.mean()}

    @classmethod
    def optimal_critic(cls, config, d_star) -> None:
        """None: the optimal critic is a Kantorovich potential, with no pointwise formula in p and p_g."""

    @classmethod
    def critic_range(cls, config) -> None:
        """None: the critic is unbounded (only its slope is controlled)."""


class WGAN(WassersteinGAN):
    """Weight clipping keeps the critic Lipschitz (Arjovsky et al. 2017, Algorithm 1)."""

    Config = WGANConfig

    def configure_optimizers(self, lr):
        """RMSprop, as momentum-based optimisers were unstable with clipping (ibid. §3)."""
        c = self.config
        return {"D": torch.optim.RMSprop(self.critic_net.parameters(), lr=c.lr_d),
                "G": torch.optim.RMSprop(self.generator.parameters(), lr=c.lr_g)}

    def after_step(self, phase):
        if phase == "D":
            with torch.no_grad():
                for p in self.critic_net.parameters():
                    p.clamp_(-self.config.clip, self.config.clip)
        super().after_step(phase)


class WGANGP(WassersteinGAN):
    """A gradient penalty keeps the critic Lipschitz (Gulrajani et al. 2017; the notes' "Stability with
    gradient penalty")."""

    Config = WGANGPConfig

    def penalty(self, u_real, u_fake):
        """λ E[(‖∇f(x̂)‖ - 1)²] on random interpolates between packs of data and packs of fakes."""
        eps = torch.rand(len(u_real), device=u_real.device, generator=self.rng)
        return self.config.gp_lambda * gradient_penalty(self.score, u_real, u_fake, eps)
