"""The `banli` console script: the engine's commands plus `serve`, which needs the web app."""
from __future__ import annotations

import logging
import os

import click

from engine.cli import main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Reload on code changes (development only).")
@click.option("--prod", is_flag=True, help="Serve with gunicorn and several worker processes.")
@click.option("--workers", type=int, default=None,
              help="Worker processes for --prod [default: WEB_CONCURRENCY, else 2 x CPUs + 1].")
def serve(host: str, port: int, debug: bool, prod: bool, workers: int | None) -> None:
    """Run the web server: the development server, or gunicorn with --prod."""
    if prod:
        if debug:
            raise click.UsageError("--debug is for the development server, not --prod")
        _serve_gunicorn(host, port, workers or default_workers())
        return
    from web import create_app

    create_app().run(host=host, port=port, debug=debug, use_reloader=debug)


def default_workers() -> int:
    return int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1) + 1)


def _serve_gunicorn(host: str, port: int, workers: int) -> None:
    """gunicorn in-process: each worker builds its own app and database pool after the fork (no preload),
    so no connection is shared between processes."""
    from gunicorn.app.base import BaseApplication

    from engine import logs
    from engine.config import settings

    conf = settings()
    if not conf.secret_key:  # every web machine must sign with the same key: no per-machine generated one
        raise click.UsageError("SECRET_KEY is not set: in production every web worker and machine must sign "
                               "sessions with the same key. Set SECRET_KEY to a long random value.")
    if conf.database_url.startswith("sqlite") and workers > 1:
        logging.getLogger("banli.web").warning(
            "serving SQLite with several workers: writes queue behind one lock; use PostgreSQL "
            "(DATABASE_URL) beyond one office", extra={"workers": workers})

    class Server(BaseApplication):
        def load_config(self):
            for key, value in {
                "bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread", "threads": 4,
                "timeout": 60, "graceful_timeout": 30, "max_requests": 2000, "max_requests_jitter": 200,
                "logconfig_dict": logs.dict_config(), "accesslog": None,  # the app logs each request
                "proc_name": "banli-web",
            }.items():
                self.cfg.set(key, value)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 24: one shared path per user
                self.cfg.set("control_socket_disable", True)

        def load(self):
            return production_app()

    Server().run()


def production_app(config: dict | None = None):
    """A gunicorn worker's app, made ready before it takes a request: its processes parsed and its templates
    compiled (a fresh worker's first task page spent half a second on both, on a user's time), then what it loaded
    frozen out of the garbage collector's walks (engine.heap). A database that does not answer yet does not stop
    the boot (deployment.warm_at_start)."""
    from engine import heap
    from engine.workflow.deployment import warm_at_start
    from web import create_app

    app = create_app({"PRODUCTION": True, **(config or {})})
    warm_at_start(app.extensions["banli_db"], "web worker")
    for name in app.jinja_env.list_templates(filter_func=lambda n: n.endswith(".html")):
        app.jinja_env.get_template(name)
    heap.settle()
    return app


if __name__ == "__main__":
    main()
