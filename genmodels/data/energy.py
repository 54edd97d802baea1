"""Unnormalised 2D target densities p(x) ∝ exp(-U(x)), fitted by a flow through the reverse KL.

The four energies U1-U4 of Rezende & Mohamed (2015, Table 1), or an energy a user types as
an arithmetic expression in x1, x2. The expression is parsed with Python's `ast`, checked
against a whitelist (numbers, the variables, + - * / **, whitelisted functions) and compiled
into torch operations; nothing is ever passed to `eval`.

U2-U4 are not integrable along x1, so every target is confined softly to the box [-4, 4]^2
of the paper's figures: p(x) ∝ exp(-U(x) - wall(x)), wall = ½ Σ_i (max(|x_i| - 4, 0) / 0.2)².
"""

from __future__ import annotations

import ast
import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import UserError

Energy = Callable[[torch.Tensor], torch.Tensor]  # (n, 2) -> (n,)

BOX = 4.0
WALL_WIDTH = 0.2
# log Z by quadrature over the box plus a margin where the wall has killed the density;
# 256 points per axis give log Z of U1-U4 within 1e-5 of a 1024-point grid
QUADRATURE_POINTS = 256
QUADRATURE_MARGIN = 1.5
# log Z on a grid of half the spacing must agree within this many nats (U1-U4: within 1e-5)
REFINEMENT_TOLERANCE = 1e-2
FLOAT32_MAX = float(torch.finfo(torch.float32).max)
MAX_EXPRESSION_LENGTH = 300


def _w1(x1: torch.Tensor) -> torch.Tensor:
    return torch.sin(2 * math.pi * x1 / 4)


def _w2(x1: torch.Tensor) -> torch.Tensor:
    return 3 * torch.exp(-0.5 * ((x1 - 1) / 0.6) ** 2)


def _w3(x1: torch.Tensor) -> torch.Tensor:
    return 3 * torch.sigmoid((x1 - 1) / 0.3)


def u1(x: torch.Tensor) -> torch.Tensor:
    """A ring of radius 2 cut into two arcs by a mixture along x1."""
    x1 = x[..., 0]
    ring = 0.5 * ((x.norm(dim=-1) - 2) / 0.4) ** 2
    return ring - torch.logaddexp(-0.5 * ((x1 - 2) / 0.6) ** 2, -0.5 * ((x1 + 2) / 0.6) ** 2)


def u2(x: torch.Tensor) -> torch.Tensor:
    """A sine wave x2 = w1(x1)."""
    return 0.5 * ((x[..., 1] - _w1(x[..., 0])) / 0.4) ** 2


def u3(x: torch.Tensor) -> torch.Tensor:
    """The sine wave and a copy shifted down by the bump w2."""
    x1, x2 = x[..., 0], x[..., 1]
    d = x2 - _w1(x1)
    return -torch.logaddexp(-0.5 * (d / 0.35) ** 2, -0.5 * ((d + _w2(x1)) / 0.35) ** 2)


def u4(x: torch.Tensor) -> torch.Tensor:
    """The sine wave and a copy shifted down by the step w3."""
    x1, x2 = x[..., 0], x[..., 1]
    d = x2 - _w1(x1)
    return -torch.logaddexp(-0.5 * (d / 0.4) ** 2, -0.5 * ((d + _w3(x1)) / 0.35) ** 2)


ENERGIES: dict[str, Energy] = {"U1": u1, "U2": u2, "U3": u3, "U4": u4}


# -- safe expressions ------------------------------------------------------------------------
Scalar = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x1, x2) -> values

VARIABLES: dict[str, int] = {"x1": 0, "x2": 1, "x": 0, "y": 1}
CONSTANTS = {"pi": math.pi, "e": math.e}
FUNCTIONS: dict[str, tuple[int, Callable[..., torch.Tensor]]] = {  # name -> (number of arguments, torch op)
    "exp": (1, torch.exp), "log": (1, torch.log), "log1p": (1, torch.log1p), "sqrt": (1, torch.sqrt),
    "abs": (1, torch.abs), "sin": (1, torch.sin), "cos": (1, torch.cos), "tan": (1, torch.tan),
    "sinh": (1, torch.sinh), "cosh": (1, torch.cosh), "tanh": (1, torch.tanh),
    "atan": (1, torch.atan), "arctan": (1, torch.atan), "sigmoid": (1, torch.sigmoid), "softplus": (1, F.softplus),
    "atan2": (2, torch.atan2), "arctan2": (2, torch.atan2), "logaddexp": (2, torch.logaddexp),
    "min": (2, torch.minimum), "max": (2, torch.maximum),
}
BINARY = {ast.Add: torch.add, ast.Sub: torch.sub, ast.Mult: torch.mul, ast.Div: torch.div, ast.Pow: torch.pow}
UNARY = {ast.USub: torch.neg, ast.UAdd: torch.positive}
ALLOWED = (
    "numbers, x1 and x2 (or x and y), pi, e, + - * / ** and the functions " + ", ".join(FUNCTIONS)
)


