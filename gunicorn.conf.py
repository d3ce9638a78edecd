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
