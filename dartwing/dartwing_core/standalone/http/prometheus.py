"""`/metrics` for Prometheus: the job metrics, computed from the database and RQ at scrape time.

A custom collector (prometheus-client) reads get_job_metrics as an administrator, so every scrape
reflects the rows (the truth: the metrics snapshot and the transitions logged since) rather than one
process's counters.
"""

from __future__ import annotations

from datetime import timezone

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics
from dartwing.dartwing_core.background_jobs.snapshots import BUCKET_KEYS
from dartwing.dartwing_core.background_jobs.status import JobStatus
from dartwing.dartwing_core.background_jobs.tenancy import ADMIN_USER

from ..runtime import QUEUE_NAMES, StandaloneRuntime


class JobCollector:
    def __init__(self, rt: StandaloneRuntime):
        self.rt = rt

    def collect(self):
        rt = self.rt
        rt.set_user(ADMIN_USER)
        try:
            metrics = get_job_metrics(runtime=rt)
        finally:
            rt.rollback()
            rt.set_user(rt.config.user)

        by_status = GaugeMetricFamily("dartwing_jobs", "Background jobs by status", labels=["status"])
        for status in JobStatus:
            by_status.add_metric([status.value], metrics["job_count_by_status"].get(status.value, 0))
        yield by_status

        depth = GaugeMetricFamily("dartwing_queue_depth", "Queued jobs by priority", labels=["priority"])
        for priority, count in metrics["queue_depth_by_priority"].items():
            depth.add_metric([priority], count)
        yield depth

        yield GaugeMetricFamily(
            "dartwing_dead_letter_jobs", "Jobs in the dead letter queue", value=metrics["dead_letter_count"]
        )
        yield GaugeMetricFamily(
            "dartwing_failure_rate",
            "Dead Letter / finished jobs over the last 24 h",
            value=metrics["failure_rate"],
        )
        yield GaugeMetricFamily(
            "dartwing_retry_rate", "Finished jobs that needed a retry, last 24 h", value=metrics["retry_rate"]
        )
        yield GaugeMetricFamily(
            "dartwing_oldest_queued_age_seconds",
            "Age of the oldest Queued job",
            value=metrics["oldest_queued_age_seconds"] or 0,
        )

        processing = metrics["processing_time"]
        buckets, cumulative = [], 0
        for key in BUCKET_KEYS:  # the last one is "+Inf"
            cumulative += processing["buckets"].get(key, 0)
            buckets.append((key, cumulative))
        yield HistogramMetricFamily(
            "dartwing_processing_seconds",
            "Start-to-completion time of jobs completed in the last 24 h (as of the metrics snapshot)",
            buckets=buckets,
            sum_value=processing["total_seconds"],
        )

        heartbeats = GaugeMetricFamily(
            "dartwing_worker_last_heartbeat_timestamp_seconds",
            "Last heartbeat of each RQ worker on the job queues",
            labels=["worker"],
        )
        from rq import Worker

        for worker in Worker.all(connection=rt.redis):
            beat = worker.last_heartbeat
            if beat and set(worker.queue_names()) & set(QUEUE_NAMES):
                beat = beat if beat.tzinfo else beat.replace(tzinfo=timezone.utc)  # RQ stores naive UTC
                heartbeats.add_metric([worker.name], beat.timestamp())
        yield heartbeats


def render(rt: StandaloneRuntime) -> tuple[bytes, str]:
    registry = CollectorRegistry()
    registry.register(JobCollector(rt))
    return generate_latest(registry), CONTENT_TYPE_LATEST
