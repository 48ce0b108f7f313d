"""The directory: units, users and the roster of deputies and members, run by the office itself."""
from __future__ import annotations

from io import BytesIO

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from engine.models import Unit, User
from engine.people.accounts import authenticate
from engine.people.directory import DirectoryInvalid, save_user
from engine.reports.directory_excel import directory_workbook, import_directory
from engine.reports.excel import ImportInvalid
from tests.conftest import csrf_token, login
from tests.conftest import user as user_row


def _book(sheets: dict[str, list[list]]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


GOOD = {
    "单位": [["单位编码", "单位名称", "发文字号前缀", "启用"], ["sjj", "区审计局", "审计函", "是"]],
    "用户": [["用户名", "姓名", "角色", "单位编码", "电子邮箱", "电话", "启用", "初始密码"],
            ["sjj_staff", "审计经办", "承办单位经办人", "sjj", "sj@example.org", "0571-87650001", "是", "start-2026"],
            ["leader_wu", "吴区长", "区领导", "", "", "13900000001", "是", "start-2026"]],
    "代表名册": [["用户名", "姓名", "编号", "代表团/界别", "电话", "电子邮箱", "启用", "初始密码"],
              ["deputy_ma", "马代表", "D-0101", "城关代表团", "13900000002", "", "是", "start-2026"]],
    "委员名册": [["用户名", "姓名", "编号", "代表团/界别", "电话", "电子邮箱", "启用", "初始密码"],
              ["member_niu", "牛委员", "W-0201", "经济界", "", "", "是", "start-2026"]],
}


def test_directory_import_creates_units_users_and_the_roster(demo_db):
    with demo_db.transaction() as s:
        result = import_directory(s, _book(GOOD))
    assert len(result.created) == 5 and not result.updated
    with demo_db.reading() as s:
        staff = user_row(s, "sjj_staff")
        assert staff.unit.name == "区审计局" and staff.role == "unit_handler" and staff.email_set_at is not None
        assert s.scalars(select(Unit).where(Unit.code == "sjj")).one().letter_prefix == "审计函"
        ma = user_row(s, "deputy_ma")
        assert (ma.role, ma.proposer_kind, ma.roster_number, ma.delegation) == ("proposer", "deputy", "D-0101", "城关代表团")
        assert user_row(s, "member_niu").delegation == "经济界"
        assert authenticate(s, "leader_wu", "start-2026") is not None


def test_directory_import_lists_every_bad_row_and_keeps_nothing(demo_db):
    bad = {k: [list(r) for r in v] for k, v in GOOD.items()}
    bad["用户"].append(["x y", "", "厨师", "nowhere", "not-an-address", "12", "是", "short"])
    bad["代表名册"].append(["deputy_liu", "刘代表（改）", "D-9", "", "电话号码", "", "是", ""])  # existing: updated
    with pytest.raises(ImportInvalid) as caught, demo_db.transaction() as s:
        import_directory(s, _book(bad))
    where = {(e.row, e.column) for e in caught.value.errors}
    assert {(4, "用户·用户名"), (4, "用户·姓名"), (4, "用户·角色"), (4, "用户·单位编码"), (4, "用户·电子邮箱"),
            (4, "用户·电话"), (4, "用户·初始密码"), (3, "代表名册·电话")} <= where
    assert all(e.row != 2 and e.row != 3 or e.column.startswith("代表名册") for e in caught.value.errors)
    with demo_db.reading() as s:  # all or nothing
        assert s.scalars(select(Unit).where(Unit.code == "sjj")).first() is None
        assert user_row(s, "deputy_liu").name != "刘代表（改）"


def test_export_round_trips_and_deactivation_keeps_history(demo_db):
    with demo_db.reading() as s:
        data = directory_workbook(s)
    wb = load_workbook(BytesIO(data))
    assert wb.sheetnames == ["单位", "用户", "代表名册", "委员名册"]
    rows = list(wb["用户"].iter_rows(values_only=True))
    row = next(r for r in rows if r[0] == "jyj_staff")
    wb["用户"].cell(rows.index(row) + 1, 7, "否")  # 启用 = 否
    buf = BytesIO()
    wb.save(buf)
    with demo_db.transaction() as s:
        result = import_directory(s, buf.getvalue())
    assert not result.created
    with demo_db.reading() as s:
        staff = user_row(s, "jyj_staff")  # still there, with its history, but cannot log in
        assert staff.active is False and authenticate(s, "jyj_staff", "banli2026") is None


def test_usernames_are_unique_whatever_the_case(demo_db):
    with demo_db.transaction() as s:
        with pytest.raises(DirectoryInvalid) as caught:
            save_user(s, {"username": "JYJ_staff", "name": "重名", "role": "office", "password": "x" * 8})
        assert caught.value.problems[0].field == "username"


def test_cli_directory_and_user_commands(demo_db, tmp_path, monkeypatch):
    from engine.cli import main

    monkeypatch.setenv("DATABASE_URL", demo_db.url)
    runner = CliRunner()
    out = tmp_path / "d.xlsx"
    assert runner.invoke(main, ["directory", "export", str(out)]).exit_code == 0
    assert "代表名册" in load_workbook(out).sheetnames
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(_book({"用户": GOOD["用户"][:1] + [["a", "", "区府办", "", "", "", "", "short"]]}))
    r = runner.invoke(main, ["directory", "import", str(bad)])
    assert r.exit_code == 1 and "第2行 用户·姓名" in r.output
    r = runner.invoke(main, ["user", "add", "clerk2", "--name", "新文员", "--role", "office", "--password", "pw-2026-abc"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["user", "passwd", "clerk2", "--password", "pw-2027-xyz"])
    assert r.exit_code == 0, r.output
    with demo_db.reading() as s:
        assert authenticate(s, "clerk2", "pw-2027-xyz") is not None


def test_directory_pages_add_edit_deactivate_and_reset(client, demo_db):
    login(client, "office")
    assert "代表委员名册" in client.get("/directory/").get_data(as_text=True)
    token = csrf_token(client, "/directory/users/new")
    r = client.post("/directory/users/new", data={"csrf_token": token, "username": "deputy_yang", "name": "杨代表",
                                                  "role": "proposer", "phone": "138", "password": "pw-2026-abc",
                                                  "active": "true"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "电话号码格式不正确" in html and "请选择代表或委员" in html
    r = client.post("/directory/users/new", data={"csrf_token": token, "username": "deputy_yang", "name": "杨代表",
                                                  "role": "proposer", "proposer_kind": "deputy", "roster_number": "D-7",
                                                  "delegation": "东区代表团", "phone": "13812345678",
                                                  "password": "pw-2026-abc", "active": "true"})
    assert r.status_code == 302
    with demo_db.reading() as s:
        yang = user_row(s, "deputy_yang")
        assert (yang.roster_number, yang.delegation) == ("D-7", "东区代表团")
        yang_id = yang.id
    r = client.post(f"/directory/users/{yang_id}", data={"csrf_token": token, "username": "deputy_yang", "name": "杨代表",
                                                         "role": "proposer", "proposer_kind": "deputy"})  # unticked
    assert r.status_code == 302
    r = client.post(f"/directory/users/{yang_id}/password", data={"csrf_token": token, "password": "reset-2026"})
    assert r.status_code == 302
    with demo_db.reading() as s:
        assert user_row(s, "deputy_yang").active is False
        assert authenticate(s, "deputy_yang", "reset-2026") is None  # deactivated
    r = client.post("/directory/import", data={"csrf_token": token, "file": (BytesIO(_book(
        {"单位": [["单位编码", "单位名称"], ["", "无编码局"]]})), "d.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 400 and "请填写单位编码" in r.get_data(as_text=True)
    login(client, "jyj_staff")
    assert client.get("/directory/").status_code == 403


def test_roles_land_on_their_start_page(client):
    assert login(client, "deputy_liu").headers["Location"].endswith("/portal/")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/portal/")})
    assert login(client, "supervisor").headers["Location"].endswith("/supervision/")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/supervision/")})
    assert login(client, "admin").headers["Location"].endswith("/admin/")


def test_directory_search_is_literal_and_bounded(client, demo_db):
    """A search for "%" or "_" matched every user (SQL wildcards); a search text of any length is cut, not run."""
    login(client, "office")

    def listed(page: str) -> int:  # users' rows (the "new user" link aside)
        return page.count('href="/directory/users/') - page.count('href="/directory/users/new')

    everyone = listed(client.get("/directory/").get_data(as_text=True))
    assert everyone > 5
    for wildcard in ("%", "%%", "%_%"):  # ("_" alone is in usernames such as jyj_staff)
        page = client.get("/directory/", query_string={"q": wildcard}).get_data(as_text=True)
        assert listed(page) == 0, wildcard
    page = client.get("/directory/", query_string={"q": "王" * 100_000})
    assert page.status_code == 200 and 'value="' + "王" * 101 not in page.get_data(as_text=True)


def _post(client, url: str, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, "/directory/users/new"), **data})


def test_the_office_cannot_take_over_an_admin_or_promote_itself(client, demo_db):
    """The office keeps the directory, but the accounts that hold the keys (admins, the office's own) are an
    admin's: the office reset an admin's password and made itself admin, and so held every key."""
    with demo_db.reading() as s:
        admin, office, liu = (user_row(s, u) for u in ("admin", "office", "deputy_liu"))
        admin_id, office_id, admin_hash = admin.id, office.id, admin.password_hash
    login(client, "office")
    r = _post(client, f"/directory/users/{admin_id}/password", password="taken-2026")
    assert r.status_code == 403
    r = _post(client, f"/directory/users/{office_id}", username="office", name="区府办", role="admin", active="true")
    assert r.status_code == 400 and "不能修改自己的角色" in r.get_data(as_text=True)
    with demo_db.reading() as s:
        zjj_id = user_row(s, "zjj_staff").id
    r = _post(client, f"/directory/users/{zjj_id}", username="zjj_staff", name="住建经办", role="admin", unit="zjj",
              active="true")
    assert r.status_code == 400 and "只有系统管理员可以授予" in r.get_data(as_text=True)
    r = _post(client, f"/directory/users/{admin_id}", username="admin", name="管理员", role="supervisor", active="true")
    assert r.status_code == 403
    r = _post(client, "/directory/users/new", username="office_2", name="新管理员", role="admin", password="pw-2026-abc",
              active="true")
    assert r.status_code == 400 and "只有系统管理员可以授予" in r.get_data(as_text=True)
    r = client.post("/directory/import", data={"csrf_token": csrf_token(client, "/directory/"), "file": (BytesIO(_book(
        {"用户": [["用户名", "姓名", "角色", "单位编码", "电子邮箱", "电话", "启用", "初始密码"],
                 ["admin", "管理员", "区府办", "", "", "", "否", ""]]})), "d.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 400 and "只有系统管理员可以修改" in r.get_data(as_text=True)
    admin_page = client.get(f"/directory/users/{admin_id}").get_data(as_text=True)
    assert "重置密码" not in admin_page and "由系统管理员维护" in admin_page
    assert 'value="admin"' not in client.get(f"/directory/users/{zjj_id}").get_data(as_text=True)
    with demo_db.reading() as s:
        assert (user_row(s, "admin").password_hash, user_row(s, "admin").active) == (admin_hash, True)
        assert user_row(s, "office").role == "office" and s.scalar(select(User).where(User.username == "office_2")) is None
    # What the office keeps is still its own to keep: a deputy's password, a unit handler's account.
    assert _post(client, f"/directory/users/{liu.id}/password", password="reset-2026").status_code == 302
    # An admin may do it all, but not lock itself out.
    login(client, "admin")
    assert _post(client, f"/directory/users/{office_id}/password", password="reset-2026").status_code == 302
    r = _post(client, f"/directory/users/{admin_id}", username="admin", name="管理员", role="office", active="true")
    assert r.status_code == 400 and "不能修改自己的角色" in r.get_data(as_text=True)


def test_a_password_reset_or_change_revokes_the_persons_api_tokens(client, demo_db):
    """A token lived on after its owner's password was reset (a taken-over account kept its way in)."""
    from engine.people import tokens
    from engine.people.sessions import change_password
    with demo_db.transaction() as s:
        supervisor = user_row(s, "supervisor")
        _, first = tokens.create_token(s, supervisor, "报表", ["items:read"])
    assert client.get("/api/v1/items", headers={"Authorization": f"Bearer {first}"}).status_code == 200
    login(client, "admin")
    with demo_db.reading() as s:
        supervisor_id = user_row(s, "supervisor").id
    assert _post(client, f"/directory/users/{supervisor_id}/password", password="reset-2026").status_code == 302
    assert client.get("/api/v1/items", headers={"Authorization": f"Bearer {first}"}).status_code == 401
    with demo_db.transaction() as s:
        supervisor = user_row(s, "supervisor")
        _, second = tokens.create_token(s, supervisor, "报表", ["items:read"])
        change_password(s, supervisor, "reset-2026", "mine-2026-x", "mine-2026-x")
    assert client.get("/api/v1/items", headers={"Authorization": f"Bearer {second}"}).status_code == 401


def test_no_one_resets_their_own_password_nor_a_partners_machine_account_here(client, demo_db):
    """A reset needs no current password: on one's own account a stolen session became a takeover, and on a
    partner's machine user (role supervisor) the office got an interactive login under the partner's name."""
    from engine.events.partners import create_partner
    with demo_db.transaction() as s:
        machine_id = create_partner(s, "履职平台", "supervisor").user_id
        office_id, office_hash = user_row(s, "office").id, user_row(s, "office").password_hash
    login(client, "office")
    r = _post(client, f"/directory/users/{office_id}/password", password="selfreset-1")
    assert r.status_code == 403
    own = client.get(f"/directory/users/{office_id}").get_data(as_text=True)
    assert "修改密码" in own and 'id="u-role" name="role" disabled' in own and "不能修改自己的角色" in own
    # Their own phone they may still change, the page sending their role and active flag as they are.
    r = client.post(f"/directory/users/{office_id}", data={"csrf_token": csrf_token(client, "/directory/"),
                    "username": "office", "name": "张敏（区府办）", "role": "office", "active": "true",
                    "phone": "0571-87650009"})
    assert r.status_code == 302
    assert _post(client, f"/directory/users/{machine_id}/password", password="officeknows-1").status_code == 403
    assert _post(client, f"/directory/users/{machine_id}", username="partner:履职平台", name="履职平台", role="supervisor",
                 active="true").status_code == 403
    assert "对接平台" in client.get(f"/directory/users/{machine_id}").get_data(as_text=True)
    with demo_db.reading() as s:
        assert user_row(s, "office").password_hash == office_hash
        assert authenticate(s, "partner:履职平台", "officeknows-1") is None