def parse_energy(text: str) -> Energy:
    """U(x) from an expression such as '0.5 * ((sqrt(x1**2 + x2**2) - 2) / 0.4)**2'; UserError if not allowed."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise UserError(f"the energy expression is {len(text)} characters long; keep it under {MAX_EXPRESSION_LENGTH}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise UserError(f"energy {text!r} is not a valid expression ({e.msg}); allowed: {ALLOWED}") from None
    except (RecursionError, MemoryError, ValueError):
        raise UserError(f"energy {text!r} is nested too deeply") from None
    scalar = _compile(tree.body, text)
    return lambda x: scalar(x[..., 0], x[..., 1])


def _compile(node: ast.AST, text: str) -> Scalar:
    """A closure computing `node` with torch operations; every node type not listed here is refused."""
    match node:
        case ast.Constant(value=value) if type(value) in (int, float):
            c = _number(value, text)
            return lambda x1, x2: torch.full_like(x1, c)
        case ast.Name(id=name) if name in VARIABLES:
            i = VARIABLES[name]
            return lambda x1, x2: (x1, x2)[i]
        case ast.Name(id=name) if name in CONSTANTS:
            c = CONSTANTS[name]
            return lambda x1, x2: torch.full_like(x1, c)
        case ast.Name(id=name):
            raise UserError(f"energy {text!r}: unknown name {name!r}; allowed: {ALLOWED}")
        case ast.BinOp(left=left, op=op, right=right) if type(op) in BINARY:
            f, a, b = BINARY[type(op)], _compile(left, text), _compile(right, text)
            return lambda x1, x2: f(a(x1, x2), b(x1, x2))
        case ast.BinOp(op=ast.BitXor()):
            raise UserError(f"energy {text!r}: write powers with ** (^ is not allowed)")
        case ast.UnaryOp(op=op, operand=operand) if type(op) in UNARY:
            f, a = UNARY[type(op)], _compile(operand, text)
            return lambda x1, x2: f(a(x1, x2))
        case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in FUNCTIONS:
            arity, f = FUNCTIONS[name]
            if len(args) != arity:
                raise UserError(f"energy {text!r}: {name} takes {arity} argument{'s' * (arity > 1)}, got {len(args)}")
            compiled = [_compile(a, text) for a in args]
            return lambda x1, x2: f(*(a(x1, x2) for a in compiled))
        case ast.Call(func=ast.Name(id=name), keywords=[]):
            raise UserError(f"energy {text!r}: unknown function {name!r}; allowed: {ALLOWED}")
    raise UserError(f"energy {text!r}: {_describe(node)} is not allowed; allowed: {ALLOWED}")


def _number(value: int | float, text: str) -> float:
    """A literal as a float; an integer too large for one (0xfff...f, 10**400 written out) is a UserError."""
    try:
        return float(value)
    except OverflowError:
        raise UserError(f"energy {text!r}: the number {_short(value)} is too large (at most about 1.8e308)") from None


def _short(value: int) -> str:
    """Its leading digits and length: a literal of a 300-character expression has at most ~360 digits."""
    digits = str(value)
    return f"{digits[:8]}... ({len(digits)} digits)"


def _describe(node: ast.AST) -> str:
    names = {ast.Attribute: "attribute access (.)", ast.Subscript: "indexing ([])", ast.Lambda: "lambda",
             ast.Call: "this call (keywords or a computed function)", ast.Constant: "this constant (only numbers)",
             ast.Starred: "unpacking (*)"}
    return names.get(type(node), f"'{ast.unparse(node)}' ({type(node).__name__})")


# -- the target --------------------------------------------------------------------------------
def wall(x: torch.Tensor) -> torch.Tensor:
    """The soft box ½ Σ_i (max(|x_i| - BOX, 0) / WALL_WIDTH)²: zero inside [-4, 4]^2."""
    return 0.5 * (F.relu(x.abs() - BOX) / WALL_WIDTH).pow(2).sum(-1)


def box_axes(size: int, margin: float = 0.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.linspace(-BOX - margin, BOX + margin, size, dtype=dtype)


def mesh(axis: torch.Tensor) -> torch.Tensor:
    """The (G*G, 2) points of the square grid axis × axis, x1 varying fastest (as the plots expect)."""
    x1, x2 = torch.meshgrid(axis, axis, indexing="xy")
    return torch.stack([x1, x2], -1).reshape(-1, 2)


class Target:
    """p(x) = exp(-U(x) - wall(x)) / Z for a named energy (U1-U4) or an expression; log Z by quadrature."""

    def __init__(self, spec: str):
        self.spec = spec
        self.potential = ENERGIES[spec] if spec in ENERGIES else parse_energy(spec)
        self.log_z = self._log_normaliser()

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """U(x) + wall(x), the negative unnormalised log density."""
        return self.potential(x) + wall(x)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return -self.energy(x) - self.log_z

    def _log_normaliser(self) -> float:
        """log ∫ exp(-U - wall) by the midpoint rule on a QUADRATURE_POINTS grid in float64; checks U is usable.

        U must be finite everywhere (and within float32's range, in which models train), exp(-U) must fall off
        outside the box, and log Z must not change when each grid cell is split into 2 x 2 cells: a density
        that is not integrable (U = 2 log|x1| near x1 = 0) or narrower than the grid would change with the
        grid, and its log Z would be wrong.
        """
        axis = box_axes(QUADRATURE_POINTS, QUADRATURE_MARGIN, torch.float64)
        spacing = (axis[1] - axis[0]).item()
        fine_axis = torch.cat([axis - spacing / 4, axis + spacing / 4]).sort().values
        x, x_fine = mesh(axis), mesh(fine_axis)
        log_p, log_p_fine = -self._checked_energy(x), -self._checked_energy(x_fine)
        edge = (x.abs() >= BOX + QUADRATURE_MARGIN - 1e-9).any(-1)
        if log_p[edge].max() - log_p.max() > -10:
            raise UserError(f"exp(-U) for energy {self.spec!r} does not fall off outside the box "
                            f"[-{BOX:g}, {BOX:g}]^2; the target's mass must lie inside it")
        log_z = float(torch.logsumexp(log_p, 0)) + 2 * math.log(spacing)
        log_z_fine = float(torch.logsumexp(log_p_fine, 0)) + 2 * math.log(spacing / 2)
        change = log_z_fine - log_z
        if abs(change) > REFINEMENT_TOLERANCE:
            x1, x2 = x_fine[log_p_fine.argmax()].tolist()
            factor = f"{math.exp(change):.3g}" if abs(change) < 700 else f"e^{change:.0f}"
            raise UserError(f"energy {self.spec!r} is not integrable or is too sharp near (x1, x2) = "
                            f"({x1:.2f}, {x2:.2f}): ∫exp(-U) changes by a factor of {factor} "
                            f"on a grid of half the spacing ({spacing / 2:.3f}); U must not go to -inf, and peaks "
                            "must be wider than the grid")
        return log_z

    def _checked_energy(self, x: torch.Tensor) -> torch.Tensor:
        """U + wall at x, which must be finite and within float32's range (where the models evaluate it)."""
        u = self.energy(x)
        bad = ~torch.isfinite(u) | (u.abs() > FLOAT32_MAX)
        if bad.any():
            i = bad.nonzero()[0, 0]
            x1, x2 = x[i].tolist()
            raise UserError(f"energy {self.spec!r} is {u[i].item():.3g} at (x1, x2) = ({x1:.2f}, {x2:.2f}); it must "
                            f"be a finite number everywhere, at most {FLOAT32_MAX:.1e} in size (float32)")
        return u


@functools.lru_cache(maxsize=64)
def target(spec: str) -> Target:
    """The Target of `spec`, built once: the config check, the app's reruns and every model share it."""
    return Target(spec)
