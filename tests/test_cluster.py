"""The Ray Serve application (serving/cluster.py): its builder's arguments and options, and one real
2-replica CPU cluster with the tiny random FLUX model answering the official openai client.

The real cluster is one module fixture (one ``serve run``, about a minute on 2 CPU cores), marked
``cluster`` so CI can run or skip it as one piece: ``pytest -m cluster tests/test_cluster.py``.
"""

from __future__ import annotations

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from PIL import Image

pytest.importorskip("ray.serve", reason="ray[serve] is in requirements-ray.txt (scripts/test.sh installs it)")

from serving import cluster  # noqa: E402
from serving.openai_images import ImagesService  # noqa: E402

KEY = "cluster-secret-5e6f7a8b9c0d"


# --- the builder -------------------------------------------------------------------------------
def test_the_builder_reads_serve_runs_string_arguments():
    args = cluster.parse_args({"replicas": "2", "port": "8123"}, {"FLUX_DEVICE": "cpu"})
    assert (args.min_replicas, args.initial_replicas, args.max_replicas) == (2, 2, 2)
    assert (args.port, args.host, args.threads, args.cpu) == (8123, "127.0.0.1", 1, True)
    scaled = cluster.parse_args({"replicas": "1", "max_replicas": "4", "target_ongoing": "1.5"}, {})
    assert (scaled.min_replicas, scaled.initial_replicas, scaled.max_replicas) == (1, 1, 4)
    assert scaled.target_ongoing == 1.5 and not scaled.cpu
    assert cluster.parse_args({}, {}) == cluster.ClusterArgs()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"replica": "2"}, "unknown argument 'replica'"),
        ({"replicas": "two"}, "replicas='two': use a whole number"),
        ({"replicas": "0"}, "replicas=0: use 1–64"),
        ({"replicas": "3", "max_replicas": "2"}, "min_replicas ≤ replicas ≤ max_replicas"),
        ({"port": "70000"}, "port=70000"),
        ({"target_ongoing": "0"}, "target_ongoing=0.0"),
    ],
)
def test_bad_builder_arguments_say_which(args, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        cluster.parse_args(args, {})


def test_gpu_replicas_take_one_gpu_each_and_cpu_replicas_their_threads():
    gpu = cluster.deployment_options(cluster.parse_args({"replicas": "2", "max_replicas": "8"}, {}))
    assert gpu["ray_actor_options"] == {"num_cpus": 1, "num_gpus": 1}
    assert gpu["autoscaling_config"] == {
        "min_replicas": 2,
        "initial_replicas": 2,
        "max_replicas": 8,
        "target_ongoing_requests": 2.0,
    }
    assert gpu["max_ongoing_requests"] == cluster.MAX_WAITING
    cpu = cluster.deployment_options(cluster.parse_args({"threads": "3"}, {"FLUX_DEVICE": "cpu"}))
    assert cpu["ray_actor_options"] == {"num_cpus": 3}


def test_the_builder_starts_serve_on_the_port_and_binds_the_replica(monkeypatch):
    started, chosen = [], []
    monkeypatch.setattr(cluster.serve, "start", lambda **kw: started.append(kw))
    real = cluster.FluxReplica.options
    monkeypatch.setattr(cluster.FluxReplica, "options", lambda **kw: chosen.append(kw) or real(**kw))
    monkeypatch.setenv("OPENAI_SERVE_KEY", KEY)
    monkeypatch.setenv("FLUX_DEVICE", "cpu")
    application = cluster.app({"replicas": "2", "port": "8124"})
    assert started == [{"http_options": {"host": "127.0.0.1", "port": 8124}}]
    assert chosen[0]["autoscaling_config"]["min_replicas"] == 2 and chosen[0]["ray_actor_options"] == {"num_cpus": 1}
    assert type(application).__name__ == "Application"
    monkeypatch.delenv("OPENAI_SERVE_KEY")
    with pytest.raises(ValueError, match="OPENAI_SERVE_KEY is not set"):
        cluster.app({})


# --- a real 2-replica cluster ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def running(tiny_model, tmp_path_factory):
    """``serve run serving.cluster:app replicas=2`` on the CPU, as the README says; yields its base URL."""
    from bench.bench_cluster import serve_run

    env = {
        "FLUX_MODEL": str(tiny_model),
        "FLUX_DEVICE": "cpu",
        "OPENAI_SERVE_KEY": KEY,
        "LIBRARY_DIR": "off",
        "FLUX_COMPILE_CACHE": str(tmp_path_factory.mktemp("compile-cache")),
    }
    with serve_run(["replicas=2"], env, tmp_path_factory.mktemp("serve") / "serve.log") as url:
        yield url


def client(url: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)


@pytest.mark.cluster
def test_the_cluster_serves_the_openai_client_seeded_pngs_with_our_chunks(running):
    raw = client(running).images.with_raw_response.generate(
        prompt="a red fox", n=2, size="128x64", extra_body={"seed": 5, "num_inference_steps": 2}
    )
    result = raw.parse()
    images = [Image.open(io.BytesIO(base64.b64decode(d.b64_json))) for d in result.data]
    assert [(im.format, im.size) for im in images] == [("PNG", (128, 64))] * 2
    assert [d.model_extra["seed"] for d in result.data] == [5, 6]
    assert "Seed: 5" in images[0].text["parameters"]
    assert raw.headers["x-flux-replica"]


@pytest.mark.cluster
def test_the_cluster_streams_partial_images_then_the_completed_one(running):
    events = list(
        client(running).images.generate(
            prompt="a red fox",
            size="128x64",
            stream=True,
            partial_images=2,
            output_format="webp",
            extra_body={"seed": 7, "num_inference_steps": 4},
        )
    )
    assert [ev.type for ev in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [ev.partial_image_index for ev in events[:2]] == [0, 1]
    previews = [Image.open(io.BytesIO(base64.b64decode(ev.b64_json))) for ev in events]
    assert [(im.format, im.size) for im in previews] == [("WEBP", (16, 8))] * 2 + [("WEBP", (128, 64))]
    assert all(ev.size == "128x64" and ev.output_format == "webp" for ev in events)
    assert events[-1].usage.total_tokens == 0


@pytest.mark.cluster
def test_the_cluster_refuses_as_the_app_does(running):
    service = ImagesService(object(), KEY)
    with pytest.raises(openai.AuthenticationError) as caught:
        client(running, key="not-the-key").images.generate(prompt="a red fox")
    assert caught.value.status_code == 401
    assert caught.value.response.json() == service.admit("Bearer not-the-key", b"{}").body
    bad = {"prompt": "a red fox", "size": "100x100"}
    reply = httpx.post(f"{running}/v1/images/generations", json=bad, headers={"Authorization": f"Bearer {KEY}"})
    assert reply.status_code == 400 and reply.json() == service.admit(f"Bearer {KEY}", json.dumps(bad).encode()).body


@pytest.mark.cluster
def test_both_replicas_take_calls(running):
    def one(seed: int) -> str:
        raw = client(running).images.with_raw_response.generate(
            prompt="a lighthouse", size="64x64", extra_body={"seed": seed, "num_inference_steps": 4}
        )
        return raw.headers["x-flux-replica"]

    with ThreadPoolExecutor(6) as pool:
        replicas = set(pool.map(one, range(1, 7)))
    assert len(replicas) == 2
