"""Hosts as Ray actors, for a class bigger than one machine (GENMODELS_RAY_ADDRESS=auto or HOST:PORT).

Each actor is a `Host` holding one CPU (or one GPU where the cluster has them), so Ray spreads the
hosts over the nodes. The actors are named and detached in one namespace: several Streamlit
replicas behind a sticky proxy find the same hosts and share them. Ray is imported only here, and
only when the address is set. An actor that dies with its node raises `HostLost` in its caller;
Ray does not restart it (its state would be lost anyway): the pool moves its runs from their
last states onto the live hosts.
"""

from __future__ import annotations

from pathlib import Path

from .host import CALL_TIMEOUT, Host, HostLost

NAMESPACE = "genmodels"
READY_TIMEOUT = 90.0  # seconds a new actor may take to start (import torch, on a busy node); longer: no room
ROOT = Path(__file__).resolve().parents[2]  # the checkout, on every node's PYTHONPATH


def connect(address: str) -> int:
    """Join the cluster at `address`; how many hosts it has room for (its GPUs, else its CPUs)."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    resources = ray.cluster_resources()
    return max(1, int(resources.get("GPU", 0) or resources.get("CPU", 1)))


class RayHost:
    """The `index`-th host actor of the cluster (created, or found if another replica made it)."""

    def __init__(self, index: int, **options):
        import ray

        self._ray, self.name = ray, f"host-{index}"
        gpus = 1 if ray.cluster_resources().get("GPU") else 0
        actor = ray.remote(Host).options(name=self.name, get_if_exists=True, lifetime="detached", num_cpus=1,
                                         num_gpus=gpus, max_restarts=0, max_concurrency=4)
        self.actor = actor.remote(**options)
        self.where: dict = {}

    def started(self) -> None:
        """Wait for the actor to answer (`where` it runs); HostLost if no node has room for it in READY_TIMEOUT."""
        try:
            self.where = self.call("ready", timeout=READY_TIMEOUT)
        except HostLost:
            self.stop()  # do not leave it pending
            raise

    def call(self, method: str, *args, timeout: float = CALL_TIMEOUT):
        ray = self._ray
        try:
            return ray.get(getattr(self.actor, method).remote(*args), timeout=timeout)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError,
                ray.exceptions.ActorUnavailableError) as e:
            raise HostLost(f"the training actor {self.name} is gone ({type(e).__name__})") from e

    def stop(self) -> None:
        self._ray.kill(self.actor, no_restart=True)
