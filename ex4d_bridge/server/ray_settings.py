"""What ``serve --ray`` configures (plain data: importing this needs no Ray)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Ex4dError

MIB = 1 << 20


@dataclass(frozen=True)
class RaySettings:
    """``address``: ``auto`` (the cluster this machine belongs to, as ``ray start`` left it) or
    a GCS address ``HOST:PORT``. ``workers``: actors, each running one job at a time with its
    own pipeline (0: one per ``gpus_per_worker`` GPUs of the cluster, or one CPU actor when
    ``gpus_per_worker`` is 0). ``retries``: how often a job whose actor died is run again on
    another actor. ``chunk_bytes``: the largest piece of a result in Ray's object store.
    ``heartbeat_s``: the cluster must answer within this, or generation reports NOT_SERVING."""

    address: str = "auto"
    workers: int = 0
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    retries: int = 1
    chunk_bytes: int = 4 * MIB
    heartbeat_s: float = 10.0
    namespace: str = "ex4d-bridge"

    def validate(self) -> None:
        if not self.address or any(c.isspace() for c in self.address):
            raise Ex4dError(f"--ray {self.address!r} must be 'auto' or the cluster's HOST:PORT")
        if self.address != "auto" and ":" not in self.address:
            raise Ex4dError(
                f"--ray {self.address!r} must be 'auto' or the cluster's HOST:PORT (the address "
                "`ray start --head` printed, port 6379 by default)"
            )
        if not 0 <= int(self.workers) <= 1024:
            raise Ex4dError(f"--ray-workers {self.workers} must be 0 (auto) to 1024")
        if not 0 <= float(self.gpus_per_worker) <= 64:
            raise Ex4dError(f"--ray-gpus-per-worker {self.gpus_per_worker} must be 0 to 64")
        if not 0 < float(self.cpus_per_worker) <= 1024:
            raise Ex4dError(f"--ray-cpus-per-worker {self.cpus_per_worker} must be above 0")
        if not 0 <= int(self.retries) <= 10:
            raise Ex4dError(f"ray retries {self.retries} must be 0 to 10")
        if not 64 * 1024 <= int(self.chunk_bytes) <= 256 * MIB:
            raise Ex4dError("ray chunk_bytes must be 64 KiB to 256 MiB")
        if not 1.0 <= float(self.heartbeat_s) <= 600:
            raise Ex4dError("ray heartbeat_s must be 1 to 600 seconds")
