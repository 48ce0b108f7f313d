"""The `banli` command line. Each command is a few lines over an engine function."""
from __future__ import annotations

import click


@click.group()
def main() -> None:
    """banli 办理: deputies' suggestions and members' proposals on BPMN processes."""


if __name__ == "__main__":
    main()
