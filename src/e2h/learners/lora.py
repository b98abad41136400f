"""LoRA and QLoRA fine-tuning: the paper's "QLoRA" learner, with a written-out training loop.

Paper settings (Hase et al., ``utils/utils.py:PEFT_wrap_model``, ``models/probes.py:finetune``,
``utils.standardize_optimization_config``): LoRA r=16, alpha=32, dropout 0.1 on the attention
query/value projections; AdamW lr 1e-4, weight decay 1e-5 (none on norms and biases); the lr
decays linearly to 10% of its start without warm-up; gradient-norm clipping 1.0; an effective
batch of ``min(n_train, batch_size)`` items reached by gradient accumulation; at least 3
epochs and at least 10 optimizer steps (150 for chain of thought) unless ``epochs`` is given.

Objectives:

* ``mc`` — softmax over an item's choices of their summed answer log-probabilities
  (``lm.choice_logprobs``), NLL of the gold choice; predictions score the choices with the
  adapted model (``lm.score``).
* ``cot`` — language-model loss (``lm.sequence_loss``) of ``" " + cot_target(item) + "\\n\\n"``
  after ``cot_prompt(item)``; predictions generate greedily and read the answer back.

Adapter lifecycle: the base model is never left modified. ``fit`` injects a fresh, seeded
adapter into ``lm.model`` (``peft.get_peft_model`` works in place), trains it, copies its
weights to ``adapter_state_`` and unloads it; ``predict`` injects it again for the duration
of the call. Only adapter weights train, so the base weights stay bit-identical.

QLoRA loads the base model in 4-bit NF4 (double quantisation, bf16 compute) or 8-bit through
``e2h.models.load_model(..., quantization=...)``; LoRA weights stay float32. Like the paper's
code, it does not call ``peft.prepare_model_for_kbit_training``: that upcasts norms and
embeddings to float32 in place, which would change a model other learners share and make
activations float32 while the engine builds its attention masks in the model's dtype.

Differences from the paper's code: gradients are clipped once per optimizer step (the paper
clips after every micro-batch); base-model dropout stays off while LoRA dropout is on (the
paper zeroes the model's dropout in its config); CoT targets end with a blank line so greedy
generation stops where ICL demonstrations end.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import pandas as pd
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora import LoraLayer
from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

from e2h.errors import E2HError
from e2h.learners.base import Learner, Param, Predictions
from e2h.learners.lm import LM
from e2h.learners.params import Interval, ListOf, Options, Text
from e2h.learners.prompting import EXTRACTION_ALLOWED, FORMATS_ALLOWED, SEED_ALLOWED, TOKENS_ALLOWED
from e2h.progress import bar
from e2h.seeding import make_rng, torch_seed

OBJECTIVES = ("mc", "cot")
QUANTIZATIONS = (None, "none", "nf4", "int8", "lora-or-qlora")
MIN_STEPS = {"mc": 10, "cot": 150}  # the paper's minimum number of optimizer steps
MIN_EPOCHS = 3
LR_FLOOR = 0.1  # the lr decays linearly to 10% of its start
MAX_GRAD_NORM = 1.0
COT_END = "\n\n"  # ends CoT targets: the generation stop string and the ICL demo separator


def default_target_modules(model: torch.nn.Module) -> list[str]:
    """The attention query/value projections of ``model``'s architecture (PEFT's table)."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    targets = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model_type)
    if not targets:
        raise E2HError(
            f"no default LoRA target modules for architecture {model_type!r}: pass target_modules=[...] "
            "with the names of its attention query/value projection layers."
        )
    return list(targets)


