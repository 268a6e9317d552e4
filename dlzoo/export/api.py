"""`dlzoo.export`: one call from a Keras model to verified SavedModel / ONNX artifacts."""

import contextlib
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import dlzoo
from dlzoo import configs
from dlzoo.export import manifest as manifest_lib
from dlzoo.export import routes as routes_lib
from dlzoo.export import verify as verify_lib
from dlzoo.export.backends import export_native
from dlzoo.export.routes import ARTIFACT_NAME, ExportError, Route
from dlzoo.export.graphs import select_graph
from dlzoo.export.signature import Signature, signature_from_model, verification_sizes

DEFAULT_TOLERANCE = 1e-4
SCRATCH_PREFIX = "dlzoo-export-"
#: Signals that end an export as an exception, so its temporary directories are removed on the way out.
CLEANUP_SIGNALS = ("SIGTERM", "SIGHUP")


@dataclasses.dataclass
class ExportResult:
    """What `dlzoo.export` wrote.

    Attributes:
        path: Path. The export directory.
        manifest: dict. The content of its `manifest.json`.
    """

    path: Path
    manifest: Dict[str, Any]

    @property
    def artifacts(self) -> Dict[str, Path]:
        """Format -> path of its artifact."""
        return {fmt: self.path / a["path"] for fmt, a in self.manifest["artifacts"].items()}

    def summary(self) -> str:
        lines = [f"exported {self.manifest['model']['name']} to {self.path}"]
        for fmt, art in self.manifest["artifacts"].items():
            route = art["route"]
            check = (self.manifest.get("verification") or {}).get(fmt)
            parity = "not verified" if not check else f"verified, max abs diff {check['max_abs_diff']:.2e}"
            lines.append(
                f"  {fmt:<12} {art['path']:<14} {route['exporter']} ({route['backend']}, {route['process']}); "
                f"{parity}; {art['seconds']:.1f}s"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def load_model(path: str):
    """Load a `.keras` file with dlzoo's blocks (and the builder's `ZooModel`, when present) registered."""
    import keras  # lazy: keras

    if importlib.util.find_spec("dlzoo.builder") is not None:
        return dlzoo.load(path)
    return keras.saving.load_model(path, compile=False)


def _resolve_model(model_or_path: Any):
    import keras  # lazy: keras

    if isinstance(model_or_path, keras.Model):
        return model_or_path, "in-memory model"
    if not isinstance(model_or_path, (str, os.PathLike)):
        raise TypeError(
            "`model_or_path` must be a keras.Model, a path to a `.keras` file or a zoo model name. "
            f"Received: model_or_path of type {type(model_or_path).__name__}."
        )
    path = os.fspath(model_or_path)
    if os.path.isfile(path):
        return load_model(path), os.path.abspath(path)
    if os.path.isdir(path):
        if importlib.util.find_spec("dlzoo.builder") is not None:
            from dlzoo import builder  # lazy: keras

            if configs.is_preset_dir(path):
                return builder.load(path), os.path.abspath(path)
        raise ValueError(
            f"`model_or_path` must be a `.keras` file or a preset directory. Received: model_or_path={path!r}."
        )
    if importlib.util.find_spec("dlzoo.builder") is not None and not path.endswith(".keras"):
        if path in dlzoo.list_models():
            return dlzoo.build(path), f"zoo model {path}"
    raise FileNotFoundError(
        f"No such model file (and no zoo model of that name). Received: model_or_path={path!r}."
    )


def _find_int(config: Any, key: str) -> Optional[int]:
    """The first integer value of `key` anywhere in a nested config."""
    if isinstance(config, dict):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        config = list(config.values())
    if isinstance(config, list):
        for item in config:
            found = _find_int(item, key)
            if found is not None:
                return found
    return None


def _check_out_dir(out_dir: Any, overwrite: bool) -> Path:
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"`out_dir` must be a path. Received: out_dir={out_dir!r}.")
    out = Path(out_dir).expanduser().absolute()
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"`out_dir` exists and is not a directory. Received: out_dir={str(out_dir)!r}.")
        if any(out.iterdir()) and not overwrite:
            raise FileExistsError(
                f"`out_dir` exists and is not empty; pass overwrite=True to replace it. Received: out_dir={str(out_dir)!r}."
            )
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale(directory: Union[str, os.PathLike], prefix: str) -> List[str]:
    """Remove `directory/<prefix><pid>-*` left by export processes that are dead (killed); returns what went."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)-")
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            path = os.path.join(directory, name)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _raise_on_signal(signum, frame):
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _signals_end_as_exceptions():
    """Within the block, SIGTERM and SIGHUP raise `SystemExit` (cleanup runs) instead of killing the process.

    Only in the main thread, and only for signals still at their default action (an application's own
    handlers are left alone). SIGINT already raises `KeyboardInterrupt`; SIGKILL cannot be caught: its
    leftovers carry the dead pid in their names and go on the next export (`remove_stale`).
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in CLEANUP_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) is signal.SIG_DFL:
                previous[number] = signal.signal(number, _raise_on_signal)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _child_env(backend: str) -> Dict[str, str]:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(dlzoo.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


class _Exporter:
    """State of one `dlzoo.export` call."""

    def __init__(self, model, signature: Signature, scratch: str, opset: Optional[int], timeout: float, verbose: bool):
        import keras  # lazy: keras

        self.backend = keras.backend.backend()
        self.model = model
        self.signature = signature
        self.scratch = scratch
        self.opset = opset
        self.timeout = timeout
        self.verbose = verbose
        self._keras_file: Optional[str] = None
        self._signature_file: Optional[str] = None

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"[dlzoo.export] {message}", file=sys.stderr, flush=True)

    def keras_file(self) -> str:
        if self._keras_file is None:
            path = os.path.join(self.scratch, "model.keras")
            try:
                self.model.save(path)
            except Exception as exc:
                raise RuntimeError(
                    f"re-building in another backend needs the model saved as .keras, which failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            self._keras_file = path
        return self._keras_file

    def signature_file(self) -> str:
        if self._signature_file is None:
            self._signature_file = os.path.join(self.scratch, "signature.json")
            with open(self._signature_file, "w") as f:
                json.dump(self.signature.to_json(), f)
        return self._signature_file

    def produce(self, route: Route, path: str) -> Dict[str, Any]:
        if not route.subprocess:
            return export_native(self.model, route.format, path, self.signature, opset=self.opset)
        result = os.path.join(os.path.dirname(path), "result.json")
        cmd = [
            sys.executable, "-m", "dlzoo.export._worker",
            "--model", self.keras_file(), "--format", route.format, "--out", path,
            "--signature", self.signature_file(), "--result", result,
        ]  # fmt: skip
        if self.opset:
            cmd += ["--opset", str(self.opset)]
        try:
            proc = subprocess.run(
                cmd, env=_child_env(route.backend), capture_output=True, text=True, timeout=self.timeout
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the {route.backend} subprocess ran past {self.timeout} s") from None
        if proc.returncode != 0 or not os.path.exists(result):
            lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("dlzoo-export-error:")]
            detail = lines[-1].split(":", 1)[1].strip() if lines else proc.stderr.strip()[-1500:]
            raise RuntimeError(f"the {route.backend} subprocess failed: {detail}")
        with open(result) as f:
            return json.load(f)


def export(
    model_or_path: Any,
    out_dir: Union[str, os.PathLike],
    formats: Union[str, Sequence[str]] = ("saved_model", "onnx"),
    dynamic_axes: Optional[Dict[str, Any]] = None,
    opset: Optional[int] = None,
    verify: bool = True,
    *,
    overwrite: bool = False,
    via: Union[None, str, Dict[str, str]] = None,
    atol: float = DEFAULT_TOLERANCE,
    verify_shapes: Optional[Sequence[Dict[str, Sequence[int]]]] = None,
    graph: Optional[str] = None,
    timeout: float = 900,
    verbose: bool = False,
) -> ExportResult:
    """Export a Keras model to SavedModel and/or ONNX, from any backend, verified in a clean process.

    Each format is written by the first route that works (see
    `dlzoo.export.routes`): natively when the current backend can write it,
    otherwise by re-building the model from its config and weights in a
    subprocess of a backend that can. With `verify=True` the artifact is run
    in a fresh interpreter that cannot import dlzoo, Keras, torch or JAX
    (onnxruntime for ONNX, `tf.saved_model.load` for SavedModel) on three
    input shapes and compared with the Keras model; a route whose artifact
    fails is dropped for the next one. Everything is written to a temporary
    directory beside `out_dir`, which is renamed to `out_dir` only when
    every format succeeded: a failure, Ctrl-C, SIGTERM or SIGHUP leaves no
    partial directory and no temporary files; after a SIGKILL, the next
    export to the same place removes what the dead process left.

    Args:
        model_or_path: keras.Model, path to a `.keras` file or a preset
            directory, or a zoo model name (built with default parameters).
        out_dir: str or Path. Directory to create. It receives `model.onnx`,
            `saved_model/` and `manifest.json`.
        formats: str or sequence of str. `"saved_model"` (alias
            `"tf_saved_model"`) and/or `"onnx"`. Defaults to both.
        dynamic_axes: dict or None. Which input axes stay dynamic and their
            names; see `dlzoo.export.signature`. Defaults to every axis the
            model leaves open (`None`), batch included.
        opset: int or None. ONNX opset. Defaults to the exporter's default.
        verify: bool. Run and compare the artifacts in a clean process.
            Defaults to `True`.
        overwrite: bool. Replace a non-empty `out_dir`. Defaults to `False`.
        via: None, a backend name, or a dict format -> backend. Force the
            backend that writes a format (e.g. `{"onnx": "jax"}` tries
            jax2onnx). Defaults to automatic.
        atol: float. Largest allowed absolute difference. Defaults to `1e-4`.
        verify_shapes: list of dicts input name -> shape. Input shapes to
            verify on. Defaults to three shapes covering batch 1..3 and
            dynamic lengths 1, 6 and 9 (capped at the config's
            `max_sequence_length`).
        graph: str or None. A named inference graph of the model to export
            instead of its forward pass (see `dlzoo.export.graphs`; e.g.
            `"denoiser"` or `"encoder"` of a Two-Tower LCM, whose forward
            pass is its training graph). Defaults to the forward pass.
        timeout: float. Seconds allowed for each subprocess. Defaults to 900.
        verbose: bool. Print progress to stderr. Defaults to `False`.

    Returns:
        An `ExportResult` (`.path`, `.manifest`, `.artifacts`).

    Raises:
        ExportError: a format cannot be produced here (the message names the
            package to install or the backend that can), or no route's
            artifact passed verification.
        FileExistsError: `out_dir` is not empty and `overwrite` is False.

    Example:

    >>> result = dlzoo.export(model, "out/", formats=["onnx"])  # doctest: +SKIP
    >>> sorted(result.artifacts)  # doctest: +SKIP
    ['onnx']
    """
    fmt_list = routes_lib.normalize_formats(formats)
    via_map = routes_lib.normalize_via(via, fmt_list)
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or opset < 7):
        raise ValueError(f"`opset` must be an integer >= 7 or None. Received: opset={opset!r}.")
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not atol >= 0:
        raise ValueError(f"`atol` must be a number >= 0. Received: atol={atol!r}.")
    out = _check_out_dir(out_dir, overwrite)

    import keras  # lazy: keras

    backend = keras.backend.backend()
    zoo_model, source = _resolve_model(model_or_path)
    model = select_graph(zoo_model, graph)
    signature = signature_from_model(model, dynamic_axes)
    plans = {fmt: routes_lib.plan(fmt, backend, via_map.get(fmt)) for fmt in fmt_list}
    if verify:
        for fmt in fmt_list:
            routes_lib.check_verify_requirements(fmt)
        if verify_shapes is not None:
            sizes = verify_lib.cases_from_shapes(signature, verify_shapes)
        else:
            max_len = _find_int(manifest_lib.model_config(zoo_model), "max_sequence_length")
            sizes = verification_sizes(signature, max_len)

    out.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    remove_stale(out.parent, f".{out.name}.partial-")  # debris of killed exports to the same place
    remove_stale(tempfile.gettempdir(), SCRATCH_PREFIX)
    umask = os.umask(0)
    os.umask(umask)
    with _signals_end_as_exceptions():
        scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{pid}-")
        stage = None
        try:
            stage = tempfile.mkdtemp(prefix=f".{out.name}.partial-{pid}-", dir=out.parent)
            os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes it private; the export is an ordinary directory
            exporter = _Exporter(model, signature, scratch, opset, timeout, verbose)
            cases = verify_lib.reference_cases(model, signature, sizes) if verify else None
            artifacts, verification = {}, {}
            for fmt in fmt_list:
                artifacts[fmt], report = _export_format(exporter, fmt, plans[fmt], cases, stage, atol)
                if report is not None:
                    verification[fmt] = report
            manifest = _build_manifest(
                zoo_model, model, graph, source, signature, backend, artifacts, verification, atol, verify
            )
            manifest_lib.write_manifest(stage, manifest)
            _commit(stage, out)
        except BaseException:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return ExportResult(out, manifest)


