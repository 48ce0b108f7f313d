"""The `banli` command line. Each command is a few lines over an engine function."""
from __future__ import annotations

import click

from engine import logs, migrations
from engine.config import settings
from engine.db import Database
from engine.models.org import ROLES as ROLE_CHOICES


def database() -> Database:
    return Database(settings().database_url)


def initialize(db: Database) -> list[str]:
    """Create the schema, seed the official calendar and deploy `processes/`: safe to run again."""
    from engine.deadlines.calendar import seed_from_chinesecalendar
    from engine.workflow.deployment import deploy_directory

    migrations.upgrade(db.engine)
    with db.transaction() as s:
        seed_from_chinesecalendar(s)
        return [f"{d.process_id} v{d.version}" + ("" if created else " (unchanged)")
                for d, created in deploy_directory(s)]


@click.group()
def main() -> None:
    """banli 办理: deputies' suggestions and members' proposals on BPMN processes."""
    logs.configure()


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


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def check(files: tuple[str, ...]) -> None:
    """Validate BPMN FILES as a deploy would; exit 1 when any has a problem."""
    from pathlib import Path

    from engine.workflow.validation import check_bpmn

    failed = False
    for name in files:
        problems = check_bpmn(Path(name).read_bytes(), Path(name).name)
        failed = failed or bool(problems)
        for p in problems:
            where = f"{name}:{p.line}" if p.line else name
            click.echo(f"{where}:{f' [{p.element_id}]' if p.element_id else ''} {p.message}")
        if not problems:
            click.echo(f"{name}: ok")
    if failed:
        raise SystemExit(1)


@main.command()
@click.argument("start")
@click.argument("rule")
def deadline(start: str, rule: str) -> None:
    """Print the due date of RULE (5WD, 20D, 1M, 3M or a date) counted from START (YYYY-MM-DD)."""
    from datetime import date

    from engine.deadlines.calendar import calendar_for_cli

    try:
        start_day = date.fromisoformat(start)
    except ValueError:
        raise click.BadParameter(f"{start!r} is not a date (YYYY-MM-DD)", param_hint="START") from None
    cal, note = calendar_for_cli(database())
    try:
        result = cal.deadline(start_day, rule)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="RULE") from None
    click.echo(result.due.isoformat())
    if note:
        click.echo(f"note: {note}", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@main.command()
def tick() -> None:
    """Run one timer sweep now (fires every due timer once)."""
    from engine.scheduler import tick as run_tick

    report = run_tick(database(), settings())
    click.echo(f"fired {report.fired} timer events on {len(report.loaded)} items"
               + (f"; {len(report.failed)} failed" if report.failed else ""))


@main.command()
@click.option("--interval", default=30, show_default=True, help="Seconds between sweeps.")
def scheduler(interval: int) -> None:
    """Run the scheduler (only one process sweeps at a time; start several for availability)."""
    from engine.scheduler import run

    run(database(), settings(), interval)


@main.command()
@click.option("--year", type=int, required=True, help="The year of the items (年度).")
@click.option("--json", "as_json", is_flag=True, help="Print every figure as JSON.")
def stats(year: int, as_json: bool) -> None:
    """Print a year's figures: 办复率, 按时办复率, 满意率, 面商率, re-handling, classes, per unit."""
    import json

    from engine.reports.statistics import figure_rows, percent, year_statistics

    with database().reading() as s:
        result = year_statistics(s, year)
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2, default=str))
        return
    click.echo(f"{year}年 截至 {result.as_of}      合计 / 建议 / 提案")
    columns = [figure_rows(result.total), *(figure_rows(result.by_type[t]) for t in ("suggestion", "proposal"))]
    for i, (label, _) in enumerate(columns[0]):
        click.echo(f"  {label}: " + " / ".join(col[i][1] for col in columns))
    for label, value in result.follow_up_rows():
        click.echo(f"  {label}: {value}")
    for u in result.units:
        click.echo(f"  {u.name}: 主办 {u.lead.items} 件，办复率 {percent(u.lead.reply_rate)}，"
                   f"满意率 {percent(u.lead.satisfaction_final.ratio)}；协办 {u.co_items} 件"
                   + (f"（免除意见 {u.co_waived}）" if u.co_waived else "") + f"；被催办 {u.urged} 次")


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--user", "username", default="office", show_default=True, help="The office user who registers.")
def import_(file: str, username: str) -> None:
    """Register every row of an Excel FILE (the template of /reports/import) in one transaction."""
    from pathlib import Path

    from sqlalchemy import select

    from engine.reports.excel import ImportFileInvalid, ImportInvalid, import_items
    from engine.models import User

    def progress(done: int, total: int) -> None:
        if done == total or done % 20 == 0:
            click.echo(f"\r已校验 {done}/{total} 行 (validated)", nl=done == total, err=True)

    try:
        with database().transaction() as s:
            actor = s.scalars(select(User).where(User.username == username, User.role == "office")).first()
            if actor is None:
                raise click.BadParameter(f"no office user {username!r}", param_hint="--user")
            result = import_items(s, Path(file).read_bytes(), actor, progress)
    except ImportFileInvalid as exc:
        raise click.ClickException(str(exc)) from None
    except ImportInvalid as exc:
        for e in exc.errors:
            click.echo(f"第{e.row}行 {e.column}: {e.message_zh} (row {e.row}, {e.column}: {e.message_en})", err=True)
        raise click.ClickException(f"{len(exc.errors)} 处错误，未导入任何事项 (nothing imported)") from None
    click.echo(f"已导入 {len(result.imported)} 件：{result.imported[0][1]} … {result.imported[-1][1]}")
    if result.ignored_columns:
        click.echo(f"已忽略的列：{'、'.join(result.ignored_columns)}")


