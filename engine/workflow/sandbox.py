"""Sandboxed script engine for SpiffWorkflow: BPMN files are uploaded by process admins, so every
script, condition, timer and multi-instance expression in them is untrusted code.

Everything goes through RestrictedPython's compiler (attribute names starting with "_" and
imports are rejected, attribute/item/iteration access is routed through guards) and runs with a
small builtins dict and a wall-clock limit. SpiffWorkflow's own data semantics (task.data is the
script namespace, callables are stripped afterwards) are kept by subclassing TaskDataEnvironment.

Limits of an in-process sandbox: the time limit is checked between Python-level steps, so a single
long C-level operation cannot be interrupted, and memory is not capped. The obvious cases
(huge ``**``, huge ``range``) are refused up front; for hard CPU/memory limits run the engine in a
worker process with resource limits.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import operator
import re
import sys
import time
import types
from typing import Callable, Literal

from RestrictedPython import PrintCollector, RestrictingNodeTransformer, compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence, raise_, safer_getattr,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, copy_locations
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

__all__ = ["make_script_engine", "check_code", "SandboxViolation", "ScriptTimeout", "ScriptRejected",
           "SandboxEnvironment", "SandboxScriptEngine"]

DEFAULT_TIMEOUT = 1.0
MAX_RANGE = 1_000_000          # sum(range(10**12)) would run in C, out of reach of the time limit
MAX_POW_BITS = 1_000_000       # so would 10 ** 10 ** 10
# SpiffWorkflow finds the failing line by looking for traceback frames with this file name.
FILENAME = "<string>"
# Names that are absent from the builtins anyway; refusing the call at compile time gives the
# BPMN validator a clear message instead of a NameError at run time.
FORBIDDEN_CALLS = frozenset({"eval", "exec", "compile", "open", "globals", "locals", "vars", "dir",
                             "breakpoint", "input"})


def _denied(name: str) -> str:
    return f"不允许访问 '{name}' (access to '{name}' is not allowed)"


class SandboxViolation(Exception):
    """Script tried to reach something the sandbox forbids (raised at run time)."""


class ScriptTimeout(Exception):
    """Script ran past its wall-clock limit. An Exception (not BaseException) so that SpiffWorkflow
    wraps it into WorkflowTaskException like any other script error."""


class ScriptRejected(SyntaxError):
    """Compile-time refusal (syntax error or sandbox rule). A SyntaxError so that SpiffWorkflow
    takes the line number from it."""


# --------------------------------------------------------------------------------------- compiler

class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy with our messages, plus deadline checks that loops and exception
    handlers cannot avoid (see _run for why they are needed)."""

    def check_name(self, node, name, allow_magic_methods=False):
        if name and name.startswith("_") and name != "_":
            self.error(node, _denied(name))
        else:
            super().check_name(node, name, allow_magic_methods)

    def visit_Attribute(self, node):
        if node.attr.startswith("_") or node.attr in INSPECT_ATTRIBUTES:
            self.error(node, _denied(node.attr))
            return self.node_contents_visit(node)
        return super().visit_Attribute(node)

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            name = node.func.id
            self.error(node, f"不允许调用 {name}() (calling {name}() is not allowed)")
            return self.node_contents_visit(node)
        return super().visit_Call(node)

    def visit_Import(self, node):
        self.error(node, "不允许使用 import (import statements are not allowed)")
        return node

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node):
        self.error(node, "不允许定义类 (class definitions are not allowed)")
        return node

    def visit_BinOp(self, node):
        # a ** b  ->  _pow_(a, b): a single huge power would block the thread in C.
        node = super().visit_BinOp(node)
        if isinstance(node.op, ast.Pow):
            call = ast.Call(ast.Name("_pow_", ast.Load()), [node.left, node.right], [])
            _locate(call, node)
            return call
        return node

    def visit_While(self, node):
        # A one-line `while True: pass` produces no trace events on 3.11, so check in the body.
        node = super().visit_While(node)
        node.body.insert(0, _deadline_stmt(node))
        return node

    def visit_Try(self, node):
        # The trace function is removed by CPython once it raises; a script catching the timeout
        # would then run unchecked. Every handler / finally therefore re-checks (and re-arms) first.
        node = super().visit_Try(node)
        for handler in node.handlers:
            handler.body.insert(0, _deadline_stmt(handler))
        if node.finalbody:
            node.finalbody.insert(0, _deadline_stmt(node.finalbody[0]))
        return node


