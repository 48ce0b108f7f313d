"""REST API v1 (/api/v1): the pages' engine commands and visibility rules for partner platforms and scripts.

flask-smorest generates the OpenAPI 3.1 document (/api/v1/openapi.json) from the marshmallow schemas and
the routes; /api/v1/docs renders it with swagger-ui-dist from the npm registry, served from our static
folder with a start-up script of ours (flask-smorest's page starts Swagger UI inline, which the site's
Content-Security-Policy does not run). Callers authenticate with a personal access token (`Authorization: Bearer banli_...`) whose scopes
bound what the token's user may do; errors are RFC 9457 problem details; a POST with an `Idempotency-Key`
header is answered once and replayed after.
"""
from __future__ import annotations

import http
import logging
from functools import wraps

from flask import abort, g, jsonify, render_template, request
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException, default_exceptions

from engine import idempotency
from engine.people import tokens
from engine.workflow.forms import FieldError
from web.api_v1.schemas import Problem
from web.helpers import db, error_text

PREFIX = "/api/v1"
# What the reference page (/api/v1/docs) tells a partner's developer, in the document itself.
DESCRIPTION = """\
The tasks, items, deadlines and replies of 建议提案办理, with the same permissions and rules as the web pages.

- **Authentication**: `Authorization: Bearer banli_...`, a personal access token (设置 → 访问令牌, or
  `banli token create`). Its scopes bound what its user may do; the user's own role bounds the rest.
- **Errors**: RFC 9457 problem details (`application/problem+json`); a form's problems list each field with
  its message. An unknown query parameter or body field is refused (422), never ignored.
- **Lists**: pages of `limit` rows (at most 200); pass `next_cursor` back as `cursor` for the next page.
- **Retries**: a POST with an `Idempotency-Key` header is carried out once; a retry with the same key gets the
  first answer again.
- **Language**: messages follow `Accept-Language` (Simplified Chinese by default, English available).
"""
PROBLEM_TYPE = PREFIX + "/problems#"
log = logging.getLogger("banli.api")


