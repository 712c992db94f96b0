"""The Local backend on a Ray Serve cluster: N replicas, each one pipeline, behind the OpenAI images API.

    FLUX_DEVICE=cpu OPENAI_SERVE_KEY=... serve run serving.cluster:app replicas=2 port=8000

``app(args)`` is the application builder ``serve run`` calls with the ``key=value`` arguments:

- ``replicas`` (1): replicas to start with; ``min_replicas``/``max_replicas`` (default ``replicas``) bound
  autoscaling on ongoing requests, ``target_ongoing`` (2) per replica;
- ``port`` (8000), ``host`` (127.0.0.1; 0.0.0.0 in a pod): where Serve's HTTP proxy listens;
- ``threads`` (1): CPU threads per replica when FLUX_DEVICE=cpu; otherwise each replica takes one GPU;
- ``max_ongoing`` (MAX_WAITING): requests a replica holds (running and queued) before Serve waits.

Every replica reads the usual FLUX_* settings and OPENAI_SERVE_KEY from its environment (inherited from
``serve run`` on one machine; the pod spec on KubeRay), so the key never travels in Ray's own config.
FLUX_COMPILE_CACHE on a shared path lets a replica started after the first reuse its compiled blocks.
LIBRARY_DIR, when set, keeps served images in that library as the app does (one machine, one SQLite).

The request rules, error shapes and library hook are serving/openai_images.py's ``ImagesService``:
this module only adapts it to Ray Serve. Ray is imported here and nowhere else.
"""

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from ray import serve

from serving.openai_images import (
    MAX_WAITING,
    ImagesService,
    file_endpoint,
    generations_endpoint,
    models_endpoint,
)

log = logging.getLogger("ray.serve")
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class ClusterArgs:
    """The builder's arguments, checked."""

    min_replicas: int = 1
    max_replicas: int = 1
    initial_replicas: int = 1
    target_ongoing: float = 2
    max_ongoing: int = MAX_WAITING
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    threads: int = 1
    cpu: bool = False


def _int(args: Mapping[str, object], name: str, default: int, low: int = 1, high: int = 65535) -> int:
    raw = args.get(name, default)
    try:
        value = int(str(raw))
    except ValueError:
        raise ValueError(f"{name}={raw!r}: use a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}={value}: use {low}–{high}")
    return value