def _locate(new, ref):
    for n in ast.walk(new):
        if "lineno" in n._attributes:
            copy_locations(n, ref)


def _deadline_stmt(ref):
    stmt = ast.Expr(ast.Call(ast.Name("_deadline_", ast.Load()), [], []))
    _locate(stmt, ref)
    return stmt


@functools.lru_cache(maxsize=4096)
def _compile(source: str, mode: str):
    """(code or None, errors). Cached by source text: restricted compilation is slow and the same
    conditions are evaluated over and over."""
    compiler = compile_restricted_exec if mode == "exec" else compile_restricted_eval
    result = compiler(source, filename=FILENAME, policy=_Policy)
    return result.code, tuple(result.errors)


def check_code(source: str, mode: Literal["exec", "eval"]) -> list[str]:
    """Compile-time problems of a script ("exec") or expression ("eval"), as "Line N: message"
    strings; empty when the code is acceptable. Runs nothing."""
    if mode not in ("exec", "eval"):
        raise ValueError(f"mode must be 'exec' or 'eval', not {mode!r}")
    return list(_compile(source, mode)[1])


def _compiled(source: str, mode: str) -> types.CodeType:
    code, errors = _compile(source, mode)
    if errors:
        m = re.match(r"Line (\d+):", errors[0])
        lines = source.splitlines()
        # SpiffWorkflow indexes source lines with this number, so keep it inside the source.
        lineno = min(int(m.group(1)), len(lines)) if m and lines else 0
        raise ScriptRejected("; ".join(errors), (FILENAME, lineno, None, None))
    return code


# ---------------------------------------------------------------------------------------- runtime

def _guarded_getattr(obj, name, default=raise_):
    if isinstance(name, str) and (name.startswith("_") or name in INSPECT_ATTRIBUTES):
        raise SandboxViolation(_denied(name))
    if name in ("format", "format_map") and (isinstance(obj, str) or obj is str):
        # "{0.__class__}".format(x) walks attributes inside the format string, unguarded.
        raise SandboxViolation("不允许使用 str.format()，请改用 f-string 或 % "
                               "(str.format() is not allowed, use an f-string or %)")
    return safer_getattr(obj, name, default)


def _limited_range(*args):
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise SandboxViolation(f"range() 过大，最多 {MAX_RANGE} 项 (range() larger than {MAX_RANGE} items)")
    return r


def _guarded_pow(a, b):
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 \
            and a.bit_length() * b > MAX_POW_BITS:
        raise SandboxViolation("乘方结果过大 (result of ** is too large)")
    return a ** b


_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
            "//=": operator.ifloordiv, "%=": operator.imod, "**=": _guarded_pow,
            "<<=": operator.ilshift, ">>=": operator.irshift, "&=": operator.iand,
            "|=": operator.ior, "^=": operator.ixor, "@=": operator.imatmul}

_SAFE_NAMES = (
    "None", "True", "False", "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter",
    "float", "frozenset", "int", "isinstance", "len", "list", "map", "max", "min", "reversed",
    "round", "set", "sorted", "str", "sum", "tuple", "zip",
    "Exception", "ArithmeticError", "AssertionError", "AttributeError", "IndexError", "KeyError",
    "LookupError", "NameError", "RuntimeError", "TypeError", "ValueError", "ZeroDivisionError",
)
# No __import__, open, type, getattr of "_" names, ...: anything not listed simply does not exist.
_BUILTINS = {name: getattr(builtins, name) for name in _SAFE_NAMES}
_BUILTINS.update(
    getattr=_guarded_getattr,
    range=_limited_range,
    _getattr_=_guarded_getattr,
    # Item access needs no extra check: with "_" attributes out of reach, containers only hold data.
    _getitem_=operator.getitem,
    _write_=full_write_guard,              # lets dict/list be mutated, refuses setattr on objects
    _inplacevar_=lambda op, x, y: _INPLACE[op](x, y),
    _apply_=lambda f, *a, **kw: f(*a, **kw),
    _unpack_sequence_=guarded_unpack_sequence,
    _iter_unpack_sequence_=guarded_iter_unpack_sequence,
    _print_=PrintCollector,                # print() output is collected and dropped
    _pow_=_guarded_pow,
)


