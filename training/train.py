"""Train the built-in "shapes" Stable-Diffusion-style model on CPU (or a GPU with ``--device cuda``).

The shipped weights are a base run, a fine-tune on larger objects, a fine-tune where some
captions name one object of a many-object scene (as a region prompt does), and two fine-tunes on
*region states*, what MultiDiffusion shows a region's path (:mod:`training.states`).
``bash scripts/train_builtin.sh RUN`` runs the whole recipe (docs/model_card.md has the timings);
its stages are::

    python -m training.train --out RUN/base --stage all --export RUN/base/export
    python -m training.train --out RUN/ft1 --stage unet --init-from RUN/base/export \
        --unet-steps 1500 --unet-lr 3e-4 --min-object-px 24 --scenes 12000 --seed 1
    python -m training.train --out RUN/ft1 --stage export --export RUN/ft1/export
    # ft2 .. ft4 start from the previous export with ft1's cached scenes (cp RUN/ft1/latents.pt RUN/ftN/),
    # --unet-steps 1000 --unet-lr 2e-4 --min-object-px 24 --scenes 12000 --p-single 0.3, and:
    #   ft2: --seed 2;   ft3: --seed 3 --p-states 0.25;   ft4: --seed 4 --p-states 0.25

Stages (``--stage``): ``vae`` (the f8 autoencoder, 64–256 px scenes), ``unet`` (renders
``--scenes`` training scenes at the native 128 px once, caches their VAE posteriors in
``RUN/latents.pt``, then trains the UNet and the text encoder jointly on batches of cached
latents), ``export`` (a diffusers folder, EMA weights, UNet/VAE in fp16). ``--vae-from FOLDER``
takes the VAE of an exported model instead of the ``vae`` stage's. With ``--p-states`` a share of
every batch is region states of the ``--init-from`` model, recorded once into ``RUN/states.pt``.

Run it in the background: every ``--ckpt-every`` steps the stage checkpoints into ``RUN`` and
redraws ``RUN/unet_loss.png``; ``RUN/train.log`` is the log; ``--resume`` continues a stage
from its last checkpoint after an interruption. Everything is deterministic given ``--seed``:
the data and the diffusion noise of step ``k`` are derived from ``(seed, k)`` only, so a
resumed run sees exactly the same batches.

Components are exactly the Stable Diffusion classes (diffusers
``AutoencoderKL`` + ``UNet2DConditionModel`` + ``DDIMScheduler``, transformers
``CLIPTextModel`` + an offline word-level ``PreTrainedTokenizerFast``), so the
exported folder loads with ``StableDiffusionPipeline.from_pretrained``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import time

import numpy as np
import torch

from mdwidgets.shapes.data import caption, random_scene, render
from mdwidgets.shapes.tokenizer import MODEL_MAX_LENGTH, build_tokenizer

from .states import MIN_TIMESTEP as STATE_MIN_TIMESTEP

# --------------------------------------------------------------------------
# architecture (documented here, in code)
# --------------------------------------------------------------------------
VAE_CONFIG = dict(
    in_channels=3, out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,   # 4 blocks -> f8 like real SD
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(16, 32, 64, 64),
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=1,   # GroupNorm(1): with few channels per group GroupNorm
                         # is an instance norm that erases flat colours
    sample_size=256,
    mid_block_add_attention=False,
)
NATIVE_SIZE = 128   # px: a 16x16 latent, 4x cheaper per step than 256 px with the same f8 VAE
UNET_CONFIG = dict(
    sample_size=NATIVE_SIZE // 8,
    # in_channels = out_channels = the VAE's latent channels (build_unet)
    block_out_channels=(48, 96, 128),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=128,
    attention_head_dim=4,        # diffusers legacy name: this is the number of heads
    norm_num_groups=16,
)
TEXT_CONFIG = dict(
    hidden_size=128, intermediate_size=512, num_hidden_layers=3,
    num_attention_heads=4, max_position_embeddings=MODEL_MAX_LENGTH,
    projection_dim=128, hidden_act="quick_gelu",
    attention_dropout=0.0, dropout=0.0,
)
SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
    beta_schedule="scaled_linear", prediction_type="epsilon", clip_sample=False,
    set_alpha_to_one=False, steps_offset=1,
)

SAMPLE_PROMPTS = [
    "a red circle on a blue background",
    "a yellow triangle on a black background",
    "a green square on a white background",
    "a purple star on a yellow background",
    "a white ring on a red background",
    "an orange circle and a blue square on a green background",
    "a red triangle and a yellow star and a white circle on a purple background",
    "a blue background",
]


def build_vae(latent_channels: int = VAE_CONFIG["latent_channels"]):
    from diffusers import AutoencoderKL
    vae = AutoencoderKL(**{**VAE_CONFIG, "latent_channels": latent_channels})
    # start with a small posterior std (exp(-6/2) ~ 0.05) instead of ~1: with
    # a short training budget the KL-VAE otherwise spends hundreds of steps
    # learning to shrink the sampling noise.
    with torch.no_grad():
        vae.quant_conv.bias[latent_channels:] = -6.0
    return vae


def build_unet(channels: tuple[int, ...] | None = None, latent_channels: int = VAE_CONFIG["latent_channels"]):
    """The UNet; it reads and predicts the VAE's ``latent_channels``."""
    from diffusers import UNet2DConditionModel
    return UNet2DConditionModel(**{**UNET_CONFIG, "in_channels": latent_channels, "out_channels": latent_channels,
                                   **({"block_out_channels": tuple(channels)} if channels else {})})


