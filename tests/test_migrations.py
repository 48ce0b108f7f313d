"""The migrations build exactly the schema the models declare, on the backend of this run.

A model changed without a migration fails here: write one with `banli db revision -m "what changed"`.
"""
from __future__ import annotations

import json
import zlib

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

from engine import migrations
from engine.cli import main
from engine.models import Base
from engine.workflow.serializer import STATE, pack
from tests.conftest import BACKEND, drop_pg_database, pg_database


@pytest.fixture
def empty_url(tmp_path):
    """An empty database of this run's backend."""
    if BACKEND == "postgres":
        url = pg_database()
        yield url
        drop_pg_database(url)
    else:
        yield f"sqlite:///{tmp_path}/empty.db"


@pytest.fixture
def empty(empty_url):
    engine = create_engine(empty_url)
    yield engine
    engine.dispose()


def test_one_line_of_migrations():
    """Two engineers adding migrations at once make two heads; merge them (`alembic merge`) before commit."""
    heads = ScriptDirectory.from_config(migrations.alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"migrations have several heads {heads}: merge them"


def test_upgrade_head_builds_the_schema_of_the_models(empty):
    migrations.upgrade(empty)
    with empty.connect() as conn:
        diff = migrations.differences(conn)
    assert diff == [], ("the models and the migrations disagree; add a migration with "
                        f"`banli db revision -m \"...\"`:\n{diff}")
    assert migrations.current(empty) == migrations.head()
    assert set(inspect(empty).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}


def test_the_comparison_notices_a_column_the_models_lack(empty):
    """The check above can fail: a schema that drifted from the models is reported."""
    migrations.upgrade(empty)
    with empty.begin() as conn:
        conn.execute(text("ALTER TABLE item ADD COLUMN stray_note VARCHAR(20)"))
    with empty.connect() as conn:
        diff = migrations.differences(conn)
    assert [d[0] for d in diff] == ["remove_column"] and diff[0][3].name == "stray_note"


def test_downgrade_to_nothing_and_up_again(empty):
    migrations.upgrade(empty)
    migrations.downgrade(empty, "base")
    assert set(inspect(empty).get_table_names()) <= {"alembic_version"}
    migrations.upgrade(empty)
    with empty.connect() as conn:
        assert migrations.differences(conn) == []


def test_a_database_made_before_migrations_is_adopted(empty):
    """Databases created by `create_all` before migrations existed hold the baseline schema and no
    history: upgrade stamps them at the baseline and carries on, keeping their data."""
    migrations.upgrade(empty, migrations.baseline())
    with empty.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO unit (code, name, active) VALUES ('jtj', '区交通运输局', true)"))
    migrations.upgrade(empty)
    assert migrations.current(empty) == migrations.head()
    with empty.connect() as conn:
        assert conn.execute(text("SELECT name FROM unit")).scalar() == "区交通运输局"
        assert migrations.differences(conn) == []


def test_initialised_databases_are_at_the_newest_revision(db):
    assert migrations.current(db.engine) == migrations.head()


def test_banli_db_upgrade_command(empty_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", empty_url)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"database at revision {migrations.head()}" in result.output
    engine = create_engine(empty_url)
    try:
        assert "task_row" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_calendar_warnings_stored_as_text_become_catalog_messages(demo_db):
    """f6fb5ae91b9a: the calendar warnings the ledger wrote as Chinese text (before deadline.warning_message)
    become the catalog message they were, read in the reader's language; any other text stays as written."""
    import sqlalchemy as sa

    engine = create_engine(demo_db.url)
    deadline = sa.table("deadline", sa.column("id", sa.Integer), sa.column("warning", sa.String),
                        sa.column("warning_message", sa.JSON))
    try:
        with engine.begin() as conn:
            ids = conn.execute(sa.select(deadline.c.id).order_by(deadline.c.id).limit(3)).scalars().all()
            for row_id, warning in zip(ids, ("2027年节假日数据未载入，按周末计算", "2027、2028年节假日数据未载入，按周末计算",
                                             "期限按旧规则计算")):
                conn.execute(deadline.update().where(deadline.c.id == row_id).values(warning=warning))
        migrations.downgrade(engine, "c13e7a1f0b42")
        migrations.upgrade(engine)
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.select(deadline.c.id, deadline.c.warning_message)
                                       .where(deadline.c.id.in_(ids))).all())
    finally:
        engine.dispose()
    msgid = "%(years)s年节假日数据未载入，按周末计算"
    assert [stored[i] for i in ids] == [{"id": msgid, "params": {"years": "2027"}},
                                        {"id": msgid, "params": {"years": "2027、2028"}}, None]


def test_co_signers_named_before_the_link_table_become_the_one_proposer_of_that_name(demo_db):
    """9d4b2e7c1a53: item_cosigner is filled from Item.cosigners: a name one proposer bears is that proposer;
    a name two proposers bear links nobody (guessing would show the item to the wrong person)."""
    import sqlalchemy as sa

    from engine.models import Item, ItemCosigner, User
    with demo_db.transaction() as s:
        chen, liu = (s.scalar(sa.select(User.id).where(User.username == u)) for u in ("deputy_chen", "deputy_liu"))
        s.add(User(username="deputy_liu_2", name="刘代表", role="proposer", password_hash="x"))
        item_id = s.scalar(sa.select(Item.id).where(Item.proposer_id.not_in([chen, liu])).order_by(Item.id))
        s.get(Item, item_id).cosigners = "陈代表、刘代表、无此人"
    engine = create_engine(demo_db.url)
    try:
        migrations.downgrade(engine, "5c3e9a7d1b24")
        migrations.upgrade(engine)
        with engine.connect() as conn:
            linked = set(conn.execute(sa.select(ItemCosigner.user_id).where(ItemCosigner.item_id == item_id)).scalars())
    finally:
        engine.dispose()
    assert linked == {chen}  # 刘代表 is two people now


