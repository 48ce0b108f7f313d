"""The `banli` command line. Each command is a few lines over an engine function."""
from __future__ import annotations

import click

from engine.config import settings
from engine.db import Database


def database() -> Database:
    return Database(settings().database_url)


def initialize(db: Database) -> list[str]:
    """Create the schema, seed the official calendar and deploy `processes/`: safe to run again."""
    from engine.calendar import seed_from_chinesecalendar
    from engine.deployment import deploy_directory

    db.create_all()
    with db.transaction() as s:
        seed_from_chinesecalendar(s)
        return [f"{d.process_id} v{d.version}" + ("" if created else " (unchanged)")
                for d, created in deploy_directory(s)]


@click.group()
def main() -> None:
    """banli 办理: deputies' suggestions and members' proposals on BPMN processes."""


@main.command()
def init() -> None:
    """Create the database, seed the calendar and deploy the processes."""
    for line in initialize(database()):
        click.echo(f"deployed {line}")


@main.command()
def demo() -> None:
    """Load demo units, users and items (once)."""
    from engine.demo import DEMO_PASSWORD, load_demo

    db = database()
    initialize(db)
    with db.transaction() as s:
        created = load_demo(s)
    click.echo(f"demo data loaded; every demo user's password is {DEMO_PASSWORD}" if created
               else "demo data already present")


if __name__ == "__main__":
    main()
