"""Small building blocks shared by the models."""

from __future__ import annotations

from torch import nn


def mlp(d_in: int, d_out: int, hidden: int, depth: int = 2, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """d_in -> hidden (x depth, with act) -> d_out."""
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), act()]
        d = hidden
    return nn.Sequential(*layers, nn.Linear(d, d_out))


def downsamples_twice(shape: tuple[int, ...]) -> bool:
    """True for images (C, H, W) big enough for two stride-2 convolutions (28x28 MNIST, not 8x8 digits)."""
    return len(shape) == 3 and shape[1] >= 16 and shape[1] % 4 == 0 and shape[2] % 4 == 0


def conv_encoder(shape: tuple[int, int, int], d_out: int, hidden: int, width: int = 16) -> nn.Sequential:
    """Flat image (N, C*H*W) -> two stride-2 convolutions -> dense hidden -> d_out."""
    c, h, w = shape
    return nn.Sequential(
        nn.Unflatten(1, shape),
        nn.Conv2d(c, width, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * width * (h // 4) * (w // 4), hidden), nn.ReLU(),
        nn.Linear(hidden, d_out),
    )


def conv_decoder(
    d_in: int, shape: tuple[int, int, int], channels_out: int, hidden: int, width: int = 16
) -> nn.Sequential:
    """d_in -> dense -> two stride-2 transposed convolutions -> flat (N, channels_out*H*W), channel-major."""
    _, h, w = shape
    return nn.Sequential(
        nn.Linear(d_in, hidden), nn.ReLU(),
        nn.Linear(hidden, 2 * width * (h // 4) * (w // 4)), nn.ReLU(),
        nn.Unflatten(1, (2 * width, h // 4, w // 4)),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(width, channels_out, 4, 2, 1),
        nn.Flatten(),
    )
