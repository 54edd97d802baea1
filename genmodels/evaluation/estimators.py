"""Variance of the ELBO's gradient estimators w.r.t. the encoder parameters φ (Roeder et al. 2017).

For one fixed minibatch, each z draw gives one estimate of ∇_φ L (the minibatch mean ELBO).
Three estimators of the same gradient (course notes, "Gradient estimators"):
- "total": total derivative of the Monte Carlo ELBO log p(x, z) - log q_φ(z|x), z = g_φ(x, ε);
- "path": the same with the score term ∇_φ log q_φ(z|x) dropped (gradient stopped through the
  variational parameters in log q); zero variance when q_φ(z|x) is the exact posterior,
  since then log p(x, z) - log q(z|x) = log p(x) does not depend on z;
- "closed": reparameterised reconstruction term plus the closed-form KL (Gaussian prior only).
"""

from __future__ import annotations

import torch

ESTIMATORS = {"total": ("total", "mc"), "path": ("path", "mc"), "closed": ("total", "closed")}


def estimator_gradients(model, x: torch.Tensor, draws: int, estimator: str) -> torch.Tensor:
    """`draws` independent estimates of ∇_φ mean_b ELBO(x_b), one z per x_b each: (draws, |φ|).

    The draws are vectorised with torch.func: `vmap` (different randomness per draw) of the
    `grad` of the model's call, `elbo_terms`, as a function of φ alone.
    """
    estimator, kl_estimate = ESTIMATORS[estimator]
    phi = {name: p.detach() for name, p in model.variational_parameters().items()}

    def elbo(phi):
        recon, kl = torch.func.functional_call(model, phi, (x, estimator, kl_estimate))
        return (recon - kl).mean()

    with torch.no_grad():  # torch.func.grad still differentiates; no graph for the other parameters
        grads = torch.func.vmap(lambda _: torch.func.grad(elbo)(phi), randomness="different")(torch.arange(draws))
    return torch.cat([grads[name].reshape(draws, -1) for name in phi], 1)


def gradient_variance(model, x: torch.Tensor, draws: int, seed: int = 0) -> dict[str, float]:
    """Mean over φ's coordinates of each estimator's variance across z draws (the same draws ε for all).

    The Monte Carlo draws use their own seed, so measuring leaves the training randomness alone.
    """
    out = {}
    for name in ESTIMATORS:
        if name == "closed" and not model.has_closed_kl:
            out[name] = float("nan")
            continue
        with model.drawing_from(torch.Generator(model.device).manual_seed(seed)):
            out[name] = float(estimator_gradients(model, x, draws, name).var(0).mean())
    return out