def _export_format(exporter: _Exporter, fmt: str, routes: List[Route], cases, stage: str, atol: float):
    attempts = []
    for k, route in enumerate(routes):
        attempt_dir = os.path.join(exporter.scratch, f"{fmt}-{k}-{route.backend}")
        os.makedirs(attempt_dir)
        path = os.path.join(attempt_dir, ARTIFACT_NAME[fmt])
        start = time.perf_counter()
        exporter.log(f"{fmt}: trying {route.describe()}")
        try:
            info = exporter.produce(route, path)
        except Exception as exc:
            attempts.append({"route": route.to_json(), "error": f"export failed: {type(exc).__name__}: {exc}"[:1500]})
            exporter.log(f"{fmt}: {attempts[-1]['error']}")
            continue
        export_seconds = time.perf_counter() - start
        report = None
        if cases is not None:
            report = verify_lib.run_clean(fmt, path, cases, exporter.scratch, exporter.timeout)
            reason = verify_lib.judge(report, atol)
            if reason:
                attempts.append({"route": route.to_json(), "error": f"verification failed: {reason}"[:1500]})
                exporter.log(f"{fmt}: {attempts[-1]['error']}")
                continue
        final = os.path.join(stage, ARTIFACT_NAME[fmt])
        shutil.move(path, final)
        for extra in ("model.onnx.data",):
            if os.path.exists(os.path.join(attempt_dir, extra)):
                shutil.move(os.path.join(attempt_dir, extra), os.path.join(stage, extra))
        artifact = {
            "path": ARTIFACT_NAME[fmt] + ("/" if fmt == "saved_model" else ""),
            "route": route.to_json(),
            "exporter_version": info.get("exporter_version"),
            "seconds": round(time.perf_counter() - start, 3),
            "export_seconds": round(export_seconds, 3),
        }
        if fmt == "onnx":
            artifact.update(opset=info.get("opset"), fixes=info.get("fixes", []), sha256=manifest_lib.file_sha256(final))
        else:
            artifact.update(signature_keys=info.get("signature_keys"))
        if attempts:
            artifact["failed_attempts"] = attempts
        return artifact, report
    details = "\n".join(f"  - {a['route']['exporter']} on {a['route']['backend']}: {a['error']}" for a in attempts)
    raise ExportError(f"Could not produce {fmt!r} from the {exporter.backend} backend; every route failed:\n{details}")


