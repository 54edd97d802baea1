"""The course's second session: diffusion (DDPM), score matching, flow matching and
energy-based models, with likelihoods through the probability-flow ODE."""