def training_schedule(n_train: int, batch_size: int, epochs: int | None, min_steps: int) -> tuple[int, int, int]:
    """``(items_per_step, epochs, total_steps)``: the paper's rule unless ``epochs`` is given."""
    items_per_step = min(n_train, batch_size)
    steps_per_epoch = math.ceil(n_train / items_per_step)
    if epochs is None:
        epochs = max(MIN_EPOCHS, math.ceil(min_steps / steps_per_epoch))
    return items_per_step, epochs, epochs * steps_per_epoch


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups of the trainable parameters: no weight decay on norms and biases."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            skip = "norm" in name.lower() or "bias" in name.lower() or param.ndim < 2
            (no_decay if skip else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@contextlib.contextmanager
def attached_adapter(
    model: torch.nn.Module, config: LoraConfig, state: dict[str, torch.Tensor] | None = None
) -> Iterator[torch.nn.Module]:
    """Inject a LoRA adapter into ``model`` (fresh, or loaded from ``state``); remove it on exit.

    Yields the PEFT wrapper; ``model`` itself runs with the adapter meanwhile (PEFT swaps its
    target layers in place), so the engine's ``lm.model(...)`` calls use it. On exit the
    original layers are put back and ``requires_grad`` / train-mode flags restored.
    """
    requires_grad = {name: p.requires_grad for name, p in model.named_parameters()}
    was_training = model.training
    with warnings.catch_warnings():  # transformers 5 deprecates an attribute PEFT still reads
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(model, config)
    try:
        if state is not None:
            result = peft_model.load_state_dict(state, strict=False)
            if result.unexpected_keys:
                key = result.unexpected_keys[0]
                raise E2HError(f"adapter weights do not fit this model ({key}): refit the learner on this model.")
        yield peft_model
    finally:
        peft_model.unload()
        for name, param in model.named_parameters():
            param.requires_grad_(requires_grad.get(name, False))
        model.train(was_training)


@contextlib.contextmanager
def seeded_torch(seed: int, device: torch.device | str) -> Iterator[None]:
    """Seed torch (adapter init, dropout) inside the block; the caller's global RNG state is restored after."""
    devices = [device] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def lora_dropout_only(model: torch.nn.Module) -> None:
    """Evaluation mode everywhere except LoRA's own dropout (base-model dropout stays off)."""
    model.eval()
    for module in model.modules():
        if isinstance(module, LoraLayer):
            module.lora_dropout.train()


POSITIVE = (Interval(float, 0, closed="neither"),)
AT_LEAST_ONE = (Interval(int, 1),)


class LoRA(Learner):
    """Fine-tune low-rank adapters on the attention projections (multiple-choice or CoT objective)."""

    name = "lora"
    wants_gpu = True
    #: items per forward pass; gradients accumulate to ``min(n_train, batch_size)`` items per step
    micro_batch_size: int = 4

    params: ClassVar[dict[str, Param]] = {
        "objective": Param(
            "mc",
            "mc (softmax over the choices) or cot (language-model loss on the gold reasoning)",
            allowed=(Options(*OBJECTIVES),),
        ),
        "format": Param("listed", "prompt format of the mc objective", shared=True, allowed=FORMATS_ALLOWED),
        "r": Param(16, "LoRA rank", allowed=AT_LEAST_ONE),
        "alpha": Param(32, "LoRA scaling alpha", allowed=POSITIVE),
        "dropout": Param(0.1, "LoRA dropout", allowed=(Interval(float, 0, 1, closed="left"),)),
        "target_modules": Param(
            None,
            "module names to adapt (None: the architecture's query/value projections)",
            allowed=(None, ListOf(Text(r"\S", "a module name"))),
        ),
        "lr": Param(1e-4, "AdamW learning rate (decays linearly to 10%)", allowed=POSITIVE),
        "weight_decay": Param(1e-5, "AdamW weight decay (none on norms and biases)", allowed=(Interval(float, 0),)),
        "epochs": Param(
            None,
            "epochs (None: the paper's rule, at least 3 epochs and 10 steps, 150 for cot)",
            allowed=(None, *AT_LEAST_ONE),
        ),
        "batch_size": Param(50, "items per optimizer step (gradient accumulation)", allowed=AT_LEAST_ONE),
        "max_new_tokens": Param(256, "generation budget of the cot objective's predictions", allowed=TOKENS_ALLOWED),
        "extraction": Param(
            "last", "answer extraction rule of the cot objective", shared=True, allowed=EXTRACTION_ALLOWED
        ),
        "seed": Param(0, "seed of the adapter init, dropout and data order", shared=True, allowed=SEED_ALLOWED),
        "quantization": Param(
            None,
            "base-model quantization: none, nf4, int8, or lora-or-qlora (nf4 where possible)",
            allowed=(Options(*QUANTIZATIONS),),
        ),
    }

    @classmethod
    def generates(cls, params: dict[str, Any]) -> bool:
        """The cot objective answers by generating a chain of thought; mc scores the choices."""
        return params.get("objective", cls.params["objective"].default) == "cot"

    # --- fit -------------------------------------------------------------------------------

    def fit(self, train: pd.DataFrame) -> LoRA:
        self._validate(train, "fit")
        lm = self._model_for(self._resolve_quantization())
        self.quantization_ = getattr(lm, "quantization", "none")  # what is actually used
        items = train.to_dict("records")
        items_per_step, self.epochs_, self.n_steps_ = training_schedule(
            len(items), self.batch_size, self.epochs, MIN_STEPS[self.objective]
        )
        self.target_modules_ = self.target_modules or default_target_modules(lm.model)
        order_rng = make_rng(self.seed, "lora", "order")
        self.history_: list[dict[str, float]] = []
        with seeded_torch(self._torch_seed("fit"), lm.device), attached_adapter(lm.model, self._config()) as peft_model:
            optimizer = torch.optim.AdamW(decay_groups(peft_model, self.weight_decay), lr=self.lr)
            schedule = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: 1.0 - (1.0 - LR_FLOOR) * step / self.n_steps_
            )
            lm.clear_memory()  # the engine's in-memory prefix KV belongs to the base model
            lora_dropout_only(peft_model)
            progress = bar(f"{self.name} fit", total=self.n_steps_, unit="step")
            for epoch in range(self.epochs_):
                order = order_rng.permutation(len(items))
                for start in range(0, len(items), items_per_step):
                    step_items = [items[i] for i in order[start : start + items_per_step]]
                    loss = self._accumulate(lm, step_items)
                    grad_norm = torch.nn.utils.clip_grad_norm_(
                        [p for p in peft_model.parameters() if p.requires_grad], MAX_GRAD_NORM
                    )
                    lr = schedule.get_last_lr()[0]
                    optimizer.step()
                    schedule.step()
                    optimizer.zero_grad(set_to_none=True)
                    step = {"step": len(self.history_), "epoch": epoch, "loss": loss, "lr": lr}
                    self.history_.append({**step, "grad_norm": float(grad_norm)})
                    progress.update(1)
                    progress.set_postfix(loss=f"{loss:.4f}")
            progress.close()
            self.adapter_state_ = {
                name: p.detach().to("cpu", copy=True) for name, p in peft_model.named_parameters() if p.requires_grad
            }
        return self

    def _accumulate(self, lm: LM, step_items: list[dict]) -> float:
        """Forward/backward over micro-batches; gradients of the step's mean loss. Returns that loss."""
        total = 0.0
        for start in range(0, len(step_items), self.micro_batch_size):
            micro = step_items[start : start + self.micro_batch_size]
            loss = self._loss(lm, micro) * (len(micro) / len(step_items))  # () mean over the step's items
            loss.backward()
            total += float(loss.detach())
        return total

    def _loss(self, lm: LM, micro: list[dict]) -> torch.Tensor:
        """Mean loss of a micro-batch: NLL of the gold choice (mc) or of the gold CoT tokens (cot)."""
        from e2h.models.templates import build_request, cot_prompt, cot_target

        if self.objective == "cot":
            prompts = [cot_prompt(item, demos="") for item in micro]
            targets = [" " + cot_target(item) + COT_END for item in micro]
            return lm.sequence_loss(prompts, targets)
        logprobs = lm.choice_logprobs([build_request(item, self.format) for item in micro])  # each (n_choices,)
        nll = [-torch.log_softmax(lp, dim=-1)[int(item["label"])] for lp, item in zip(logprobs, micro, strict=True)]
        return torch.stack(nll).mean()

    # --- predict ---------------------------------------------------------------------------

    def predict(self, test: pd.DataFrame) -> Predictions:
        self.check_is_fitted("adapter_state_")
        self._validate(test, "predict")
        lm = self._model_for(self.quantization_)
        info = {
            "quantization": self.quantization_,
            "objective": self.objective,
            "epochs": self.epochs_,
            "steps": self.n_steps_,
            "target_modules": list(self.target_modules_),
            "final_loss": self.history_[-1]["loss"] if self.history_ else float("nan"),
        }
        adapter = attached_adapter(lm.model, self._config(), self.adapter_state_)
        with seeded_torch(self._torch_seed("predict"), lm.device), adapter:
            lm.clear_memory()  # the engine's in-memory prefix KV belongs to the base model
            lm.model.eval()
            if self.objective == "cot":
                return self._predict_cot(lm, test, info)
            return self._predict_mc(lm, test, info)

    def _predict_mc(self, lm: LM, test: pd.DataFrame, info: dict[str, Any]) -> Predictions:
        from e2h.models.templates import build_request

        requests = [build_request(item, self.format) for item in test.to_dict("records")]
        scores = lm.score(requests, desc=f"{self.name} predict", cache=False)
        probs = [torch.softmax(torch.as_tensor(s.logprob, dtype=torch.float64), dim=-1).numpy() for s in scores]
        return Predictions.from_probs(test, probs, info=info)

    def _predict_cot(self, lm: LM, test: pd.DataFrame, info: dict[str, Any]) -> Predictions:
        from e2h.learners.prompting import predict_generative
        from e2h.models.templates import cot_prompt

        prompts = [cot_prompt(item, demos="") for item in test.to_dict("records")]
        predictions = predict_generative(
            lm, test, prompts, self.max_new_tokens, stop=(COT_END,), extraction=self.extraction
        )
        predictions.info.update(info)
        return predictions

    # --- helpers ---------------------------------------------------------------------------

    def _torch_seed(self, purpose: str) -> int:
        return torch_seed(make_rng(self.seed, "lora", purpose))

    def _config(self) -> LoraConfig:
        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.target_modules_),
            bias="none",
        )

    def _validate(self, items: pd.DataFrame, stage: str) -> None:
        """What the items must be (the parameters were checked when the learner was made)."""
        if len(items) == 0:
            raise E2HError(f"{type(self).__name__}.{stage} got no items: pass a non-empty item table.")
        if self.objective == "mc" and (items["choices"].map(len) < 2).any():
            raise E2HError(
                f"{type(self).__name__} with objective='mc' needs multiple-choice items, but the items include "
                "generative ones (one answer): use objective='cot'."
            )

    def _resolve_quantization(self) -> str:
        """What will actually run: ``"none"``, ``"nf4"`` or ``"int8"``."""
        if self.quantization in (None, "none"):
            return "none"
        available = torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None
        if self.quantization == "lora-or-qlora":
            return "nf4" if available else "none"
        if not available:
            missing = "a CUDA GPU" if not torch.cuda.is_available() else "the bitsandbytes package"
            raise E2HError(
                f"{self.quantization} quantization needs {missing} and bitsandbytes: use the 'lora' learner, "
                "or quantization='lora-or-qlora' to fall back to plain LoRA here."
            )
        return self.quantization

    def _model_for(self, quantization: str) -> LM:
        """The language model to adapt: ``self.lm`` unless it must be reloaded quantized (kept for reuse).

        The reload goes through ``e2h.models.load_model`` with the model's alias, or else the folder
        or hub id transformers loaded it from (``lm.name`` of a local folder is only its base name).
        """
        if quantization in ("none", getattr(self.lm, "quantization", "none")):
            return self.lm
        cached = getattr(self, "_quantized", None)
        if cached is None or cached[0] != quantization:
            from e2h.models import MODELS, load_model

            source = self.lm.name if self.lm.name in MODELS else self.lm.model.name_or_path
            cached = self._quantized = (quantization, load_model(source, device="cuda", quantization=quantization))
        return cached[1]


class QLoRA(LoRA):
    """LoRA on a 4-bit NF4 base model (CUDA + bitsandbytes); ``quantization="lora-or-qlora"`` falls back on CPU."""

    name = "qlora"

    params: ClassVar[dict[str, Param]] = {
        **LoRA.params,
        "quantization": Param("nf4", "base-model quantization (see LoRA)", allowed=LoRA.params["quantization"].allowed),
    }
