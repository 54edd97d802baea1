"""RealNVP's coupling beyond 2D: an odd dimension, so the two halves of the split differ in size."""

import torch

from genmodels.models.flows.realnvp import RealNVP, RealNVPConfig


def perturbed(dim: int) -> RealNVP:
    flow = RealNVP(RealNVPConfig(layers=3, hidden=16), dim).double()
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return flow


def test_log_det_matches_autograd_jacobian_in_5d():
    flow = perturbed(5)
    x = torch.randn(6, 5, dtype=torch.float64)
    _, log_det = flow.to_base(x)
    jacobians = [torch.autograd.functional.jacobian(lambda p: flow.to_base(p[None])[0][0], p) for p in x]
    torch.testing.assert_close(log_det, torch.stack([torch.linalg.slogdet(j)[1] for j in jacobians]))


def test_each_coupling_keeps_x_a_and_inverts_exactly():
    flow = perturbed(5)
    x = torch.randn(32, 5, dtype=torch.float64)
    for coupling in flow.transforms:
        z, log_det = coupling.inverse(x)
        torch.testing.assert_close(z[:, coupling.a], x[:, coupling.a], rtol=0, atol=0)
        assert not torch.allclose(z[:, coupling.b], x[:, coupling.b])
        x_back, log_det_fwd = coupling(z)
        torch.testing.assert_close(x_back, x)
        torch.testing.assert_close(log_det_fwd, -log_det)
    sizes = {(len(c.a), len(c.b)) for c in flow.transforms}
    assert sizes == {(3, 2), (2, 3)}  # even dims pass in even layers, odd dims in odd layers