def parse_args(args: Mapping[str, object], env: Mapping[str, str] | None = None) -> ClusterArgs:
    """``serve run``'s ``key=value`` arguments (strings) and FLUX_DEVICE → ``ClusterArgs``.

    ValueError says which argument is wrong and what it takes.
    """
    env = os.environ if env is None else env
    known = {"replicas", "min_replicas", "max_replicas", "target_ongoing", "max_ongoing", "port", "host", "threads"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise ValueError(f"unknown argument {unknown[0]!r}: use {', '.join(sorted(known))}")
    replicas = _int(args, "replicas", 1, 1, 64)
    low = _int(args, "min_replicas", replicas, 0, 64)
    high = _int(args, "max_replicas", max(replicas, low), 1, 64)
    if not low <= high or not low <= replicas <= high:
        raise ValueError(f"replicas: need min_replicas ≤ replicas ≤ max_replicas, got {low}, {replicas}, {high}")
    target = float(str(args.get("target_ongoing", 2)))
    if not 0 < target <= 64:
        raise ValueError(f"target_ongoing={target}: use a number above 0, up to 64")
    return ClusterArgs(
        min_replicas=low,
        max_replicas=high,
        initial_replicas=replicas,
        target_ongoing=target,
        max_ongoing=_int(args, "max_ongoing", MAX_WAITING, 1, 256),
        port=_int(args, "port", DEFAULT_PORT),
        host=str(args.get("host", "127.0.0.1")),
        threads=_int(args, "threads", 1, 1, 256),
        cpu=(env.get("FLUX_DEVICE") or "").strip().lower() == "cpu",
    )


def deployment_options(cargs: ClusterArgs) -> dict:
    """``Deployment.options(...)`` for these arguments: autoscaling, the per-replica queue and resources."""
    resources = {"num_cpus": cargs.threads} if cargs.cpu else {"num_cpus": 1, "num_gpus": 1}
    return {
        "autoscaling_config": {
            "min_replicas": cargs.min_replicas,
            "initial_replicas": cargs.initial_replicas,
            "max_replicas": cargs.max_replicas,
            "target_ongoing_requests": cargs.target_ongoing,
        },
        "max_ongoing_requests": cargs.max_ongoing,
        "ray_actor_options": resources,
        "health_check_period_s": 10,
        "health_check_timeout_s": 30,
        # A replica loads (and may compile) its pipeline before it takes requests.
        "graceful_shutdown_timeout_s": 30,
    }


def _open_library(env: Mapping[str, str]):
    """The library hook, only when LIBRARY_DIR names one (a cluster keeps nothing by default)."""
    if not (env.get("LIBRARY_DIR") or "").strip():
        return None
    import config as app_config
    from library import Library
    from runs.keeper import served_run_keeper

    where = app_config.load(env).library  # the settings merge replaced LibraryConfig.from_env
    return (lambda local: served_run_keeper(Library.open(where), local)) if where.dir else None


fastapi_app = FastAPI(title="FLUX.1 [schnell] Local, OpenAI images API", docs_url=None, redoc_url=None)


@serve.deployment(name="flux-local")
@serve.ingress(fastapi_app)
class FluxReplica:
    """One replica: one Local backend (one pipeline on one GPU, or CPU threads), loaded before it takes calls."""

    def __init__(self, threads: int = 1) -> None:
        import config
        from backends.local import LocalBackend

        started = time.perf_counter()
        context = serve.get_replica_context()
        self.replica = getattr(getattr(context, "replica_id", None), "unique_id", None) or str(os.getpid())
        loaded = config.load(os.environ)  # every setting read once, as the app reads them
        settings = loaded.serving
        if not settings.key:
            raise RuntimeError("OPENAI_SERVE_KEY is not set in the replica's environment")
        local_settings = loaded.backends.local
        if local_settings.device == "cpu":
            import torch

            torch.set_num_threads(threads)  # replicas share the machine's cores, one slice each
        self.local = LocalBackend(local_settings)
        keeper = _open_library(os.environ)
        hook = keeper(self.local) if keeper else None
        self.service = ImagesService(self.local, settings.key, settings.max_waiting, hook)
        # Loading (and compiling, where it is on) here keeps Serve from routing to this replica until it is
        # ready: `serve status` shows it STARTING meanwhile, and its log says each stage.
        self.local.ensure_loaded(lambda stage: log.info("flux replica: %s", stage))
        self.ready_s = time.perf_counter() - started
        log.info("flux replica ready in %.1f s: %s", self.ready_s, self.local.status().message)

    def check_health(self) -> None:
        """Serve calls this periodically; raising marks the replica unhealthy (it is restarted)."""
        status = self.local.status()
        if not status.ready or self.local.loaded is None:
            raise RuntimeError(f"flux replica not ready: {status.message}")

    def _tagged(self, response: Response) -> Response:
        # Which replica answered: for the tests and the bench, and for reading logs; it names no secret.
        response.headers["X-Flux-Replica"] = self.replica
        return response

    @fastapi_app.post("/v1/images/generations")
    async def generations(self, request: Request):
        return self._tagged(await generations_endpoint(self.service, request))

    @fastapi_app.get("/v1/models")
    async def models(self, request: Request):
        return self._tagged(await models_endpoint(self.service, request))

    @fastapi_app.get("/v1/images/files/{name}")
    async def file(self, request: Request):
        return self._tagged(await file_endpoint(self.service, request))

    @fastapi_app.get("/health")
    async def health(self) -> dict:
        """No key needed: whether this replica is loaded, how, and how long it took to be ready."""
        status = self.local.status()
        ready = self.local.loaded is not None
        return {"ready": ready, "status": status.message, "ready_s": round(self.ready_s, 2), "replica": self.replica}


def app(args: dict[str, str]) -> serve.Application:
    """The application builder: ``serve run serving.cluster:app replicas=2 port=8000``."""
    cargs = parse_args(args)
    import config

    config.load(os.environ)  # a bad setting (e.g. a short key) stops here, with its one-line reason
    if not (os.environ.get("OPENAI_SERVE_KEY") or "").strip():
        raise ValueError("OPENAI_SERVE_KEY is not set: the cluster serves only callers with the key")
    # `serve run` has no port option: start Serve's HTTP proxy where asked before the app is deployed.
    serve.start(http_options={"host": cargs.host, "port": cargs.port})
    return FluxReplica.options(**deployment_options(cargs)).bind(cargs.threads)
