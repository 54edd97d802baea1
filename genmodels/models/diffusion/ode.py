"""Fixed-step ODE solvers on a time grid, and the instantaneous change of variables.

For dx/dt = v(x, t), one step from t to t + h (h may be negative):
    euler     x + h v(x, t)
    midpoint  x + h v(x + h/2 v(x, t), t + h/2)
    rk4       x + h/6 (k1 + 2 k2 + 2 k3 + k4)   (the classical Runge-Kutta method)
The density follows d log p(x_t)/dt = -div v(x_t, t) (Chen et al. 2018, "Neural ODEs", Thm. 1), so
    log p_a(x_a) = log p_b(x_b) + ∫_a^b div v(x_t, t) dt
along a path from x_a to x_b. Here div v is exact: the trace of the Jacobian, one autograd
backward pass per dimension (two in 2D), no Hutchinson estimator.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x (n, d), t scalar) -> (n, d)
METHODS = ("euler", "midpoint", "rk4")


def step(velocity: Velocity, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor, method: str) -> torch.Tensor:
    """x after one step of `method` from t to t + h."""
    if method == "euler":
        return x + h * velocity(x, t)
    if method == "midpoint":
        return x + h * velocity(x + h / 2 * velocity(x, t), t + h / 2)
    if method == "rk4":
        k1 = velocity(x, t)
        k2 = velocity(x + h / 2 * k1, t + h / 2)
        k3 = velocity(x + h / 2 * k2, t + h / 2)
        k4 = velocity(x + h * k3, t + h)
        return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    raise ValueError(f"unknown ODE method {method!r}; choose one of {', '.join(METHODS)}")


def path(velocity: Velocity, x: torch.Tensor, times: torch.Tensor, method: str = "rk4") -> torch.Tensor:
    """The solution at every time of the grid: (len(times), n, d), starting at x = x(times[0])."""
    states = [x]
    for t, t_next in zip(times[:-1], times[1:]):
        states.append(step(velocity, states[-1], t, t_next - t, method))
    return torch.stack(states)


def divergence(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(f(x), div f(x)) with div f = Σ_i ∂f_i/∂x_i exact by autograd, for f acting row by row.

    Rows are independent, so ∂(Σ_rows f_i)/∂x picks each row's own derivative of f_i.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        fx = f(x)
        div = sum(torch.autograd.grad(fx[:, i].sum(), x, retain_graph=i + 1 < x.shape[1])[0][:, i]
                  for i in range(x.shape[1]))
    return fx.detach(), div.detach()


def log_density_change(velocity: Velocity, x: torch.Tensor, times: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve from x = x(times[0]) to the grid's end by RK4 on the state (x, ∫ div v dt).

    Returns (x at times[-1], ∫_{times[0]}^{times[-1]} div v(x_t, t) dt), so that
    log p_{times[0]}(x) = log p_{times[-1]}(x_end) + integral.
    """

    def augmented(state: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        v, div = divergence(lambda y: velocity(y, t), state[:, :-1])
        return torch.cat([v, div[:, None]], 1)

    state = torch.cat([x, x.new_zeros(len(x), 1)], 1)
    for t, t_next in zip(times[:-1], times[1:]):
        state = step(augmented, state, t, t_next - t, "rk4")
    return state[:, :-1], state[:, -1]
