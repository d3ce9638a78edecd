"""gunicorn settings for ``pathfinder serve`` (override any with GUNICORN_CMD_ARGS)."""

import multiprocessing
import os

bind = os.environ.get("PATHFINDER_BIND", "127.0.0.1:8000")
# Sync workers: each request holds one database connection for its transaction.
workers = int(os.environ.get("PATHFINDER_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("PATHFINDER_THREADS", "1"))
# gunicorn's own refusals (414, 431, 400) answered as problem+json like the app's
# (pathfinder.serving); gthread when threads are asked for, as gunicorn would pick.
worker_class = (
    "pathfinder.serving.ProblemThreaded" if threads > 1 else "pathfinder.serving.ProblemSync"
)
# Request-line and header limits, set here rather than left to gunicorn's defaults: a URL of
# up to 8190 bytes (gunicorn's maximum; its default is 4094) holds every query the API
# documents, and a longer one is a 414 problem. Bodies are limited by the app
# (PATHFINDER_MAX_CONTENT_LENGTH, 413). docs/api.md, "Limits".
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
timeout = 60
graceful_timeout = 30
keepalive = 5
# Log to stderr; the app's own logs are JSON in production (pathfinder.logs).
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss rid=%({x-request-id}o)s'
# Masks the tokens of /invitations/<token>, /exports/<token> and ?token= in that line.
logger_class = "pathfinder.access_log.RedactingLogger"
# Workers import the app after forking: each opens its own database pool.
preload_app = False

# Prometheus multi-process mode: every worker writes its metrics to files in one directory
# and a scrape of any worker adds them up (pathfinder.metrics). The directory must be set
# before the workers import the app, and emptied at start so a previous run's counts do
# not carry over.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="pathfinder-metrics-")
    _OWN_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]
else:
    _OWN_METRICS_DIR = None


def on_starting(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    import glob

    for stale in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(stale)


def child_exit(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    # A dead worker's gauges (livesum) stop counting; its counters stay in the sum.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    if _OWN_METRICS_DIR:
        import shutil

        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)