def build_text_encoder(tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel
    cfg = CLIPTextConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         **TEXT_CONFIG)
    return CLIPTextModel(cfg)


def build_scheduler(kind="ddim"):
    import inspect

    from diffusers import DDIMScheduler, DDPMScheduler
    cls = DDIMScheduler if kind == "ddim" else DDPMScheduler
    ok = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in SCHEDULER_CONFIG.items() if k in ok})


def n_params(m) -> int:
    return sum(p.numel() for p in m.parameters())


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def step_rng(seed: int, stage: str, step: int) -> random.Random:
    return random.Random(f"{seed}-{stage}-{step}")


def make_batch(rng: random.Random, size: int, batch: int) -> torch.Tensor:
    """``batch`` random scenes at ``size`` px as a tensor in [-1, 1] (VAE training)."""
    imgs = [np.asarray(render(random_scene(rng, size), size), dtype=np.float32) for _ in range(batch)]
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2) / 127.5 - 1.0


# --------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------
def vae_plan(step: int, total: int = 700) -> tuple[int, int]:
    """(image size, batch) for VAE step ``step``.

    Always *full* images (GroupNorm statistics depend on the whole image): the
    first 60% at 64 px (cheap; the conv weights are size independent), then
    alternating 128 px and 256 px full images so that the normalisation
    statistics match the sizes we sample at."""
    if step < int(0.6 * total):
        return 64, 16
    return (256, 4) if step % 2 == 0 else (128, 8)


def pick_caption(rng: random.Random, captions: tuple[str, str, bool], p_empty=0.10, p_objects=0.30,
                 p_single=0.0) -> str:
    """One caption of a cached scene: empty (for classifier-free guidance), one of its objects
    (``p_single``: what a region prompt says while other regions draw the rest of the canvas),
    all objects (what a region prompt says) or the full sentence. Scenes on a free RGB background
    have no words for it."""
    full, objects, free_background = captions
    u = rng.random()
    if u < p_empty:
        return ""
    if objects and u < p_empty + p_single:
        return rng.choice(objects.split(" and "))
    if free_background or (objects and u < p_empty + p_single + p_objects):
        return objects
    return full