class BanliApi(Api):
    """flask-smorest without its app-wide JSON error handler (the pages keep their HTML errors), and with
    problem details (application/problem+json) as the documented error of every operation."""

    ERROR_SCHEMA = Problem

    def _register_error_handlers(self):
        pass

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, "application/problem+json")
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Problem details (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, "application/problem+json")
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class StrictParser(FlaskParser):
    """webargs ignores a query parameter it does not know; refused here as a body's unknown field is (422): a
    misspelt filter (`stauts=closed`) would otherwise answer with every item, as if it had filtered."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE}


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = StrictParser()


api = BanliApi()
bp = ApiBlueprint("api_v1", __name__, url_prefix=PREFIX, description="banli REST API v1")


def configure(app) -> None:
    app.config.update(
        API_TITLE="banli 办理 REST API", API_VERSION="1", OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=PREFIX, OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": DESCRIPTION},
            "security": [{"bearer": []}],
            "components": {"securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "个人访问令牌 (a personal access token from 设置 → 访问令牌 or `banli token create`)"}}},
        })
    from web.api_v1 import routes  # noqa: F401 - registers the views on bp

    api.init_app(app)
    app.add_url_rule(PREFIX + "/docs", "api_v1_docs", lambda: render_template("api_docs.html", spec=PREFIX + "/openapi.json"))
    if "api_v1" not in app.blueprints:
        if not bp.error_handler_spec:
            bp.register_error_handler(HTTPException, _http_error)
            for code in default_exceptions:  # an app handler for a code would otherwise win over ours
                bp.register_error_handler(code, _http_error)
            bp.register_error_handler(Exception, _unexpected)
        api.register_blueprint(bp)
    # URLs under /api/v1/ that match no route belong to no blueprint: answer them as problems too, and
    # leave every other URL to the pages' own handlers.
    for code in (404, 405):
        page_handler = next(iter(app.error_handler_spec[None].get(code, {}).values()), None)

        def handler(exc, page_handler=page_handler):
            if request.path.startswith(PREFIX + "/") or page_handler is None:
                return _http_error(exc)
            return page_handler(exc)
        app.register_error_handler(code, handler)


# --- problem details ------------------------------------------------------------------------------------

def lang() -> str:
    return "en" if (request.accept_languages.best_match(["zh", "en"]) == "en") else "zh"


def problem(status: int, title: str, detail: str | None = None, kind: str | None = None, **extra):
    body = {"type": PROBLEM_TYPE + kind if kind else "about:blank", "title": title, "status": status,
            "instance": request.path}
    if detail:
        body["detail"] = detail
    body.update(extra)
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    return resp


def field_problem(errors: list[FieldError], status: int = 422):
    return problem(status, "请求数据无效 (invalid data)", "; ".join(f"{e.label}: {e.message(lang())}" for e in errors),
                   "validation", errors=[{"field": e.field, "code": e.code, "message": e.message(lang())}
                                         for e in errors])


def _flatten(messages, prefix: str = "") -> list[dict]:
    """webargs' nested messages ({"json": {"title": ["..."]}}) as one entry per field."""
    if isinstance(messages, dict):
        return [e for key, value in messages.items()
                for e in _flatten(value, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        field = prefix.split(".", 1)[1] if "." in prefix else prefix  # without the location (json, query)
        return [{"field": field, "code": "invalid", "message": "; ".join(messages)}]
    if isinstance(messages, list):
        return [e for i, m in enumerate(messages) for e in _flatten(m, f"{prefix}[{i}]")]
    return [{"field": prefix, "code": "invalid", "message": str(messages)}]


def _http_error(exc: HTTPException):
    if not request.path.startswith(PREFIX + "/"):
        return exc  # the pages' own handlers
    if exc.response is not None and exc.code is None:
        return exc.response
    data = getattr(exc, "data", None) or {}
    if exc.code == 422 and data.get("messages"):
        errors = _flatten(data["messages"])
        return problem(422, "请求数据无效 (invalid data)",
                       "; ".join(f"{e['field']}: {e['message']}" for e in errors), "validation", errors=errors)
    detail = exc.description if exc.description and exc.description != type(exc).description else None
    resp = problem(exc.code or 500, http.HTTPStatus(exc.code or 500).phrase, detail)
    if exc.code == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="banli"'
    if exc.code == 405 and exc.valid_methods:
        resp.headers["Allow"] = ", ".join(exc.valid_methods)
    return resp


def _unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    if not request.path.startswith(PREFIX + "/"):
        raise exc
    log.exception("API request failed", extra={"path": request.path})
    return problem(500, "Internal Server Error", "服务器内部错误，已记录 (an internal error; it was logged)")


# --- authentication and scopes --------------------------------------------------------------------------

def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@bp.before_request
def _authenticate():
    token = _bearer()
    if token is None:
        abort(401, description="需要访问令牌：Authorization: Bearer <token> (a bearer token is required)")
    try:
        with db().transaction() as s:
            user, row = tokens.authenticate(s, token)
            g.api_user_id, g.api_role, g.api_scopes = user.id, user.role, set(row.scopes)
    except tokens.TokenInvalid as exc:
        abort(401, description=error_text(exc, lang()))
    return _replay_if_idempotent()


def scope(name: str, roles: tuple[str, ...] | None = None):
    """The token must carry `name`; with `roles`, the user must have one of them (as the page requires)."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if name not in g.api_scopes:
                abort(403, description=f"令牌缺少权限范围 {name} (the token lacks the scope {name})")
            if roles is not None and g.api_role not in roles:
                abort(403, description="您的角色无权执行此操作 (your role may not do this)")
            return view(*args, **kwargs)
        wrapped.__doc__ = (view.__doc__ or "") + f"\n\nScope: `{name}`" + (
            f"; roles: {', '.join(roles)}" if roles else "")
        return wrapped
    return decorator


# --- Idempotency-Key ------------------------------------------------------------------------------------

IDEMPOTENCY_PARAM = {"in": "header", "name": "Idempotency-Key", "required": False,
                     "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY},
                     "description": "a unique key per intended operation; a retry with the same key gets the "
                                    "first response again (kept 24 hours)"}


def _replay_if_idempotent():
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or key is None:
        return None
    if not key.strip() or len(key) > idempotency.MAX_KEY:
        abort(400, description=f"Idempotency-Key 须为 1-{idempotency.MAX_KEY} 个字符 (1-255 characters)")
    req_hash = idempotency.request_hash(request.method, request.path, request.get_data())
    prior = idempotency.reserve(db(), g.api_user_id, key, req_hash)
    if prior is None:
        g.idempotency_key = key
        return None
    if not prior.same_request:
        return problem(422, "Idempotency-Key 已用于另一请求 (the key was used for a different request)",
                       kind="idempotency-key-reused")
    if prior.status is None:
        return problem(409, "同一请求仍在处理中 (a request with this key is still in progress)",
                       kind="idempotency-in-progress")
    resp = jsonify(prior.body)
    resp.status_code = prior.status
    if prior.status >= 400:
        resp.mimetype = "application/problem+json"
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


@bp.after_request
def _remember(response):
    key = g.pop("idempotency_key", None)
    if key is not None:
        idempotency.finish(db(), g.api_user_id, key, response.status_code,
                           response.get_json(silent=True) if response.is_json else None)
    return response