@main.group()
def db() -> None:
    """Schema migrations (Alembic), for SQLite and PostgreSQL alike."""


@db.command()
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Bring the database of DATABASE_URL to the newest schema."""
    target = database()
    migrations.upgrade(target.engine, revision)
    click.echo(f"database at revision {migrations.current(target.engine)}")


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration changes, e.g. 'add timers'.")
def new_revision(message: str) -> None:
    """Write a migration for what the models have and the migrations lack (no server needed)."""
    click.echo(f"wrote {migrations.revision(message)}; read it, then run `banli db upgrade`")


@main.command()
@click.argument("item_number", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="The .docx file to write.")
@click.option("--year", type=int, help="The item's year, when the number alone is ambiguous.")
@click.option("--template", "template_out", type=click.Path(dir_okay=False, writable=True),
              help="Write the built-in letter template to this file instead (to adapt it; see BANLI_LETTER_TEMPLATE).")
@click.option("--assign-number", is_flag=True,
              help="First draw the document number (发文字号) of a reply approved before numbers were drawn at approval.")
def letter(item_number: str | None, output: str | None, year: int | None, template_out: str | None,
           assign_number: bool) -> None:
    """Write the 答复函 (reply letter) of ITEM_NUMBER's approved reply as a .docx file, under the document number
    drawn when the office approved it."""
    from pathlib import Path

    from sqlalchemy import select

    from engine.items.letter import LetterUnavailable, approved_reply, default_template, number_reply, reply_letter
    from engine.models import Item

    if template_out:
        Path(template_out).write_bytes(default_template())
        click.echo(f"wrote {template_out}")
        return
    if not item_number or not output:
        raise click.UsageError("give ITEM_NUMBER and -o FILE.docx (or --template FILE)")
    with database().transaction() as s:
        query = select(Item).where(Item.number == item_number)
        if year:
            query = query.where(Item.year == year)
        items = s.scalars(query).all()
        if not items:
            raise click.BadParameter(f"no item numbered {item_number!r}", param_hint="ITEM_NUMBER")
        if len(items) > 1:
            raise click.BadParameter(f"{len(items)} items are numbered {item_number!r}: add --year",
                                     param_hint="ITEM_NUMBER")
        try:
            reply = approved_reply(s, items[0]) if assign_number else None
            if reply is not None:
                number_reply(s, reply)
            result = reply_letter(s, items[0])
        except LetterUnavailable as exc:
            raise click.ClickException(str(exc)) from None
    Path(output).write_bytes(result.data)
    click.echo(f"wrote {output} ({result.number})")


# --- the directory (通讯录): units, users and the roster, run by the office itself ---------------------------

@main.group()
def directory() -> None:
    """Units, users and the roster of deputies and members, to and from Excel."""


@directory.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def directory_export(file: str) -> None:
    """Write every unit, user and roster entry to the Excel FILE."""
    from pathlib import Path

    from engine.reports.directory_excel import directory_workbook

    with database().reading() as s:
        Path(file).write_bytes(directory_workbook(s))
    click.echo(f"wrote {file}")


@directory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def directory_import(file: str) -> None:
    """Create or update the units, users and roster entries of the Excel FILE (all rows or none)."""
    from pathlib import Path

    from engine.reports.directory_excel import import_directory
    from engine.reports.excel import ImportFileInvalid, ImportInvalid

    try:
        with database().transaction() as s:
            result = import_directory(s, Path(file).read_bytes())
    except ImportFileInvalid as exc:
        raise click.ClickException(str(exc)) from None
    except ImportInvalid as exc:
        for e in exc.errors:
            click.echo(f"第{e.row}行 {e.column}: {e.message_zh} (row {e.row}, {e.column}: {e.message_en})", err=True)
        raise click.ClickException(f"{len(exc.errors)} 处错误，未导入任何内容 (nothing imported)") from None
    click.echo(f"新增 {len(result.created)} 条，更新 {len(result.updated)} 条 "
               f"(created {len(result.created)}, updated {len(result.updated)})")


@main.group()
def user() -> None:
    """User accounts: add one, set a password."""


@user.command("add")
@click.argument("username")
@click.option("--name", required=True, help="The person's name (姓名).")
@click.option("--role", required=True, type=click.Choice(ROLE_CHOICES), help="The role.")
@click.option("--unit", default="", help="The unit's code (for unit handlers and heads).")
@click.option("--email", default="")
@click.option("--phone", default="")
@click.option("--kind", "proposer_kind", type=click.Choice(["deputy", "member"]), help="For proposers: 代表 or 委员.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def user_add(username: str, password: str, **fields) -> None:
    """Add the user USERNAME."""
    from engine.people.directory import DirectoryInvalid, save_user

    try:
        with database().transaction() as s:
            save_user(s, {"username": username, "password": password, **fields})
    except DirectoryInvalid as exc:
        raise click.ClickException("; ".join(f"{p.field}: {p.zh} ({p.en})" for p in exc.problems)) from None
    click.echo(f"added {username}")


@user.command("passwd")
@click.argument("username")
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True)
def user_passwd(username: str, password: str) -> None:
    """Set the password of USERNAME (an admin's reset)."""
    from sqlalchemy import select

    from engine.models import User
    from engine.people.directory import DirectoryInvalid, set_password

    try:
        with database().transaction() as s:
            account = s.scalars(select(User).where(User.username == username)).first()
            if account is None:
                raise click.BadParameter(f"no user {username!r}", param_hint="USERNAME")
            set_password(s, account, password)
    except DirectoryInvalid as exc:
        raise click.ClickException("; ".join(f"{p.zh} ({p.en})" for p in exc.problems)) from None
    click.echo(f"password of {username} set")


if __name__ == "__main__":
    main()


@main.group()
def token() -> None:
    """Personal access tokens for the REST API (/api/v1)."""


@token.command("create")
@click.option("--user", "username", required=True, help="Whose token (a username, or partner:NAME).")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="A scope (repeat): items:read, items:write, tasks:read, tasks:write, reports:read, "
                   "processes:read, processes:write.")
