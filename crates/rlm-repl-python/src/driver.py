# The recursive-lm CPython driver (shipped inside the rlm-repl-python crate).
#
# Started as `python3 -I -S -B <this file> <config json>` by the Rust side, in an empty
# environment, its own session, rlimits, namespaces and (when the host runs as root) an
# unprivileged uid. It keeps one persistent namespace for user code and talks to the host over
# frames: a 4-byte big-endian length, then a UTF-8 JSON body. Requests arrive on the original
# stdin, replies leave on the original stdout; both are moved to private descriptors first, so
# code writing to file descriptor 1 or 2 (os.write, subprocesses) cannot corrupt the channel.
#
# The config holds the limits and the runtime's names, which are defined once on the host
# (rlm_core::names): the host functions, the answer variable and the private-helper prefix.
#
# Requests (externally tagged): {"exec": {"code"}}, {"load": {"name", "path", "kind"}},
# {"get": {"name"}}, "vars", and {"reply": {"value"} | {"error", "exception"}} while a host call
# waits (an error raises the named builtin exception, RuntimeError by default).
# Messages: {"ready": {...}}, {"call": {"function", "prompt" | "prompts", "model"}} or
# {"call": {"function": "tool", "name", "args", "kwargs"}} (a custom tool, values encoded),
# {"final": {"via", "name", "answer"}}, {"out": {...}} (output salvaged on SIGUSR1 before a
# timeout kill), {"done": {...}}, "ok", {"value": {"value"}}, "missing", {"vars": {"vars"}},
# {"error": {"message"}}.

import os
import sys

_IN = os.dup(0)
_OUT = os.dup(1)
_null = os.open(os.devnull, os.O_RDWR)
os.dup2(_null, 0)
os.dup2(2, 1)
os.close(_null)
del _null


def _enter_pid_namespace():
    # When the host created a PID namespace (unshare in the pre-exec hook), only the children of
    # this process live in it, and this process itself could never start threads. So fork: the
    # child is init (pid 1) of the namespace and becomes the driver; this process stays outside
    # as the group leader the host kills, and mirrors the child's exit. Killing init kills every
    # process in the namespace, including ones the code detached with setsid.
    try:
        pending = os.readlink("/proc/self/ns/pid_for_children") != os.readlink("/proc/self/ns/pid")
    except FileNotFoundError:
        pending = True
    except OSError:
        pending = False
    if not pending:
        return False
    inner = os.fork()
    if inner == 0:
        return True
    os.close(_IN)
    os.close(_OUT)
    while True:
        try:
            _, status = os.waitpid(inner, 0)
            break
        except ChildProcessError:
            os._exit(0)
    if os.WIFSIGNALED(status):
        import signal

        sig = os.WTERMSIG(status)
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


_PID_NS = _enter_pid_namespace()

import _thread
import builtins
import io
import json
import mmap
import signal

_CFG = json.loads(sys.argv[1])
_MAX_OUTPUT = _CFG["max_output_bytes"]
_MAX_CALLS = _CFG["max_host_calls"]
_MAX_FRAME = _CFG["max_frame_bytes"]
_MAX_ERROR = _CFG["max_error_chars"]
_DRIVER = __file__
_PID = os.getpid()
_LOCK = _thread.allocate_lock()
# The runtime's names come from the host (rlm_core::names), so both backends reserve the same.
_HOST_FUNCTIONS = tuple(_CFG["host_functions"])
_ANSWER = _CFG["answer_variable"]
_PRIVATE_PREFIX = _CFG["private_prefix"]
# The custom tools: functions whose calls the host answers (names checked by the host).
_TOOLS = tuple(_CFG.get("tools", ()))
_RUNTIME_NAMES = frozenset(_HOST_FUNCTIONS) | frozenset(_TOOLS)


# ----------------------------------------------------------------------------- framing


class _TooLarge(Exception):
    pass


def _fatal(message):
    try:
        os.write(2, ("rlm driver: " + message + "\n").encode("utf-8", "replace"))
    finally:
        os._exit(3)


def _read_exact(n):
    chunks = []
    while n:
        chunk = os.read(_IN, min(n, 1 << 20))
        if not chunk:
            # The host closed the channel: the session is over.
            os._exit(0)
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _recv():
    n = int.from_bytes(_read_exact(4), "big")
    if n > _MAX_FRAME:
        _fatal("request of %d bytes exceeds the %d-byte frame limit" % (n, _MAX_FRAME))
    try:
        return json.loads(_read_exact(n))
    except ValueError as e:
        _fatal("malformed request: %s" % e)


def _write_all(data):
    view = memoryview(data)
    while view:
        view = view[os.write(_OUT, view):]


def _send_locked(obj):
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
    if len(data) > _MAX_FRAME:
        raise _TooLarge(len(data))
    _write_all(len(data).to_bytes(4, "big"))
    _write_all(data)


