"""A real Celery worker writes heartbeats (so /healthz turns green) and counts its tasks for /metrics."""

import uuid

import pytest

from suite.ops import heartbeat
from suite.tests.ops_support import namespace, own_namespace, process_env, running_worker, wait_until  # noqa: F401

PROBE = "suite.ops.probe"


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_a_real_worker_makes_health_green_and_its_task_counts_reach_metrics(client, tmp_path):
    queue = f"ops-test-{uuid.uuid4().hex[:8]}"
    assert client.get("/healthz").status_code == 503

    with running_worker(process_env(namespace()), queue=queue, log_path=tmp_path / "worker.log") as worker:
        response = wait_until(
            lambda: (r := client.get("/healthz")).status_code == 200 and r,
            timeout=60,
            what="the worker's first heartbeat",
        )
        assert response.json()["checks"]["worker"]["alive_processes"] >= 1
        for outcome in ["success", "success", "success", "failure", "retry"]:
            heartbeat.probe.apply_async(args=[outcome], queue=queue)
        expected = {(PROBE, "success"): 4, (PROBE, "failure"): 1, (PROBE, "retry"): 1}
        wait_until(lambda: heartbeat.task_counts() == expected, timeout=30, what=f"task counts {expected}")

        page = client.get("/metrics").content.decode()

        assert f'troika_celery_tasks_total{{state="success",task="{PROBE}"}} 4.0' in page
        assert f'troika_celery_tasks_total{{state="failure",task="{PROBE}"}} 1.0' in page
        assert f'troika_celery_tasks_total{{state="retry",task="{PROBE}"}} 1.0' in page
        assert "troika_celery_worker_processes_alive 2.0" in page  # the main process and its pool child
        assert worker.poll() is None

    # A clean shutdown removes the worker's heartbeats: health turns red at once, not a minute later.
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert client.get("/healthz").status_code == 503
