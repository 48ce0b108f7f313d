"""Sandboxed script engine for SpiffWorkflow: BPMN files are uploaded by process admins, so every
script, condition, timer and multi-instance expression in them is untrusted code.

Everything goes through RestrictedPython's compiler (attribute names starting with "_" and
imports are rejected, attribute/item/iteration access is routed through guards) and runs with a
small builtins dict and three limits, all enforced at the interpreter level in the request's own thread:

- CPU time (the thread's, `time.thread_time`), not wall-clock time: a script descheduled on a busy
  machine is not charged for the wait, so a load peak no longer opens spurious incidents; nor is it charged
  for a garbage collection that starts while it runs (the collector walks the whole process's objects: a
  long-running server's or test run's, not the script's). The limit is BANLI_SCRIPT_CPU_SECONDS (1 s);
- the size of every operation that can build a large value in one C-level step (`*`, `+`, `<<`, `%`,
  `**`, f-string widths, str.ljust/center/zfill/replace/join, list.extend): predicted from the operands
  and refused *before* it runs, so no single step can hold the interpreter (and every other request of
  the process) for more than a few milliseconds, or take gigabytes;
- an allocation budget per run (what those operations and loop iterations produced), and a cap on the
  size of the task data a script leaves behind.

The checks run between Python-level steps, so together they bound both the time and the memory of a
runaway: it ends as a ScriptTimeout or SandboxViolation (an incident) within the CPU limit.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import gc
import operator
import re
import sys
import threading
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

from engine.config import script_cpu_seconds
from engine.i18n import N_, Msg

__all__ = ["make_script_engine", "check_code", "SandboxViolation", "ScriptTimeout", "ScriptRejected",
           "SandboxEnvironment", "SandboxScriptEngine"]

DEFAULT_TIMEOUT = script_cpu_seconds()  # seconds of the thread's CPU time
MAX_RANGE = 1_000_000          # sum(range(10**12)) would run in C, out of reach of the time limit
MAX_POW_BITS = 100_000         # so would 10 ** 10 ** 10; and a division of two huge ints is quadratic
MAX_INT_BITS = 100_000         # the largest int any guarded operation may produce (some 30,000 digits)
MAX_RESULT_BYTES = 8 * 2**20   # the largest str/list/... one operation may produce
MAX_ALLOC_BYTES = 64 * 2**20   # what one run may produce in all (guarded results and loop iterations)
MAX_DATA_BYTES = 2 * 2**20     # the task data a script leaves behind
MAX_FORMAT_WIDTH = 10_000      # widths and precisions in % formatting and f-strings
# SpiffWorkflow finds the failing line by looking for traceback frames with this file name.
FILENAME = "<string>"
# Names that are absent from the builtins anyway; refusing the call at compile time gives the
# BPMN validator a clear message instead of a NameError at run time.
FORBIDDEN_CALLS = frozenset({"eval", "exec", "compile", "open", "globals", "locals", "vars", "dir",
                             "breakpoint", "input"})


def _denied(name: str) -> Msg:
    return N_("不允许访问“%(name)s”", name=name)


# Refusals are catalog messages (engine.i18n.Msg, the exception's first argument): SpiffWorkflow wraps them
# into its own text, the incident keeps the message itself (found by engine.i18n.carried) for every reader.

class SandboxViolation(Exception):
    """Script tried to reach something the sandbox forbids (raised at run time)."""


class ScriptTimeout(Exception):
    """Script ran past its CPU-time limit. An Exception (not BaseException) so that SpiffWorkflow
    wraps it into WorkflowTaskException like any other script error."""


class ScriptRejected(SyntaxError):
    """Compile-time refusal (syntax error or sandbox rule). A SyntaxError so that SpiffWorkflow
    takes the line number from it."""


# --------------------------------------------------------------------------------------- compiler

class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy with our messages, plus deadline checks that loops and exception
    handlers cannot avoid (see _run for why they are needed)."""

    def error(self, node, info):
        # RestrictedPython's "Line N: text", kept as a Msg so that the refusal itself stays a catalog message.
        self.errors.append(Msg("Line %(line)s: %(problem)s", line=getattr(node, "lineno", None), problem=info))

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
            self.error(node, N_("不允许调用 %(name)s()", name=name))
            return self.node_contents_visit(node)
        return super().visit_Call(node)

    def visit_Import(self, node):
        self.error(node, Msg(N_("不允许使用 import")))
        return node

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node):
        self.error(node, Msg(N_("不允许定义类")))
        return node

    def visit_BinOp(self, node):
        # a ** b -> _pow_(a, b), a * b -> _binop_('*', a, b), ...: one huge result would block the thread in C.
        node = super().visit_BinOp(node)
        if isinstance(node.op, ast.Pow):
            call = ast.Call(ast.Name("_pow_", ast.Load()), [node.left, node.right], [])
            _locate(call, node)
            return call
        symbol = _GUARDED_BINOPS.get(type(node.op))
        if symbol:
            call = ast.Call(ast.Name("_binop_", ast.Load()), [ast.Constant(symbol), node.left, node.right], [])
            _locate(call, node)
            return call
        return node

    def visit_FormattedValue(self, node):
        # f"{x:>999999999}" pads in C: the value goes through _fmt_(x, spec), which checks the width first.
        node = self.node_contents_visit(node)
        if node.format_spec is None:
            return node
        call = ast.Call(ast.Name("_fmt_", ast.Load()),
                        [node.value, node.format_spec, ast.Constant(node.conversion)], [])
        new = ast.FormattedValue(call, -1, None)
        _locate(new, node)
        return new

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