def _send(obj):
    with _LOCK:
        _send_locked(obj)


# ----------------------------------------------------------------------------- values


def _safe_repr(value):
    try:
        text = repr(value)
    except BaseException:
        text = "<%s object>" % type(value).__name__
    return text


def _to_wire(value, depth=0):
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        if -(1 << 63) <= value < (1 << 63):
            return value
        return {"other": ["int", _safe_repr(value)]}
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            return {"float": repr(value)}
        return value
    if depth >= 32:
        return {"other": [kind.__name__, _safe_repr(value)]}
    if kind is list:
        return [_to_wire(item, depth + 1) for item in value]
    if kind is tuple:
        return {"tuple": [_to_wire(item, depth + 1) for item in value]}
    if kind is dict:
        return {"dict": [[_to_wire(k, depth + 1), _to_wire(v, depth + 1)] for k, v in value.items()]}
    if kind is bytes:
        return {"bytes": value.decode("latin-1")}
    return {"other": [kind.__name__, _safe_repr(value)]}


def _from_wire(wire):
    if type(wire) is list:
        return [_from_wire(item) for item in wire]
    if type(wire) is dict:
        ((tag, body),) = wire.items()
        if tag == "tuple":
            return tuple(_from_wire(item) for item in body)
        if tag == "dict":
            return {_from_wire(k): _from_wire(v) for k, v in body}
        if tag == "bytes":
            return body.encode("latin-1")
        if tag == "float":
            return float(body)
        raise ValueError("unknown value tag %r" % tag)
    return wire


# ----------------------------------------------------------------------------- output


class _Output(io.TextIOBase):
    """Printed output of one execution: the head up to the cap (UTF-8 bytes), the rest dropped."""

    def __init__(self, cap):
        self._parts = []
        self._size = 0
        self._cap = cap
        self.truncated = False

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        if self.truncated or not s:
            return len(s)
        room = self._cap - self._size
        if len(s) <= room:
            n = len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))
            if n <= room:
                self._parts.append(s)
                self._size += n
                return len(s)
        head = s[:room]
        if not head.isascii():
            head = head.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
        if head:
            self._parts.append(head)
        self.truncated = True
        return len(s)

    def force_line(self, line):
        """A line the runtime must show, past the cap if needed."""
        if self._parts and not self._parts[-1].endswith("\n"):
            self._parts.append("\n")
        self._parts.append(line + "\n")

    def text(self):
        return "".join(self._parts)


_SINK = _Output(0)


class _Run:
    __slots__ = ("out", "calls", "finish")

    def __init__(self):
        self.out = _Output(_MAX_OUTPUT)
        self.calls = 0
        self.finish = None


_run = None


def _on_salvage(signum, frame):
    # The host is about to kill this process for running past its time limit: hand over what
    # the block printed so far. Skipped when the channel is busy.
    run = _run
    if run is None or not _LOCK.acquire(False):
        return
    try:
        _send_locked({"out": {"stdout": run.out.text(), "truncated": run.out.truncated}})
    except BaseException:
        pass
    finally:
        _LOCK.release()


# ----------------------------------------------------------------------------- host calls


def _exception(name, message):
    # The exception a host error raises: the named builtin when it is an Exception, else
    # RuntimeError with the name in the message.
    cls = getattr(builtins, name, None) if type(name) is str else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except BaseException:
            pass
    if type(name) is str and name != "RuntimeError":
        message = "%s: %s" % (name, message)
    return RuntimeError(message)


def _host_call(function, call):
    if os.getpid() != _PID:
        raise RuntimeError("%s() is not available in a forked process" % function)
    run = _run
    if run is None:
        raise RuntimeError("%s() can only be called while a block is running" % function)
    if run.calls >= _MAX_CALLS:
        raise RuntimeError(
            "host-call limit reached: an execution may make at most %d llm_query/rlm_query calls"
            % _MAX_CALLS
        )
    run.calls += 1
    with _LOCK:
        try:
            _send_locked({"call": call})
        except _TooLarge as e:
            run.calls -= 1
            raise ValueError(
                "%s() arguments are too large to send: %d bytes (the limit is %d)"
                % (function, e.args[0], _MAX_FRAME)
            ) from None
        reply = _recv()
    body = reply.get("reply") if type(reply) is dict else None
    if type(body) is not dict:
        _fatal("expected a reply to %s()" % function)
    if "error" in body:
        raise _exception(body.get("exception"), body["error"])
    return _from_wire(body["value"])


def _check_model(function, model):
    if model is not None and not isinstance(model, str):
        raise TypeError(
            "%s() argument 'model' must be str or None, not %s" % (function, type(model).__name__)
        )


