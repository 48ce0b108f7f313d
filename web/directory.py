"""通讯录 (the directory), for the office and admins: units, users and the roster; Excel export and import;
password resets. People are deactivated, never deleted."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from engine.models import ROLES, Unit, User
from engine.people import directory
from engine.people.accounts import is_machine
from engine.reports import excel
from engine.reports.directory_excel import directory_workbook, import_directory
from web.helpers import current_lang, db, error_text, roles_required

bp = Blueprint("directory", __name__, url_prefix="/directory")
keepers = roles_required("office", "admin")


@bp.get("/")
@keepers
def index():
    q, role = (request.args.get("q") or "").strip()[:100], request.args.get("role") or ""  # a name, not a text
    with db().reading() as s:
        users = select(User).order_by(User.active.desc(), User.role, User.username)
        if role in ROLES:
            users = users.where(User.role == role)
        if q:
            users = users.where(or_(*(column.contains(q, autoescape=True)  # "%" and "_" are letters here
                                      for column in (User.name, User.username, User.delegation))))
        return render_template("directory/index.html", units=s.scalars(select(Unit).order_by(Unit.code)).all(),
                               users=s.scalars(users.limit(500)).all(), q=q, role=role, roles=ROLES)


def _user_form(s, account, errors=None, values=None, status=200):
    actor = s.get(User, current_user.id)
    return render_template("directory/user.html", account=account, errors=errors or {}, values=values or {},
                           roles=directory.grantable_roles(actor, account), keepable=directory.may_keep(actor, account),
                           resettable=account is not None and directory.may_reset(actor, account),
                           machine=account is not None and is_machine(account),
                           units=s.scalars(select(Unit).where(Unit.active).order_by(Unit.code)).all()), status


@bp.route("/users/new", methods=["GET", "POST"], defaults={"user_id": None})
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@keepers
def user(user_id: int | None):
    database = db()
    if request.method == "POST":
        values = {f: request.form.get(f, "") for f in directory.USER_FIELDS}
        values["active"] = "true" if request.form.get("active") else "false"
        try:
            with database.transaction() as s:
                account = s.get(User, user_id) if user_id else None
                if user_id and account is None:
                    abort(404)
                actor = s.get(User, current_user.id)
                if not directory.may_keep(actor, account):
                    abort(403)
                saved = directory.save_user(s, values, account, actor)
                saved_id, name = saved.id, saved.name
            flash(_("已保存：%(name)s", name=name), "success")
            return redirect(url_for("directory.user", user_id=saved_id))
        except directory.DirectoryInvalid as exc:
            with database.reading() as s:
                return _user_form(s, s.get(User, user_id) if user_id else None,
                                  {p.field: p.message(current_lang()) for p in exc.problems}, values, 400)
    with database.reading() as s:
        account = s.get(User, user_id) if user_id else None
        if user_id and account is None:
            abort(404)
        return _user_form(s, account)


@bp.post("/users/<int:user_id>/password")
@keepers
def reset_password(user_id: int):
    try:
        with db().transaction() as s:
            account, actor = s.get(User, user_id) or abort(404), s.get(User, current_user.id)
            if not directory.may_reset(actor, account):
                abort(403)
            directory.set_password(s, account, request.form.get("password", ""), actor)
        flash(_("密码已重置，请将新密码告知本人。"), "success")
    except directory.DirectoryInvalid as exc:
        flash(exc.problems[0].message(current_lang()), "error")
    return redirect(url_for("directory.user", user_id=user_id))


@bp.route("/units/new", methods=["GET", "POST"], defaults={"unit_id": None})
@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
@keepers
def unit(unit_id: int | None):
    database, errors, values, status = db(), {}, {}, 200
    if request.method == "POST":
        values = {f: request.form.get(f, "") for f in ("code", "name", "letter_prefix")}
        values["active"] = "true" if request.form.get("active") else "false"
        try:
            with database.transaction() as s:
                found = s.get(Unit, unit_id) if unit_id else None
                if unit_id and found is None:
                    abort(404)
                saved = directory.save_unit(s, values, found)
                name = saved.name
            flash(_("已保存：%(name)s", name=name), "success")
            return redirect(url_for("directory.index"))
        except directory.DirectoryInvalid as exc:
            errors, status = {p.field: p.message(current_lang()) for p in exc.problems}, 400
    with database.reading() as s:
        found = s.get(Unit, unit_id) if unit_id else None
        if unit_id and found is None:
            abort(404)
        return render_template("directory/unit.html", unit=found, errors=errors, values=values), status


@bp.get("/directory.xlsx")
@keepers
def export():
    with db().reading() as s:
        data = directory_workbook(s)
    return Response(data, mimetype=excel.XLSX_MIME,
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''banli-directory.xlsx"})


@bp.post("/import")
@keepers
def upload():
    upload_file = request.files.get("file")
    data = upload_file.read(excel.MAX_BYTES + 1) if upload_file and upload_file.filename else b""
    outcome = {"ok": False, "file_error": _("请选择要导入的 Excel 文件。")}
    if data:
        try:
            with db().transaction() as s:
                result = import_directory(s, data, s.get(User, current_user.id))
            outcome = {"ok": True, "created": result.created, "updated": result.updated}
        except excel.ImportFileInvalid as exc:
            outcome = {"ok": False, "file_error": error_text(exc)}
        except excel.ImportInvalid as exc:
            outcome = {"ok": False, "errors": exc.errors}
    return render_template("directory/import.html", outcome=outcome, lang=current_lang()), \
        200 if outcome["ok"] else 400