def _published_then_migrated(demo_db, before: str, **public) -> tuple:
    """Store a disclosure's public columns as an older redaction left them, downgrade to the revision `before`
    the migration under test and upgrade again: the public (title, text, content) the upgrade left."""
    import sqlalchemy as sa

    from engine.models import Disclosure, Item
    with demo_db.transaction() as s:
        item_id = s.scalar(sa.select(Item.id).order_by(Item.id))
        s.add(Disclosure(item_id=item_id, scope="full", text="x", **public))
    engine = create_engine(demo_db.url)
    try:
        migrations.downgrade(engine, before)
        migrations.upgrade(engine)
        with engine.connect() as conn:
            return tuple(conn.execute(sa.select(Disclosure.public_title, Disclosure.public_text,
                                                Disclosure.public_content)
                                      .where(Disclosure.item_id == item_id)).one())
    finally:
        engine.dispose()


def test_text_published_before_the_redaction_knew_a_shape_is_redacted_again(demo_db):
    """b7e2c4a9d1f6: a phone number with soft hyphens was published as typed; the upgrade hides it in the
    stored public text, and what was already hidden stays as it was."""
    assert _published_then_migrated(
        demo_db, "9d4b2e7c1a53", public_title="关于路灯的建议",
        public_text="请致电 138\u00ad1234\u00ad5678 联系，或 ［已隐去］。", public_content="内容。",
    )[:2] == ("关于路灯的建议", "请致电 ［已隐去］ 联系，或 ［已隐去］。")


def test_text_published_before_separators_and_bidi_were_known_is_redacted_again(demo_db):
    """98991b7b9851: a phone number split by full-width commas, one stored reversed under a right-to-left
    override (the page showed it in order), a letters-only WeChat id without a colon and a mobile number split
    by 、 were published; the upgrade hides them and drops the override, and what was already hidden stays as
    it was."""
    assert _published_then_migrated(
        demo_db, "29abef6f0583", public_title="关于路灯的建议", public_text="请致电 138，1234，5678 联系，或 ［已隐去］。",
        public_content="手机\u202e8765 4321 831\u202c，加微信zhangsan详谈，或拨138、1234、5678。",
    ) == ("关于路灯的建议", "请致电 ［已隐去］ 联系，或 ［已隐去］。", "手机［已隐去］，加微信［已隐去］详谈，或拨［已隐去］。")


def test_text_published_before_landlines_and_digit_lists_split_by_enumeration_commas_were_known_goes_now(demo_db):
    """ce82591e70c1: a landline split by 、, a mobile number written digit by digit with 、 and an ID number glued
    to letters were published as typed; the upgrade hides them, and what was already hidden stays as it was."""
    assert _published_then_migrated(
        demo_db, "98991b7b9851", public_title="关于路灯的建议",
        public_text="请致电0571、8888、6666，或 ［已隐去］。",
        public_content="手机1、3、8、1、2、3、4、5、6、7、8，身份证sfz110101199003071234。",
    ) == ("关于路灯的建议", "请致电［已隐去］，或 ［已隐去］。", "手机［已隐去］，身份证sfz［已隐去］。")


@pytest.mark.skipif(BACKEND != "postgres", reason="a PostgreSQL storage setting")
def test_the_compressed_state_is_stored_as_written(empty):
    """PostgreSQL tried to compress the already compressed workflow state at every write (pglz, in vain):
    its column is stored EXTERNAL (out of line, uncompressed), and back to the default on downgrade."""
    def storage() -> str:
        with empty.connect() as conn:
            return conn.execute(text("SELECT attstorage FROM pg_attribute WHERE attrelid = 'process_instance'::regclass"
                                     " AND attname = 'state'")).scalar()

    migrations.upgrade(empty)
    assert storage() == "e"  # EXTERNAL
    migrations.downgrade(empty, "138a1130a856")
    assert storage() == "x"  # EXTENDED, PostgreSQL's default for bytea
    migrations.upgrade(empty)
    assert storage() == "e"


def test_every_stored_form_of_the_state_is_read_and_the_downgrade_to_text_reads_it_too(empty):
    """States are written with Zstandard since it compresses about five times faster than zlib; those written
    before (zlib, plain JSON) are still read, and going back to the text column turns all three into JSON."""
    doc = {"state_version": "banli-1", "tasks": [{"title": "关于完善夜间公交的建议", "n": n} for n in range(40)]}
    text_ = json.dumps(doc, ensure_ascii=False)
    forms = {1: text_.encode("utf-8"), 2: zlib.compress(text_.encode("utf-8"), 1), 3: pack(text_)}
    assert forms[3][:4] == b"\x28\xb5\x2f\xfd" and len(forms[3]) < len(forms[1])
    assert all(json.loads(STATE.text(state)) == doc for state in forms.values())
    migrations.upgrade(empty)
    with empty.begin() as conn:
        if BACKEND == "postgres":  # rows without their item and definition: this test is about the column only
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for i, state in forms.items():
            conn.execute(text("INSERT INTO process_instance (id, definition_id, item_id, status, state, version, "
                              "created_at, updated_at) VALUES (:id, 1, :id, 'running', :state, 1, CURRENT_TIMESTAMP, "
                              "CURRENT_TIMESTAMP)"), {"id": i, "state": state})
    migrations.downgrade(empty, "17066b9b016f")  # before the state was stored compressed
    with empty.connect() as conn:
        stored = dict(conn.execute(text("SELECT id, state FROM process_instance")).all())
    assert {i: json.loads(v) for i, v in stored.items()} == {1: doc, 2: doc, 3: doc}