@click.option("--days", default=90, show_default=True, help="Days until it expires (at most 366).")
def token_create(username: str, name: str, scopes: tuple[str, ...], days: int) -> None:
    """Create a token and print it (it is shown only this once; only its hash is stored)."""
    from sqlalchemy import select

    from engine.models import User
    from engine.people.tokens import create_token

    with database().transaction() as s:
        user = s.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise click.ClickException(f"no user {username}")
        try:
            row, text = create_token(s, user, name, list(scopes), days)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(text)
        click.echo(f"token {row.id} for {username}, scopes {' '.join(row.scopes)}, expires "
                   f"{row.expires_at:%Y-%m-%d %H:%M} UTC", err=True)


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id."""
    from engine import clock
    from engine.models import ApiToken

    with database().transaction() as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            raise click.ClickException(f"no token {token_id}")
        row.revoked_at = row.revoked_at or clock.now()
    click.echo(f"token {token_id} revoked")


@main.group()
def partner() -> None:
    """Partner platforms (对接平台): a machine user each, and signed webhooks of the outbox."""


@partner.command("add")
@click.argument("name")
@click.option("--role", required=True, help="The machine user's role (e.g. office to register items).")
@click.option("--unit", "unit_code", default=None, help="Its unit code, for unit roles.")
@click.option("--url", "webhook_url", default=None, help="Where events are POSTed.")
@click.option("--event", "events", multiple=True, help="An event type to send (repeat; default all).")
def partner_add(name: str, role: str, unit_code: str | None, webhook_url: str | None, events: tuple[str, ...]) -> None:
    """Add a partner platform; prints its webhook signing secret."""
    from engine.events.partners import create_partner

    with database().transaction() as s:
        try:
            p = create_partner(s, name, role, webhook_url, list(events) or None, unit_code)
        except (ValueError, LookupError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"partner {p.name}: machine user partner:{p.name}; webhook secret {p.secret}")
        click.echo(f"create its token with: banli token create --user 'partner:{p.name}' --name ... --scope ...",
                   err=True)