_GUARDED_BINOPS = {ast.Mult: "*", ast.Add: "+", ast.LShift: "<<", ast.Mod: "%"}


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
        problems = [e.params["problem"] if isinstance(e, Msg) else e for e in errors]
        text = Msg("; ".join(f"%(p{n})s" for n in range(len(problems))), **{f"p{n}": p for n, p in enumerate(problems)})
        raise ScriptRejected(text, (FILENAME, lineno, None, None))
    return code


# ---------------------------------------------------------------------------------------- runtime

def _guarded_getattr(obj, name, default=raise_):
    if isinstance(name, str) and (name.startswith("_") or name in INSPECT_ATTRIBUTES):
        raise SandboxViolation(_denied(name))
    if name in ("format", "format_map") and (isinstance(obj, str) or obj is str):
        # "{0.__class__}".format(x) walks attributes inside the format string, unguarded.
        raise SandboxViolation(Msg(N_("不允许使用 str.format()，请改用 f-string 或 %")))
    return safer_getattr(obj, name, default)


def _limited_range(*args):
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise SandboxViolation(N_("range() 过大，最多 %(n)s 项", n=MAX_RANGE))
    return r


def _guarded_pow(a, b):
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 \
            and a.bit_length() * b > MAX_POW_BITS:
        raise SandboxViolation(Msg(N_("乘方结果过大")))
    return a ** b


_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
            "//=": operator.ifloordiv, "%=": operator.imod, "**=": _guarded_pow,
            "<<=": operator.ilshift, ">>=": operator.irshift, "&=": operator.iand,
            "|=": operator.ior, "^=": operator.ixor, "@=": operator.imatmul}

_FORMAT_FIELD = re.compile(r"%[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")


def _format_widths_ok(template: str) -> bool:
    for width, precision in _FORMAT_FIELD.findall(template):
        for n in (width, precision):
            if n == "*" or (n and (len(n) > 6 or int(n) > MAX_FORMAT_WIDTH)):
                return False
    return True


def _size(value) -> int:
    """Roughly the bytes a value takes (what matters is its order of magnitude)."""
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return 8 * len(value)
    if isinstance(value, int):
        return value.bit_length() // 8
    return 0


def _predicted(symbol: str, a, b) -> int:
    """The size of a op b, from its operands, without computing it."""
    if symbol == "*":
        if isinstance(a, int) and isinstance(b, int):
            if a.bit_length() + b.bit_length() > MAX_INT_BITS:
                raise SandboxViolation(Msg(N_("乘积过大")))
            return 0
        seq, n = (a, b) if isinstance(b, int) else (b, a)
        return _size(seq) * n if isinstance(n, int) and n > 0 else 0
    if symbol == "+":
        return _size(a) + _size(b) if not (isinstance(a, int) and isinstance(b, int)) else 0
    if symbol == "<<":
        if isinstance(a, int) and isinstance(b, int) and b > 0 and a and a.bit_length() + b > MAX_INT_BITS:
            raise SandboxViolation(Msg(N_("移位结果过大")))
        return 0
    if symbol == "%" and isinstance(a, str):
        if not _format_widths_ok(a):
            raise SandboxViolation(N_("格式宽度过大，最多 %(n)s", n=MAX_FORMAT_WIDTH))
        return len(a) + sum(_size(v) for v in (b if isinstance(b, tuple) else (b,)))
    return 0


_BINOPS = {"*": operator.mul, "+": operator.add, "<<": operator.lshift, "%": operator.mod}


