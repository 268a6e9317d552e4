"""Which backend writes which format, and what each route needs installed.

Keras 3 (3.15, measured on the CPU machine) can write a SavedModel natively
from the TensorFlow and JAX backends but not from torch, and ONNX from
TensorFlow (tf2onnx, after dlzoo rewrites the `Erfc` it emits), torch
(TorchScript exporter, with dlzoo's workaround for layer/RMS norm under
dynamic axes) and JAX (jax2onnx, which handles fewer models). dlzoo closes
the gaps by re-building the model from its `.keras` file (config + weights,
which are portable across backends) in a subprocess of a backend that can
write the format. A route is one (backend, in-process or subprocess) way to
write a format; `plan` orders them, the current backend first when it can
write the format natively, and `dlzoo.export` tries them in order until
one's artifact passes verification.

Pure Python: nothing here imports Keras or a backend.
"""

import dataclasses
import importlib.util
from typing import Dict, List, Optional, Sequence, Union

BACKENDS = ("tensorflow", "torch", "jax")
FORMATS = ("saved_model", "onnx")
FORMAT_ALIASES = {"tf_saved_model": "saved_model", "savedmodel": "saved_model", "saved-model": "saved_model"}

# Backends with a native exporter for each format (used in-process, or when named by `via=`).
WRITERS = {
    "saved_model": ("tensorflow", "jax"),
    "onnx": ("torch", "tensorflow", "jax"),
}
# Backends to re-build the model in, in order of preference, when the current one cannot write a format
# (or its artifact fails verification). jax2onnx handles few models, so JAX is not used for re-builds.
REBUILDERS = {
    "saved_model": ("tensorflow", "jax"),
    "onnx": ("torch", "tensorflow"),
}

EXPORTER = {
    ("saved_model", "tensorflow"): "keras ExportArchive (tf.function)",
    ("saved_model", "jax"): "keras ExportArchive (jax2tf)",
    ("onnx", "tensorflow"): "tf2onnx",
    ("onnx", "torch"): "torch.onnx (TorchScript exporter)",
    ("onnx", "jax"): "jax2onnx",
}
REQUIRES = {
    ("saved_model", "tensorflow"): ("tensorflow",),
    ("saved_model", "jax"): ("jax", "tensorflow"),
    ("onnx", "tensorflow"): ("tensorflow", "tf2onnx", "onnx"),
    ("onnx", "torch"): ("torch", "onnx"),
    ("onnx", "jax"): ("jax", "jax2onnx", "onnx"),
}
VERIFY_REQUIRES = {"onnx": ("onnxruntime",), "saved_model": ("tensorflow",)}
ARTIFACT_NAME = {"onnx": "model.onnx", "saved_model": "saved_model"}


class ExportError(RuntimeError):
    """A format could not be produced or did not pass verification.

    The message names the package to install or the backend that can
    produce the format, and what each route tried reported.
    """


@dataclasses.dataclass
class Route:
    """One way to write a format.

    Attributes:
        format: str. `"saved_model"` or `"onnx"`.
        backend: str. The Keras backend that writes it.
        subprocess: bool. True when the model is re-built in a subprocess
            of `backend` (the caller's process runs another backend).
    """

    format: str
    backend: str
    subprocess: bool

    @property
    def exporter(self) -> str:
        return EXPORTER[(self.format, self.backend)]

    def describe(self) -> str:
        where = f"re-built in a {self.backend} subprocess" if self.subprocess else f"in-process on {self.backend}"
        return f"{self.exporter}, {where}"

    def to_json(self) -> Dict[str, object]:
        return {
            "backend": self.backend,
            "process": "subprocess" if self.subprocess else "in-process",
            "exporter": self.exporter,
        }


def is_installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def missing_packages(packages: Sequence[str]) -> List[str]:
    return [p for p in packages if not is_installed(p)]


def normalize_formats(formats: Union[str, Sequence[str]]) -> List[str]:
    """Validate `formats`: a name or a list of names, aliases allowed, no duplicates."""
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, (list, tuple)) or not formats:
        raise ValueError(f"`formats` must be a non-empty list of {list(FORMATS)}. Received: formats={formats!r}.")
    result = []
    for fmt in formats:
        name = FORMAT_ALIASES.get(str(fmt).lower(), str(fmt).lower()) if isinstance(fmt, str) else fmt
        if name not in FORMATS:
            raise ValueError(f"Unknown export format {fmt!r}. Received: formats={formats!r}. Allowed: {list(FORMATS)}.")
        if name not in result:
            result.append(name)
    return result


def normalize_via(via: Union[None, str, Dict[str, str]], formats: Sequence[str]) -> Dict[str, str]:
    """`via` as a dict format -> backend (a single string applies to every format)."""
    if via is None:
        return {}
    if isinstance(via, str):
        via = {fmt: via for fmt in formats}
    if not isinstance(via, dict):
        raise TypeError(f"`via` must be a backend name or a dict format -> backend. Received: via={via!r}.")
    result = {}
    for fmt, backend in via.items():
        (fmt,) = normalize_formats([fmt])
        if backend not in BACKENDS:
            raise ValueError(f"Unknown backend in `via`. Received: via={via!r}. Allowed backends: {list(BACKENDS)}.")
        writers = list(WRITERS[fmt])
        if backend not in writers:
            raise ExportError(
                f"The {backend} backend cannot write {fmt!r} (Keras 3 has no such exporter). Received: via={via!r}. "
                f"Backends that can: {writers}."
            )
        result[fmt] = backend
    return result


def plan(fmt: str, current_backend: str, via: Optional[str] = None) -> List[Route]:
    """The routes to try for `fmt`, best first, keeping only those whose packages are installed.

    Raises:
        ExportError: no route is installed; the message names what to install.
    """
    if via is not None:
        candidates = [via]
    else:
        candidates = ([current_backend] if current_backend in WRITERS[fmt] else []) + [
            b for b in REBUILDERS[fmt] if b != current_backend
        ]
    routes, problems = [], []
    for backend in candidates:
        missing = missing_packages(REQUIRES[(fmt, backend)])
        if missing:
            problems.append(f"the {backend} route ({EXPORTER[(fmt, backend)]}) needs {' and '.join(missing)}")
            continue
        routes.append(Route(fmt, backend, subprocess=backend != current_backend))
    if not routes:
        install = sorted({p for b in candidates for p in missing_packages(REQUIRES[(fmt, b)])})
        raise ExportError(
            f"Cannot export {fmt!r} from the {current_backend} backend: {'; '.join(problems)}. "
            f"Install {' or '.join(install)} (`pip install dlzoo[export]` installs all of them)."
        )
    return routes


def check_verify_requirements(fmt: str) -> None:
    missing = missing_packages(VERIFY_REQUIRES[fmt])
    if missing:
        raise ExportError(
            f"verify=True runs the {fmt!r} artifact in a clean process with {', '.join(missing)}, which is not "
            f"installed. Install it (`pip install {' '.join(missing)}`) or pass verify=False."
        )


def capabilities() -> Dict[str, Dict[str, str]]:
    """For each format and backend, how dlzoo writes it on this machine (or what is missing)."""
    table: Dict[str, Dict[str, str]] = {}
    for fmt in FORMATS:
        table[fmt] = {}
        for backend in BACKENDS:
            try:
                route = plan(fmt, backend)[0]
                table[fmt][backend] = route.describe()
            except ExportError as exc:
                table[fmt][backend] = f"unavailable: {exc}"
    return table