def _run(code: types.CodeType, namespace: dict, timeout: float):
    """eval/exec `code` in `namespace` under a wall-clock deadline.

    sys.settrace (not signals) so it works in any thread. The trace function only looks at 'call'
    events, which is cheap; loops are covered by the _deadline_()/_getiter_ checks that the
    compiler puts into them, since a tight loop on one line emits no trace events at all."""
    deadline = time.monotonic() + timeout

    def tracer(frame, event, arg):
        if time.monotonic() > deadline:
            raise ScriptTimeout(f"脚本运行超过 {timeout:g} 秒，已被终止 "
                                f"(script exceeded the time limit of {timeout:g} s)")
        return None  # no per-line tracing

    def check():
        tracer(None, "call", None)
        # CPython drops the trace function when it raises (our timeout, or a RecursionError
        # hitting it); the script may have caught that exception, so re-arm.
        if sys.gettrace() is not tracer:
            sys.settrace(tracer)

    def getiter(ob):
        for item in ob:
            check()
            yield item

    namespace["__builtins__"] = {**_BUILTINS, "_deadline_": check, "_getiter_": getiter}
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return eval(code, namespace)  # runs "exec"-mode code objects too (returning None)
    finally:
        sys.settrace(previous)


class SandboxEnvironment(TaskDataEnvironment):
    """TaskDataEnvironment with eval/exec replaced by the sandbox; the rest of its behaviour
    (overwrite check, clean-up of globals and callables) is inherited unchanged."""

    def __init__(self, functions: dict[str, Callable] | None = None, timeout: float = DEFAULT_TIMEOUT):
        super().__init__(dict(functions or {}))
        self.timeout = timeout

    def evaluate(self, expression, context, external_context=None):
        code = _compiled(expression, "eval")
        my_globals = copy.copy(self.globals)
        self._prepare_context(context)
        my_globals.update(external_context or {})
        my_globals.update(context)
        return _run(code, my_globals, self.timeout)

    def execute(self, script, context, external_context=None):
        code = _compiled(script, "exec")  # refuse before touching task data
        self.check_for_overwrite(context, external_context or {})
        my_globals = copy.copy(self.globals)
        self._prepare_context(context)
        my_globals.update(external_context or {})
        context.update(my_globals)
        try:
            _run(code, context, self.timeout)
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        return True

    def _remove_globals_and_functions_from_context(self, context, external_context=None):
        super()._remove_globals_and_functions_from_context(context, external_context)
        # Upstream leaves modules behind; an exposed function could hand one out.
        for key in [k for k, v in context.items() if isinstance(v, types.ModuleType)]:
            del context[key]


class SandboxScriptEngine(PythonScriptEngine):
    def evaluate(self, task, expression, external_context=None):
        # Upstream's message is only "Error evaluating expression '...'": add the cause, or a
        # sandbox refusal in a gateway condition would not say what was refused.
        try:
            return super().evaluate(task, expression, external_context)
        except WorkflowTaskException as wte:
            cause = wte.__context__
            if isinstance(cause, Exception) and not isinstance(cause, SpiffWorkflowException):
                msg = cause.msg if isinstance(cause, SyntaxError) else str(cause)
                wte.add_note(f"{type(cause).__name__}: {msg}")
            raise


def make_script_engine(functions: dict[str, Callable] | None = None, *,
                       timeout: float = DEFAULT_TIMEOUT) -> PythonScriptEngine:
    """A script engine for untrusted BPMN. `functions` are callable by name from scripts and
    expressions (they must not take or return objects that expose dangerous methods)."""
    return SandboxScriptEngine(environment=SandboxEnvironment(functions, timeout))
