"""Loading Stable Diffusion pipelines (hub, local folder, single file, built-in) on a sensible device.

Built-in models live inside the package and need no network:

- ``builtin:shapes`` (the default) — a small Stable-Diffusion-architecture model trained by this
  project on coloured shapes (see docs/model_card.md). Prompts like "a red circle",
  "a blue background"; native canvas 128×128.
- ``builtin:tiny-random`` — a tiny Stable-Diffusion-architecture pipeline with **random weights**,
  built from config. Its images are noise; it exists to exercise the whole toolkit (tests, CI,
  a first run on a laptop).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch

from ..catalog import (
    BUILTIN_MODELS,
    BUILTIN_PREFIX,
    DEFAULT_MODEL,
    FAMILIES,
    SHAPES,
    SHAPES_DIR,
    SUPPORTED,
    TINY_RANDOM,
    ModelError,
)
from ..layout import read_limited
from .facts import model_family, unet_input_channels, unet_input_kind


def default_device_and_dtype() -> tuple[torch.device, torch.dtype]:
    """CUDA with fp16, else Apple MPS with fp32, else CPU with fp32."""
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.float16
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps"), torch.float32
    return torch.device("cpu"), torch.float32


_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
}


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"dtype={dtype!r} is not known; use one of {sorted(_DTYPES)}") from None


def available_devices() -> list[str]:
    """The devices torch can use here: ``cpu``, then ``cuda:0``… and ``mps`` where present."""
    found = ["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0))]
    mps = getattr(torch.backends, "mps", None)
    return found + (["mps"] if mps is not None and mps.is_available() else [])


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``, if torch has it here; else a ``ValueError`` naming the devices it has
    (``"gpu"`` is no device name; ``"cuda"`` on a machine or a torch build without CUDA is not available)."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        parsed = None
    have = available_devices()
    if parsed is None or parsed.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={device!r} is not a device mdwidgets runs on; this machine has {', '.join(have)}")
    name = f"{parsed.type}:{parsed.index or 0}" if parsed.type == "cuda" else parsed.type
    if name not in have:
        raise ValueError(f"device={device!r} is not available here (torch {torch.__version__}); this machine has "
                         f"{', '.join(have)}")
    return parsed


def load_pipeline(
    name_or_path: str | os.PathLike | None = DEFAULT_MODEL,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    allow_pickle: bool = False,
    compile_unet: bool | dict = False,
    lora: str | os.PathLike | None = None,
    family: str | None = None,
):
    """Load a Stable Diffusion 1.x/2.x or SDXL pipeline (Turbo and LCM variants included) ready for
    :func:`mdwidgets.compose`.

    Args:
        name_or_path: ``"builtin:…"``, a Hugging Face hub id (e.g.
            ``"stable-diffusion-v1-5/stable-diffusion-v1-5"``, ``"stabilityai/sdxl-turbo"``), a local
            diffusers folder, or a single ``.safetensors`` checkpoint file (a ``str`` or a ``Path``;
            ``None``: the default). SDXL is told from the folder's ``model_index.json``, the hub's, or
            the checkpoint's keys. Every failure to load raises :class:`ModelError` saying what was tried.
        device: defaults to CUDA, then MPS, then CPU.
        dtype: defaults to float16 on CUDA and float32 elsewhere. The VAE always runs in float32
            so that decoding cannot overflow to NaN (black images) in half precision.
        allow_pickle: load pickle checkpoints and LoRAs (``.ckpt``/``.bin``). Off by default: unpickling
            can run arbitrary code.
        compile_unet: wrap the UNet in ``torch.compile`` (a dict: its keyword arguments). Off by
            default: the first step then compiles for minutes, and on this project's 2-core CPU it
            did not pay (see README, Performance); try it on a GPU for long sessions.
        lora: a LoRA (hub id, folder or file) loaded with diffusers' ``load_lora_weights`` and fused
            into the weights (needs ``peft``), e.g. ``"latent-consistency/lcm-lora-sdv1-5"``.
        family: the model family (a key of :data:`mdwidgets.catalog.FAMILIES`) whose defaults
            (steps, guidance, scheduler, canvas) to use; default :func:`model_family`, which tells
            Turbo and LCM-LoRA models by their names.
    """
    if family is not None and family not in FAMILIES:
        raise ModelError(f"family={family!r} is not known; families: {', '.join(FAMILIES)}")
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ModelError(f"name_or_path must be a model name or a path, not {type(name_or_path).__name__}")
    name_or_path = os.fspath(name_or_path)
    auto_device, auto_dtype = default_device_and_dtype()
    device = check_device(device) if device is not None else auto_device
    dtype = parse_dtype(dtype) or (auto_dtype if device == auto_device else torch.float32)

    if name_or_path.startswith(BUILTIN_PREFIX):
        pipe = _load_builtin(name_or_path)
    else:
        pipe = _load_external(name_or_path, dtype=dtype, allow_pickle=allow_pickle)
    place_pipeline(pipe, device, dtype)
    pipe.set_progress_bar_config(disable=True)
    pipe.mdwidgets_model_name = name_or_path
    if lora is not None:
        _load_lora(pipe, os.fspath(lora), allow_pickle=allow_pickle)
    pipe.mdwidgets_family = family or model_family(pipe)
    if compile_unet:
        pipe.unet = torch.compile(pipe.unet, **(compile_unet if isinstance(compile_unet, dict) else {}))
    return pipe


def place_pipeline(pipe, device: str | torch.device, dtype: str | torch.dtype):
    """Move ``pipe``'s UNet and text encoders to ``device`` in ``dtype`` and its VAE to ``device`` in
    float32 (decoding in half precision can overflow to NaN); returns ``pipe``. :func:`load_pipeline`
    places what it loads this way, the tests and benchmarks the pipelines they build."""
    dtype = parse_dtype(dtype)
    text_encoders = [e for e in (pipe.text_encoder, getattr(pipe, "text_encoder_2", None)) if e is not None]
    for module, wanted in ((pipe.unet, dtype), *((e, dtype) for e in text_encoders), (pipe.vae, torch.float32)):
        module.to(device=device)
        if module.dtype != wanted:
            module.to(dtype=wanted)
    return pipe


def _load_lora(pipe, lora: str, *, allow_pickle: bool) -> None:
    """``lora``'s weights loaded into ``pipe`` and fused (sampling then costs what it did without). Without
    ``allow_pickle`` only safetensors: a file must be one, and a folder or hub id is read with
    ``use_safetensors=True`` (diffusers then refuses its pickles instead of falling back to them)."""
    path = Path(os.path.expanduser(lora))
    if not allow_pickle and path.is_file() and path.suffix != ".safetensors":
        raise ModelError(f"the LoRA {path.name} is a pickle file, which can run code when loaded; convert it to "
                         "safetensors, or pass allow_pickle=True if you trust its source")
    try:
        pipe.load_lora_weights(lora, **({} if allow_pickle else {"use_safetensors": True}))
        pipe.fuse_lora()
    except Exception as exc:  # noqa: BLE001 - peft/diffusers/hub raise many kinds
        hint = " (LoRAs need `pip install peft`)" if "peft" in str(exc).lower() else ""
        raise ModelError(f"could not load the LoRA {lora!r}{hint}: {type(exc).__name__}: {exc}") from exc
    pipe.mdwidgets_lora = lora


def _load_builtin(name: str):
    if name == SHAPES:
        from ..progress import loading_bars

        with loading_bars(False):  # it loads in about a second: no bars on a notebook's stderr
            return stable_diffusion_pipeline_class().from_pretrained(
                SHAPES_DIR, safety_checker=None, requires_safety_checker=False, use_safetensors=True
            )
    if name == TINY_RANDOM:
        warnings.warn(
            "builtin:tiny-random has random weights: its images are noise. It exercises the "
            "toolkit offline; load a real model for pictures.",
            stacklevel=3,
        )
        from .tiny import tiny_random_pipeline  # tiny builds on this module's pipeline class

        return tiny_random_pipeline()
    raise ModelError(f"{name!r} is not a built-in model; built-in models: {', '.join(BUILTIN_MODELS)}")


def stable_diffusion_pipeline_class(kind: str = "sd"):
    """diffusers' StableDiffusionPipeline (``kind="sdxl"``: StableDiffusionXLPipeline), imported
    without transformers' torchvision notice.

    (transformers logs that its image processors fall back to PIL without torchvision; the
    safety checker's processor is the only user and mdwidgets never runs it.)
    """
    import transformers

    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        import diffusers

        # diffusers imports lazily: the notice comes when the class is first looked up, not at import
        return diffusers.StableDiffusionXLPipeline if kind == "sdxl" else diffusers.StableDiffusionPipeline
    finally:
        transformers.logging.set_verbosity(level)


def _load_external(name_or_path: str, *, dtype: torch.dtype, allow_pickle: bool):
    path = Path(os.path.expanduser(name_or_path))
    if not path.exists() and _looks_like_a_path(name_or_path):
        raise ModelError(f"no such file or folder: {name_or_path!r}")
    if path.is_file():
        if path.suffix not in (".safetensors",) and not allow_pickle:
            raise ModelError(
                f"{path.name} is a pickle checkpoint, which can run code when loaded; convert it to "
                "safetensors, or pass allow_pickle=True if you trust its source"
            )
        if path.stat().st_size == 0:
            raise ModelError(f"{path} is empty (an interrupted download?)")
        kind, source, where = _checkpoint_kind(path), str(path), "checkpoint file"
    else:
        source, where = (str(path), "folder") if path.is_dir() else (name_or_path, "hub id")
        kind = _family_kind(_model_index(path) if path.is_dir() else _hub_index(name_or_path), name_or_path)
    pipeline = stable_diffusion_pipeline_class(kind)
    common = dict(torch_dtype=dtype) if kind == "sdxl" else dict(
        safety_checker=None, requires_safety_checker=False, torch_dtype=dtype)
    if where == "checkpoint file":
        load, kwargs = pipeline.from_single_file, common
    else:
        load, kwargs = pipeline.from_pretrained, {**common, "use_safetensors": not allow_pickle}
    try:
        return load(source, **kwargs)
    except Exception as exc:  # noqa: BLE001 - diffusers/transformers/safetensors raise many kinds
        raise _load_error(where, name_or_path, exc) from exc


def _load_error(where: str, name: str, exc: Exception) -> ModelError:
    hint = "a single file also needs its model's configs from the hub; " if where == "checkpoint file" else ""
    return ModelError(
        f"could not load {where} {name!r}: {type(exc).__name__}: {exc}\n"
        f"Truncated or corrupt files fail here too. Offline? {hint}the built-in model {DEFAULT_MODEL!r} "
        "needs no network."
    )


def _looks_like_a_path(name: str) -> bool:
    """A hub id is ``owner/name``; anything with more parts, a leading ./ / ~ or a file suffix is a path."""
    return (name.startswith(("/", "./", "../", "~", "\\")) or "\\" in name or name.count("/") > 1
            or Path(name).suffix in (".safetensors", ".ckpt", ".bin", ".pt", ".json"))


SUPPORTED_PIPELINES = {  # model_index.json's _class_name -> what loads it
    "StableDiffusionPipeline": "sd", "StableDiffusionImg2ImgPipeline": "sd",
    "StableDiffusionPanoramaPipeline": "sd", "LatentConsistencyModelPipeline": "sd",
    "StableDiffusionInpaintPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl", "StableDiffusionXLImg2ImgPipeline": "sdxl",
}


def _model_index(folder: Path) -> dict:
    """A diffusers folder's model_index.json, its UNet checked to be a text-to-image or inpainting one."""
    index = folder / "model_index.json"
    if not index.is_file():
        raise ModelError(f"{folder} has no model_index.json: it is not a diffusers pipeline folder")
    info = read_config(index)
    for component in _COMPONENT_CONFIGS:  # every config diffusers will read, checked before it allocates
        if (folder / component).is_file():
            read_config(folder / component)
    unet_config = folder / "unet" / "config.json"
    if unet_config.is_file():
        config = read_config(unet_config)
        channels, latent = config.get("in_channels", 4), config.get("out_channels", 4)
        if unet_input_kind(channels, latent) is None:
            runs = unet_input_channels(latent)
            raise ModelError(
                f"{folder}'s UNet takes {channels} input channels for {latent}-channel latents (a depth or other "
                f"special model); mdwidgets needs a text-to-image UNet ({runs['text']}) or an inpainting one "
                f"({runs['inpainting']})"
            )
    return info


def _hub_index(name: str) -> dict | None:
    """A hub model's model_index.json (a small download), or None where it cannot be had: the load
    itself then fails with the reason."""
    from diffusers import DiffusionPipeline

    try:
        info = dict(DiffusionPipeline.load_config(name))
    except Exception:  # noqa: BLE001 - offline, private, missing: loading says which
        return None
    return check_config(info, f"{name}'s model_index.json")


def _family_kind(info: dict | None, name: str) -> str:
    """``"sd"`` or ``"sdxl"`` from a model_index.json (``None``: not known, try SD); other families refused."""
    if info is None:
        return "sd"
    found = info.get("_class_name", "?")
    if found not in SUPPORTED_PIPELINES:
        raise ModelError(f"{name} holds a {found} model; mdwidgets supports {SUPPORTED} "
                         f"(pipelines: {', '.join(sorted(SUPPORTED_PIPELINES))})")
    return SUPPORTED_PIPELINES[found]


def _checkpoint_kind(path: Path) -> str:
    """``"sdxl"`` for an SDXL single-file checkpoint (its second text encoder's keys), else ``"sd"``."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as checkpoint:
            return "sdxl" if any(k.startswith("conditioner.embedders.1.") for k in checkpoint.keys()) else "sd"
    except Exception:  # noqa: BLE001 - not readable here: loading it reports why
        return "sd"


# Tiny SD-1.x-shaped components (4 latent channels, VAE factor 8) for tests and examples.
_COMPONENT_CONFIGS = ("vae/config.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
                      "text_encoder_2/config.json")
MAX_CONFIG_BYTES = 2**20  #: a model config (JSON) is a few kB; more is not a config
#: Whole numbers a model config may hold, and their most: far above every SD/SDXL checkpoint's, far below what
#: would allocate gigabytes while loading (``num_train_timesteps: 1e9`` makes a 1e9-entry noise schedule).
_CONFIG_WHOLE = {"in_channels": 64, "out_channels": 64, "latent_channels": 64, "num_train_timesteps": 10_000,
                 "norm_num_groups": 1024, "vocab_size": 1_000_000, "hidden_size": 16_384, "intermediate_size": 65_536,
                 "num_hidden_layers": 256, "max_position_embeddings": 65_536, "projection_dim": 16_384}
#: the same, where diffusers also takes one per block (a list)
_CONFIG_WHOLE_OR_LIST = {"sample_size": 16_384, "block_out_channels": 16_384, "layers_per_block": 64,
                         "cross_attention_dim": 16_384, "attention_head_dim": 1024, "num_attention_heads": 1024}


def read_config(path: Path) -> dict:
    """A model's config file (``model_index.json``, a component's ``config.json``): a regular file of at
    most :data:`MAX_CONFIG_BYTES` holding a JSON object whose known values have the right types and sizes
    (:func:`check_config`). Every problem is a :class:`ModelError` naming the file and the key."""
    return check_config(_read_json_object(path), str(path))


def check_config(config: dict, where: str) -> dict:
    """``config`` if ``_class_name`` is a string and every number in :data:`_CONFIG_WHOLE` (and
    :data:`_CONFIG_WHOLE_OR_LIST`, which may also be lists of them) is a whole number from 1 to its most."""
    if not isinstance(config.get("_class_name", ""), str):
        raise ModelError(f"{where}: _class_name={config['_class_name']!r:.60} must be a class name (a string)")
    for key, most in (*_CONFIG_WHOLE.items(), *_CONFIG_WHOLE_OR_LIST.items()):
        value = config.get(key)
        values = value if key in _CONFIG_WHOLE_OR_LIST and isinstance(value, list) and len(value) <= 64 else [value]
        if value is not None and not all(type(v) is int and 1 <= v <= most for v in values):
            kind = " (or a list of them)" if key in _CONFIG_WHOLE_OR_LIST else ""
            raise ModelError(f"{where}: {key}={value!r:.60} must be a whole number from 1 to {most}{kind}")
    return config


def _read_json_object(path: Path) -> dict:
    """A config file as a dict, or a ModelError naming it."""
    try:
        data = json.loads(read_limited(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelError(f"{path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data