class _Budget:
    """What one run may still allocate through guarded operations and loop iterations."""

    def __init__(self):
        self.left = MAX_ALLOC_BYTES

    def charge(self, size: int) -> None:
        if size > MAX_RESULT_BYTES:
            raise SandboxViolation(N_("结果过大（约 %(size)s MB，上限 %(limit)s MB）", size=size // 2**20,
                                      limit=MAX_RESULT_BYTES // 2**20))
        self.left -= size
        if self.left < 0:
            raise SandboxViolation(N_("脚本占用内存超过 %(limit)s MB", limit=MAX_ALLOC_BYTES // 2**20))

    def binop(self, symbol, a, b):
        self.charge(_predicted(symbol, a, b))
        return _BINOPS[symbol](a, b)

    def inplace(self, op, x, y):
        symbol = op[:-1]
        if symbol in _BINOPS:
            self.charge(_predicted(symbol, x, y))
        return _INPLACE[op](x, y)

    def fmt(self, value, spec, conversion):
        if conversion in (ord("r"), ord("s"), ord("a")):
            value = {ord("r"): repr, ord("s"): str, ord("a"): ascii}[conversion](value)
        if any(len(n) > 6 or int(n) > MAX_FORMAT_WIDTH for n in re.findall(r"\d+", str(spec))):
            raise SandboxViolation(N_("格式宽度过大，最多 %(n)s", n=MAX_FORMAT_WIDTH))
        return format(value, spec)

    def getattr(self, obj, name, default=raise_):
        value = _guarded_getattr(obj, name, default)
        check = _SIZED_METHODS.get((type(obj), name)) if isinstance(obj, (str, list)) else None
        if check is None:
            return value

        def sized(*args, **kwargs):
            self.charge(check(obj, *args, **kwargs))
            return value(*args, **kwargs)
        return sized


def _width(s, width=0, *_args, **_kw):
    return max(len(s), width if isinstance(width, int) else 0)


def _replaced(s, old="", new="", count=-1, *_args):
    if not isinstance(old, str) or not isinstance(new, str):
        return len(s)
    hits = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(0, len(new) - len(old))


def _joined(sep, parts=(), *_args):
    if isinstance(parts, (list, tuple)):
        return sum(_size(p) for p in parts) + len(sep) * len(parts)
    return 0  # a generator: each part was produced (and charged) by guarded steps


_SIZED_METHODS = {
    (str, "ljust"): _width, (str, "rjust"): _width, (str, "center"): _width, (str, "zfill"): _width,
    (str, "expandtabs"): lambda s, tabsize=8, *_a, **_k: len(s) * max(1, tabsize if isinstance(tabsize, int) else 1),
    (str, "replace"): _replaced, (str, "join"): _joined,
    (list, "extend"): lambda lst, other=(), *_a: 8 * (len(lst) + (len(other) if hasattr(other, "__len__") else 0)),
}


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


_COLLECTING = threading.local()  # this thread's CPU time in garbage collections: `started`, `spent`


def _collection(phase: str, _info: dict) -> None:
    """gc callback: add up the CPU time each collection takes in the thread that runs it."""
    if phase == "start":
        _COLLECTING.started = time.thread_time()
        return
    started = getattr(_COLLECTING, "started", None)
    if started is not None:
        _COLLECTING.spent = getattr(_COLLECTING, "spent", 0.0) + time.thread_time() - started
        _COLLECTING.started = None


gc.callbacks.append(_collection)


def _script_time() -> float:
    """The thread's CPU time less what garbage collections took in it, the one running included (the tracer
    sees the call of the callback that ends it): what a script is charged against."""
    now = time.thread_time()
    started = getattr(_COLLECTING, "started", None)
    return now - getattr(_COLLECTING, "spent", 0.0) - (now - started if started is not None else 0.0)


def _run(code: types.CodeType, namespace: dict, timeout: float):
    """eval/exec `code` in `namespace` under a CPU-time deadline and an allocation budget.

    sys.settrace (not signals) so it works in any thread. The trace function only looks at 'call'
    events, which is cheap; loops are covered by the _deadline_()/_getiter_ checks that the
    compiler puts into them, since a tight loop on one line emits no trace events at all."""
    deadline = _script_time() + timeout
    budget = _Budget()

    def tracer(frame, event, arg):
        if _script_time() > deadline:
            raise ScriptTimeout(N_("脚本运行超过 %(seconds)s 秒，已被终止", seconds=f"{timeout:g}"))
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
            budget.charge(8)  # what a comprehension or an append per iteration keeps
            yield item

    def loop_check():
        check()
        budget.charge(8)

    namespace["__builtins__"] = {**_BUILTINS, "_deadline_": loop_check, "_getiter_": getiter,
                                 "_binop_": budget.binop, "_inplacevar_": budget.inplace, "_fmt_": budget.fmt,
                                 "_getattr_": budget.getattr, "getattr": budget.getattr}
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return eval(code, namespace)  # runs "exec"-mode code objects too (returning None)
    finally:
        sys.settrace(previous)


def _data_size(value, limit: int) -> int:
    """Roughly the bytes of task data, walking containers; stops counting once past `limit`."""
    total, stack = 0, [value]
    while stack and total <= limit:
        v = stack.pop()
        total += _size(v) + 8
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple, set, frozenset)):
            stack.extend(v)
    return total


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
        if _data_size(context, MAX_DATA_BYTES) > MAX_DATA_BYTES:
            raise SandboxViolation(N_("脚本留下的数据超过 %(limit)s MB", limit=MAX_DATA_BYTES // 2**20))
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
