"""The `banli` console script: the engine's commands plus `serve`, which needs the web app."""
from __future__ import annotations

import click

from engine.cli import main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Reload on code changes (development only).")
def serve(host: str, port: int, debug: bool) -> None:
    """Run the web server (development server; see README for production)."""
    from web import create_app

    create_app().run(host=host, port=port, debug=debug, use_reloader=debug)


if __name__ == "__main__":
    main()