def _single(function, prompt, model):
    _check_model(function, model)
    if not isinstance(prompt, str):
        raise TypeError(
            "%s() argument 'prompt' must be str, not %s" % (function, type(prompt).__name__)
        )
    return _host_call(function, {"function": function, "prompt": prompt, "model": model})


def _batched(function, prompts, model):
    _check_model(function, model)
    if isinstance(prompts, (str, bytes, bytearray, dict)) or not hasattr(prompts, "__iter__"):
        raise TypeError(
            "%s() argument 'prompts' must be a list of str, not %s"
            % (function, type(prompts).__name__)
        )
    prompts = list(prompts)
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise TypeError(
                "%s() argument 'prompts' item %d must be str, not %s"
                % (function, i, type(prompt).__name__)
            )
    if not prompts:
        return []
    return _host_call(function, {"function": function, "prompts": prompts, "model": model})


def llm_query(prompt, model=None):
    """One plain LLM call; returns its text (failures are strings starting with 'Error:')."""
    return _single("llm_query", prompt, model)


def llm_query_batched(prompts, model=None):
    """Plain LLM calls run concurrently; the answers in input order."""
    return _batched("llm_query_batched", prompts, model)


def rlm_query(prompt, model=None):
    """A child RLM whose context is `prompt`; returns its answer."""
    return _single("rlm_query", prompt, model)


def rlm_query_batched(prompts, model=None):
    """Child RLMs run concurrently; their answers in input order."""
    return _batched("rlm_query_batched", prompts, model)


def _tool(name):
    # A custom tool: the arguments travel encoded; the host converts them to JSON (or answers
    # TypeError) and its reply is the tool's result or exception.
    def tool(*args, **kwargs):
        call = {
            "function": "tool",
            "name": name,
            "args": [_to_wire(a) for a in args],
            "kwargs": {k: _to_wire(v) for k, v in kwargs.items()},
        }
        return _host_call(name, call)

    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = "The custom tool %s (answered by the host)." % name
    return tool


# ----------------------------------------------------------------------------- finishing


class _Finish(BaseException):
    """Stops a block at FINAL/FINAL_VAR. The host already holds the answer when it is raised."""


def _finish(finish):
    run = _run
    if os.getpid() != _PID or run is None:
        raise _Finish()
    if run.finish is None:
        with _LOCK:
            try:
                _send_locked({"final": finish})
            except _TooLarge as e:
                raise ValueError(
                    "the final answer is too large to send: %d bytes (the limit is %d)"
                    % (e.args[0], _MAX_FRAME)
                ) from None
        run.finish = finish
    raise _Finish()


def FINAL(value):
    """Finish the run with str(value)."""
    _finish({"via": "final", "name": None, "answer": str(value)})


def _is_lookup_name(name):
    return name in _ns and name not in _RUNTIME_NAMES and not (
        name.startswith(_PRIVATE_PREFIX) or (len(name) > 4 and name.startswith("__") and name.endswith("__"))
    )


def FINAL_VAR(name):
    """Finish the run with the value of the variable `name` (a non-string is the value itself)."""
    if type(name) is not str:
        _finish({"via": "final_var", "name": None, "answer": str(name)})
    name = name.strip().strip("\"'")
    if _is_lookup_name(name):
        _finish({"via": "final_var", "name": name, "answer": str(_ns[name])})
    names = ", ".join("'%s'" % n for n, _ in _visible())
    text = (
        "Error: Variable '%s' not found. Available variables: [%s]. "
        "You must create and assign a variable BEFORE calling FINAL_VAR on it." % (name, names)
    )
    run = _run
    if run is not None:
        run.out.force_line(text)
    return text


def _visible():
    found = []
    for name in sorted(k for k in list(_ns) if type(k) is str):
        if name.startswith("_") or name in _RUNTIME_NAMES:
            continue
        try:
            type_name = type(_ns[name]).__name__
        except KeyError:
            continue
        if type_name != "module":
            found.append((name, type_name))
    return found


def SHOW_VARS():
    """The user variables that exist, with their types."""
    found = _visible()
    if not found:
        return "No variables created yet. Use ```repl``` blocks to create variables."
    return "Available variables: {%s}" % ", ".join("'%s': '%s'" % pair for pair in found)


# ----------------------------------------------------------------------------- the namespace

_main = type(sys)("__main__")
_main.__builtins__ = builtins
_ns = _main.__dict__
sys.modules["__main__"] = _main


def _scaffold():
    """The host functions by name (every name the host sent must be defined above), then the
    custom tools."""
    found = {}
    for name in _HOST_FUNCTIONS:
        function = globals().get(name)
        if not callable(function):
            _fatal("the host function %r is not defined by this driver" % name)
        found[name] = function
    for name in _TOOLS:
        found[name] = _tool(name)
    return found


_SCAFFOLD = _scaffold()
_ns.update(_SCAFFOLD)
_ns[_ANSWER] = {"content": "", "ready": False}


