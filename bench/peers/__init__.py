"""The durable peers that bench/throughput.py runs beside raw RQ and the engine (the `bench` extra).

Each `*_app` module is what that peer's own worker command loads (`celery -A peers.celery_app`,
`dramatiq peers.dramatiq_app`, `procrastinate --app peers.procrastinate_app.app`), configured from
the environment the harness gives its worker processes; `systems` drives every system from the bench
process. A subfolder, so bench/run.py does not take these modules for benchmarks. Not a benchmark.
"""