def build_latent_cache(a, vae, path: str) -> None:
    """Render ``--scenes`` training scenes at the native size and store their VAE posteriors.

    Encoding costs more than a UNet step at this size, so every scene is encoded once; each step
    draws a batch of cached latents and samples the posterior afresh."""
    from mdwidgets.shapes.data import training_scene
    rng = random.Random(f"{a.seed}-scenes")
    means, stds, captions = [], [], []
    started = time.time()
    for first in range(0, a.scenes, 64):
        chunk = [training_scene(rng, NATIVE_SIZE, min_px=a.min_object_px) for _ in range(min(64, a.scenes - first))]
        x = torch.from_numpy(np.stack([np.asarray(render(scene, NATIVE_SIZE, background_rgb=rgb), np.float32)
                                       for scene, rgb in chunk])).permute(0, 3, 1, 2) / 127.5 - 1.0
        with torch.no_grad():
            post = vae.encode(x.to(vae.device)).latent_dist
        means.append(post.mean.half().cpu())
        stds.append(post.std.half().cpu())
        captions += [(caption(scene, "full"), caption(scene, "objects") if scene.objects else "", rgb is not None)
                     for scene, rgb in chunk]
        if first % 2048 == 0:
            minutes = (time.time() - started) / 60
            log(a.out, f"latents: {first + len(chunk)}/{a.scenes} scenes encoded, {minutes:.1f} min")
    save_ckpt(path, mean=torch.cat(means), std=torch.cat(stds), captions=captions,
              minutes=(time.time() - started) / 60)
    log(a.out, f"latents: {a.scenes} scenes cached in {(time.time() - started) / 60:.1f} min")


def load_region_states(a, path: str) -> dict:
    """The recorded region states (:mod:`training.states`) of the ``--init-from`` model,
    recorded first if ``path`` does not exist."""
    if not os.path.exists(path):
        if not a.init_from:
            raise SystemExit("--p-states needs --init-from: region states are recorded from a trained model")
        from mdwidgets.catalog import BUILTIN_FAMILIES, SHAPES
        from mdwidgets.pipelines.loading import load_pipeline

        from .states import record_states
        pipe = load_pipeline(a.init_from, family=BUILTIN_FAMILIES[SHAPES], dtype=torch.float32)
        save_ckpt(path, **record_states(pipe, a.state_layouts, a.seed, a.state_min_timestep,
                                        log=lambda m: log(a.out, m)))
    states = torch.load(path, weights_only=False, map_location="cpu")
    keep = (states["timesteps"] >= a.state_min_timestep).nonzero()[:, 0]  # a file may hold lower ones
    states.update({key: states[key][keep] for key in ("inputs", "timesteps", "cells", "target")},
                  prompts=[states["prompts"][i] for i in keep.tolist()])
    log(a.out, f"states: {len(keep)} region states (timesteps >= {a.state_min_timestep}) of "
               f"{len(states['layouts'])} layouts, {len(states['targets'])} target pictures")
    return states


def state_batch(states: dict, picked: torch.Tensor, sched, noisy, noise, t):
    """Append recorded region states to a batch. Their target noise is the one that takes the
    recorded input to the asked picture: ε* = (x_t − √ᾱ_t · x0*) / √(1 − ᾱ_t)."""
    x_t, t_s = states["inputs"][picked].float(), states["timesteps"][picked]
    x0 = states["targets"][states["target"][picked]].float()
    alpha_bar = sched.alphas_cumprod[t_s].view(-1, 1, 1, 1)
    target = (x_t - alpha_bar.sqrt() * x0) / (1 - alpha_bar).sqrt()
    return (torch.cat([noisy, x_t]), torch.cat([noise, target]), torch.cat([t, t_s]),
            states["cells"][picked][:, None])


def lr_at(step: int, total: int, base: float, warmup: int, final_frac=0.1) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