def _epilogue():
    """Restores the scaffold and reads `answer`: its content when ready (then it is reset)."""
    for name, function in _SCAFFOLD.items():
        if _ns.get(name) is not function:
            _ns[name] = function
    ready = None
    answer = _ns.get(_ANSWER)
    pending = False
    if type(answer) is dict:
        try:
            if answer.get("ready"):
                ready = str(answer.get("content", ""))
            else:
                pending = True
        except BaseException:
            ready = None
    if not pending:
        _ns[_ANSWER] = {"content": "", "ready": False}
    return ready


# ----------------------------------------------------------------------------- errors


def _strip_driver(te, seen):
    import traceback

    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename != _DRIVER])
    _strip_driver(te.__cause__, seen)
    _strip_driver(te.__context__, seen)
    for sub in te.exceptions or ():
        _strip_driver(sub, seen)


def _format_error(error):
    try:
        import traceback

        te = traceback.TracebackException(type(error), error, error.__traceback__, compact=True)
        _strip_driver(te, set())
        text = "".join(te.format())
    except BaseException:
        try:
            text = "%s: %s" % (type(error).__name__, error)
        except BaseException:
            text = type(error).__name__
    text = text.rstrip("\n")
    if len(text) > _MAX_ERROR:
        head = text[: _MAX_ERROR * 3 // 4]
        tail = text[-(_MAX_ERROR // 4):]
        cut = len(text) - len(head) - len(tail)
        text = "%s\n... [%d characters cut] ...\n%s" % (head, cut, tail)
    return text


# ----------------------------------------------------------------------------- requests

_count = 0


def _execute(code):
    global _run, _count
    import linecache

    filename = "<python-input-%d>" % _count
    _count += 1
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    run = _Run()
    _run = run
    sys.stdout = sys.stderr = run.out
    error = None
    try:
        exec(compile(code, filename, "exec", dont_inherit=True), _ns)
    except _Finish:
        pass
    except BaseException as e:
        error = e
    if os.getpid() != _PID:
        # A process forked by the code has finished the block: it must not answer the host.
        os._exit(0)
    sys.stdout = sys.stderr = _SINK
    _run = None
    text = None
    if error is not None and run.finish is None:
        text = _format_error(error)
    error = None
    ready = _epilogue()
    return {
        "done": {
            "stdout": run.out.text(),
            "truncated": run.out.truncated,
            "error": text,
            "answer": ready,
            "host_calls": run.calls,
        }
    }


def _load(name, path, kind):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        data = mmap.mmap(fd, size, access=mmap.ACCESS_READ) if size else b""
        try:
            if kind == "str":
                value = str(data, "utf-8")
            elif kind == "bytes":
                value = bytes(data)
            else:
                value = _from_wire(json.loads(bytes(data)))
        finally:
            if size:
                data.close()
    finally:
        os.close(fd)
    _ns[name] = value


def _get(name):
    if name not in _ns:
        return "missing"
    return {"value": {"value": _to_wire(_ns[name])}}


def _handle(request):
    if request == "vars":
        return {"vars": {"vars": _visible()}}
    if type(request) is not dict or len(request) != 1:
        return {"error": {"message": "unknown request"}}
    ((op, body),) = request.items()
    if op == "exec":
        return _execute(body["code"])
    if op == "load":
        _load(body["name"], body["path"], body["kind"])
        return "ok"
    if op == "get":
        return _get(body["name"])
    return {"error": {"message": "unknown request %r" % op}}


# ----------------------------------------------------------------------------- start-up


def _die_with_the_leader():
    # Init of the PID namespace: the host's parent-death signal reaches only the leader, so ask
    # the kernel to kill this process too when the leader dies.
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except BaseException:
        pass


def _ns_link(name):
    try:
        return os.readlink("/proc/self/ns/" + name)
    except OSError:
        return ""


def _main_loop():
    signal.signal(signal.SIGUSR1, _on_salvage)
    sys.stdout = sys.stderr = _SINK
    _send(
        {
            "ready": {
                "pid": int(os.readlink("/proc/self")),
                "version": sys.version.split()[0],
                "uid": os.getuid(),
                "gid": os.getgid(),
                "net_ns": _ns_link("net"),
                "user_ns": _ns_link("user"),
                "pid_ns": _PID_NS,
            }
        }
    )
    if _PID_NS:
        _die_with_the_leader()
    while True:
        request = _recv()
        try:
            reply = _handle(request)
        except BaseException as e:
            reply = {"error": {"message": _format_error(e)}}
        try:
            _send(reply)
        except _TooLarge as e:
            _send(
                {
                    "error": {
                        "message": "the reply is too large to send: %d bytes (the limit is %d)"
                        % (e.args[0], _MAX_FRAME)
                    }
                }
            )


_main_loop()