def _build_manifest(
    zoo_model, model, graph, source, signature, backend, artifacts, verification, atol, verify
) -> Dict[str, Any]:
    return {
        "format_version": manifest_lib.FORMAT_VERSION,
        "created": manifest_lib.now_utc(),
        "model": {
            "name": zoo_model.name,
            "class": f"{type(zoo_model).__module__}.{type(zoo_model).__qualname__}",
            "graph": graph,
            "source": source,
            "num_params": int(model.count_params()),
            "weights_sha256": manifest_lib.weights_sha256(model),
            "weights_hash_method": manifest_lib.WEIGHTS_HASH_METHOD,
            "config": manifest_lib.model_config(zoo_model),
        },
        "inputs": [t.to_json() for t in signature.inputs],
        "outputs": [t.to_json() for t in signature.outputs],
        "input_structure": signature.input_structure,
        "output_structure": signature.output_structure,
        "versions": manifest_lib.versions(backend),
        "artifacts": artifacts,
        "verification": (
            {"tolerance": atol, "clean_process": "no dlzoo, keras, torch or jax importable", **verification}
            if verify
            else None
        ),
    }


def _commit(stage: str, out: Path) -> None:
    """Move the finished stage directory to `out`, replacing it (atomically on one filesystem)."""
    if out.exists():
        old = tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent)
        os.rmdir(old)
        os.rename(out, old)
        try:
            os.rename(stage, out)
        except BaseException:
            os.rename(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(stage, out)