# --------------------------------------------------------------------------
# utilities
# --------------------------------------------------------------------------
def autocast(enabled: bool, device: str = "cpu"):
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=enabled)


def save_ckpt(path, **state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def plot_losses(hist: list[tuple[int, float]], path: str, title: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if not hist:
        return
    s = np.array([h[0] for h in hist])
    v = np.array([h[1] for h in hist])
    k = max(1, len(v) // 50)
    sm = np.convolve(v, np.ones(k) / k, mode="valid")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(s, v, alpha=0.3, lw=0.7, label="loss")
    ax.plot(s[k - 1:], sm, lw=1.5, label=f"mean over {k}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def grid(images, cols):
    from PIL import Image
    w, h = images[0].size
    rows = (len(images) + cols - 1) // cols
    g = Image.new("RGB", (cols * w, rows * h), (128, 128, 128))
    for i, im in enumerate(images):
        g.paste(im, ((i % cols) * w, (i // cols) * h))
    return g


def log(out, msg):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    with open(os.path.join(out, "train.log"), "a") as f:
        f.write(line + "\n")


# --------------------------------------------------------------------------
# VAE stage
# --------------------------------------------------------------------------
def train_vae(a):
    out = a.out
    torch.manual_seed(a.seed)
    vae = build_vae(a.latent_channels)
    opt = torch.optim.AdamW(vae.parameters(), lr=a.vae_lr, weight_decay=0.0)
    ck = os.path.join(out, "vae_ckpt.pt")
    start, hist, elapsed = 0, [], 0.0
    if a.resume and os.path.exists(ck):
        st = torch.load(ck, weights_only=False)
        vae.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        start, hist, elapsed = st["step"], st["hist"], st["elapsed"]
        log(out, f"vae: resumed at step {start}")
    log(out, f"vae: {n_params(vae)/1e6:.3f} M params, {a.vae_steps} steps")
    vae.train()
    t0 = time.time()
    for step in range(start, a.vae_steps):
        rng = step_rng(a.seed, "vae", step)
        size, bs = vae_plan(step, a.vae_steps)
        x = make_batch(rng, size, bs)
        g = torch.Generator().manual_seed(a.seed * 7919 + step)
        for pg in opt.param_groups:
            pg["lr"] = lr_at(step, a.vae_steps, a.vae_lr, 20)
        with autocast(a.bf16):
            post = vae.encode(x).latent_dist
            z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
            rec = vae.decode(z).sample
        rec = rec.float()
        l1 = (rec - x).abs().mean()
        l2 = (rec - x).pow(2).mean()
        kl = post.kl().float().mean() / (post.mean[0].numel())
        loss = l1 + l2 + a.vae_kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        hist.append((step, l1.item()))
        if step % 25 == 0 or step == a.vae_steps - 1:
            el = elapsed + time.time() - t0
            log(out, f"vae step {step} size {size} l1 {float(l1):.4f} l2 {float(l2):.5f} "
                     f"kl {float(kl):.3f} elapsed {el/60:.1f} min")
        if (step + 1) % a.ckpt_every == 0 or step == a.vae_steps - 1:
            save_ckpt(ck, model=vae.state_dict(), opt=opt.state_dict(), step=step + 1,
                      hist=hist, elapsed=elapsed + time.time() - t0)
            plot_losses(hist, os.path.join(out, "vae_loss.png"), "VAE L1 reconstruction loss")
    elapsed += time.time() - t0
    vae.eval()
    # scaling factor = 1 / std of latents (SD convention) over 256 px images
    with torch.no_grad():
        x = make_batch(random.Random(f"{a.seed}-vae-scale"), 256, 32)
        z = vae.encode(x).latent_dist.sample()
        sf = float(1.0 / z.std())
        # reconstruction grid: originals (top) vs reconstructions (bottom), 128 and 256 px
        from PIL import Image
        ims = []
        for size in (256, 128):
            x = make_batch(random.Random(f"{a.seed}-vae-grid-{size}"), size, 6)
            r = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
            for t in list(x) + list(r):
                arr = ((t.permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
                ims.append(Image.fromarray(arr).resize((256, 256), Image.NEAREST))
        grid(ims, 6).save(os.path.join(out, "vae_recon.png"))
        mae = {}
        for size in (128, 256):
            x = make_batch(random.Random(f"{a.seed}-vae-eval-{size}"), size, 16)
            r = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
            mae[size] = float((r - x).abs().mean() * 127.5)
    vae.register_to_config(scaling_factor=sf)
    vae.save_pretrained(os.path.join(out, "vae"))
    json.dump({"scaling_factor": sf, "train_minutes": elapsed / 60, "mae_0_255": mae,
               "params": n_params(vae)}, open(os.path.join(out, "vae_stats.json"), "w"), indent=1)
    log(out, f"vae done: scaling_factor {sf:.4f}, MAE (0-255) {mae}, {elapsed/60:.1f} min")


# --------------------------------------------------------------------------
# UNet (+ text encoder) stage
# --------------------------------------------------------------------------
def make_pipeline(vae, text_encoder, tokenizer, unet):
    from diffusers import StableDiffusionPipeline
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   unet=unet, scheduler=build_scheduler("ddim"),
                                   safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def sample_grid(pipe, path, size=256, seed=0, prompts=SAMPLE_PROMPTS, steps=25, cfg=5.0):
    g = torch.Generator(pipe.device).manual_seed(seed)
    ims = pipe(prompts, height=size, width=size, num_inference_steps=steps,
               guidance_scale=cfg, generator=g).images
    grid(ims, 4).save(path)


def init_from_export(folder: str, unet, text_encoder) -> None:
    """Load the UNet and text encoder weights of an exported model folder (e.g.
    the shipped ``mdwidgets/models/shapes``) into freshly built modules, in fp32."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel
    src_unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=torch.float32)
    src_te = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", torch_dtype=torch.float32)
    unet.load_state_dict(src_unet.state_dict())
    text_encoder.load_state_dict(src_te.state_dict())


def train_unet(a):
    from diffusers import AutoencoderKL
    out = a.out
    torch.manual_seed(a.seed)
    tok = build_tokenizer()
    vae_source = a.vae_from or a.init_from
    if vae_source and not os.path.isdir(os.path.join(out, "vae")):
        # an exported model's (frozen) VAE becomes this run's VAE
        AutoencoderKL.from_pretrained(vae_source, subfolder="vae", torch_dtype=torch.float32
                                      ).save_pretrained(os.path.join(out, "vae"))
    vae = AutoencoderKL.from_pretrained(os.path.join(out, "vae")).eval().to(a.device)
    vae.requires_grad_(False)
    sf = vae.config.scaling_factor
    cache_path = os.path.join(out, "latents.pt")
    if not os.path.exists(cache_path):
        build_latent_cache(a, vae, cache_path)
    cache = torch.load(cache_path, weights_only=False, map_location="cpu")
    unet = build_unet(a.channels, vae.config.latent_channels).to(a.device)
    te = build_text_encoder(tok).to(a.device)
    if a.init_from:
        init_from_export(a.init_from, unet, te)
        log(out, f"unet: initialised from {a.init_from} (fine-tuning, fresh optimizer)")
    states = load_region_states(a, os.path.join(out, "states.pt")) if a.p_states > 0 else None
    params = list(unet.parameters()) + list(te.parameters())
    opt = torch.optim.AdamW(params, lr=a.unet_lr, weight_decay=0.01)
    # EMA copies (exported / sampled); decay ramps up to --ema
    import copy
    ema_unet, ema_te = copy.deepcopy(unet).eval(), copy.deepcopy(te).eval()
    ema_params = list(ema_unet.parameters()) + list(ema_te.parameters())
    sched = build_scheduler("ddpm")
    ac = sched.alphas_cumprod
    snr = ac / (1 - ac)
    ck = os.path.join(out, "unet_ckpt.pt")
    start, hist, elapsed = 0, [], 0.0
    if a.resume and os.path.exists(ck):
        st = torch.load(ck, weights_only=False, map_location=a.device)
        unet.load_state_dict(st["unet"])
        te.load_state_dict(st["text_encoder"])
        opt.load_state_dict(st["opt"])
        ema_unet.load_state_dict(st["ema_unet"])
        ema_te.load_state_dict(st["ema_text_encoder"])
        start, hist, elapsed = st["step"], st["hist"], st["elapsed"]
        log(out, f"unet: resumed at step {start}")
    log(out, f"unet: {n_params(unet)/1e6:.3f} M params, text encoder {n_params(te)/1e6:.3f} M, "
             f"{a.unet_steps} steps, batch {a.batch}, lr {a.unet_lr}, {len(cache['captions'])} cached scenes")
    t0 = time.time()
    unet.train()
    te.train()
    bs = a.batch
    for step in range(start, a.unet_steps):
        rng = step_rng(a.seed, "unet", step)
        n_states = round(bs * a.p_states) if states is not None else 0
        idx = rng.sample(range(len(cache["captions"])), bs - n_states)
        caps = [pick_caption(rng, cache["captions"][i], p_single=a.p_single) for i in idx]
        if n_states:
            picked = torch.tensor(rng.sample(range(len(states["prompts"])), n_states))
            caps += [states["prompts"][i] for i in picked.tolist()]
        ids = tok(caps, padding="max_length", max_length=tok.model_max_length,
                  truncation=True, return_tensors="pt").input_ids
        g = torch.Generator().manual_seed(a.seed * 104729 + step)
        for pg in opt.param_groups:
            pg["lr"] = lr_at(step, a.unet_steps, a.unet_lr, 100)
        # all randomness is drawn on the CPU, so a GPU run sees the same batches and noise
        mean, std = cache["mean"][idx].float(), cache["std"][idx].float()
        lat = (mean + std * torch.randn(mean.shape, generator=g)) * sf
        noise = torch.randn(lat.shape, generator=g)
        if a.offset_noise > 0:
            # "offset noise": a per-image, per-channel constant added to the noise.
            # Without it the flat background colour leaks through x_T and the model
            # reads the background from the noise instead of from the prompt
            # (measured on the first shapes model: the injected DC decided the
            # background in 12/12 trials).
            noise = noise + a.offset_noise * torch.randn(lat.shape[0], lat.shape[1], 1, 1, generator=g)
        t = torch.randint(0, sched.config.num_train_timesteps, (bs - n_states,), generator=g)
        noisy = sched.add_noise(lat, noise, t)
        cells = torch.ones(bs, 1, *lat.shape[2:], dtype=torch.bool)
        if n_states:
            noisy, noise, t, cells[-n_states:] = state_batch(states, picked, sched, noisy, noise, t)
        w = torch.clamp(snr[t], max=a.min_snr) / snr[t] if a.min_snr > 0 else torch.ones(bs)
        noisy, noise, t, w, ids, cells = (v.to(a.device) for v in (noisy, noise, t, w, ids, cells))
        with autocast(a.bf16, a.device):
            emb = te(ids)[0]
            pred = unet(noisy, t, emb).sample
        # a region state counts only on the cells where its path's prediction is fused
        mse = ((pred.float() - noise).pow(2) * cells).sum(dim=(1, 2, 3)) / (cells.sum(dim=(1, 2, 3)) * lat.shape[1])
        loss = (w * mse).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            d = min(a.ema, (1 + step) / (10 + step))
            torch._foreach_lerp_(ema_params, params, 1 - d)
        hist.append((step, mse.mean().item()))
        if step % 25 == 0 or step == a.unet_steps - 1:
            el = elapsed + time.time() - t0
            recent = np.mean([h[1] for h in hist[-25:]])
            log(out, f"unet step {step} mse {float(mse.detach().mean()):.4f} (avg25 {recent:.4f}) "
                     f"lr {opt.param_groups[0]['lr']:.2e} elapsed {el/60:.1f} min")
        last = step == a.unet_steps - 1
        if (step + 1) % a.ckpt_every == 0 or last:
            save_ckpt(ck, unet=unet.state_dict(), text_encoder=te.state_dict(), opt=opt.state_dict(),
                      ema_unet=ema_unet.state_dict(), ema_text_encoder=ema_te.state_dict(),
                      unet_config=dict(unet.config), step=step + 1, hist=hist,
                      elapsed=elapsed + time.time() - t0)
            plot_losses(hist, os.path.join(out, "unet_loss.png"), "UNet epsilon MSE")
        if (step + 1) % a.sample_every == 0 or last:
            ts = time.time()
            pipe = make_pipeline(vae, ema_te, tok, ema_unet)
            sample_grid(pipe, os.path.join(out, f"samples_{step+1:05d}.png"), NATIVE_SIZE)
            t0 += time.time() - ts   # sampling time is not training time
    elapsed += time.time() - t0
    log(out, f"unet done: {elapsed/60:.1f} min")


# --------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------
def export(a):
    from diffusers import AutoencoderKL
    out = a.out
    tok = build_tokenizer()
    vae = AutoencoderKL.from_pretrained(os.path.join(out, "vae")).eval()
    st = torch.load(os.path.join(out, "unet_ckpt.pt"), weights_only=False, map_location="cpu")
    unet = build_unet(st["unet_config"]["block_out_channels"], vae.config.latent_channels)
    te = build_text_encoder(tok)
    # export the EMA weights (unless --no-ema-export)
    key = "ema_" if a.ema_export else ""
    unet.load_state_dict(st[key + "unet"])
    te.load_state_dict(st[key + "text_encoder"])
    # UNet and VAE are stored in fp16 (diffusers upcasts them to the default
    # float32 on load); the 0.6 M-param text encoder stays fp32 because
    # transformers 5 loads weights in their stored dtype ("auto"), and an fp16
    # text encoder would hand fp16 embeddings to an fp32 UNet.
    unet.to(torch.float16)
    vae.to(torch.float16)
    pipe = make_pipeline(vae, te, tok, unet)
    pipe.save_pretrained(a.export, safe_serialization=True)
    make_portable(a.export)
    # record how the weights were produced
    info = {"unet_steps": st["step"], "unet_train_minutes": st["elapsed"] / 60, "seed": a.seed}
    p = os.path.join(out, "vae_stats.json")
    if os.path.exists(p):
        info["vae"] = json.load(open(p))
    json.dump(info, open(os.path.join(a.export, "training_info.json"), "w"), indent=1)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(a.export) for f in fs)
    log(out, f"exported to {a.export}: {total/1e6:.2f} MB")


def make_portable(folder: str) -> None:
    """Store the text encoder and tokenizer as every transformers version reads them.

    transformers 5 writes CLIP text-encoder keys without the ``text_model.`` prefix and names its
    own ``TokenizersBackend`` class; older versions would load a randomly initialised encoder
    (with only a warning) and fail on the class name. The prefixed keys and
    ``PreTrainedTokenizerFast`` are the layout of Stable Diffusion checkpoints on the hub."""
    from safetensors.torch import load_file, save_file
    weights = os.path.join(folder, "text_encoder", "model.safetensors")
    state = load_file(weights)
    save_file({k if k.startswith("text_model.") else f"text_model.{k}": v for k, v in state.items()}, weights,
              metadata={"format": "pt"})
    for path, edit in ((os.path.join(folder, "model_index.json"), "tokenizer"),
                       (os.path.join(folder, "tokenizer", "tokenizer_config.json"), "tokenizer_class")):
        with open(path) as f:
            config = json.load(f)
        config[edit] = ["transformers", "PreTrainedTokenizerFast"] if edit == "tokenizer" else "PreTrainedTokenizerFast"
        config.pop("backend", None)
        with open(path, "w") as f:
            json.dump(config, f, indent=2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="run directory (checkpoints, logs, grids)")
    p.add_argument("--stage", default="all", choices=["vae", "unet", "export", "all"])
    p.add_argument("--resume", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vae-steps", type=int, default=1100)
    p.add_argument("--unet-steps", type=int, default=4500, help="UNet steps (default: the shipped base run's)")
    p.add_argument("--steps", type=int, default=None, help="alias: steps of the selected stage")
    p.add_argument("--vae-lr", type=float, default=2e-3)
    p.add_argument("--vae-kl", type=float, default=1e-4, help="weight of per-element KL")
    p.add_argument("--unet-lr", type=float, default=8e-4)
    p.add_argument("--ema", type=float, default=0.995, help="EMA decay of UNet/text-encoder weights")
    p.add_argument("--no-ema-export", dest="ema_export", action="store_false")
    p.add_argument("--offset-noise", type=float, default=0.25,
                   help="std of per-channel constant noise added to the training noise "
                        "(0 = off, as for the shipped 2000-step weights; 0.2-0.3 recommended "
                        "so that the background colour follows the prompt)")
    p.add_argument("--init-from", default=None,
                   help="exported model folder whose UNet/text encoder (and VAE) start a fine-tuning "
                        "run: fresh optimizer and LR schedule")
    p.add_argument("--vae-from", default=None,
                   help="exported model folder whose VAE this run uses (skips the VAE stage's output)")
    p.add_argument("--latent-channels", type=int, default=VAE_CONFIG["latent_channels"],
                   help="the VAE stage's latent channels (UNet stages follow their VAE); 8 lifts the VAE's "
                        "ceiling above the targets, but this UNet draws blobs on it: docs/model_card.md")
    p.add_argument("--channels", type=lambda v: tuple(int(c) for c in v.split(",")), default=None,
                   help="UNet block_out_channels, e.g. 64,128,128 (default: UNET_CONFIG's)")
    p.add_argument("--batch", type=int, default=64, help="UNet batch size")
    p.add_argument("--scenes", type=int, default=20000, help="training scenes rendered and encoded once")
    p.add_argument("--min-object-px", type=float, default=16, help="smallest object side in the training scenes")
    p.add_argument("--p-single", type=float, default=0.0,
                   help="share of captions naming one object of a many-object scene (as a region prompt does)")
    p.add_argument("--p-states", type=float, default=0.0,
                   help="share of each batch taken from recorded region states (training.states)")
    p.add_argument("--state-min-timestep", type=int, default=STATE_MIN_TIMESTEP,
                   help="region states below this timestep are not trained on (training.states)")
    p.add_argument("--state-layouts", type=int, default=300, help="layouts whose region states are recorded")
    p.add_argument("--min-snr", type=float, default=5.0, help="min-SNR-gamma loss weighting (0: off)")
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--sample-every", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="where the UNet stage trains: cpu, cuda, mps")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast (fast on AMX CPUs and GPUs; ~10x slower on CPUs without bf16)")
    p.add_argument("--export", default=None, help="diffusers folder to write (e.g. mdwidgets/models/shapes)")
    a = p.parse_args(argv)
    if a.steps is not None:
        if a.stage == "vae":
            a.vae_steps = a.steps
        elif a.stage == "unet":
            a.unet_steps = a.steps
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    log(a.out, "args: " + json.dumps(vars(a)))
    if a.stage in ("vae", "all"):
        train_vae(a)
    if a.stage in ("unet", "all"):
        train_unet(a)
    if a.stage in ("export", "all") and a.export:
        export(a)


if __name__ == "__main__":
    main()
