"""Peak memory of one SD 1.5-architecture UNet call by rows and latent size, and of a VAE decode.

    python -m benchmarks.unet_memory

Run it in a fresh process: the peak-RSS reset only sees growth beyond what the process already
touched. These numbers calibrate mdwidgets.sampling.budget.
"""

from __future__ import annotations

import time

import torch

from benchmarks.bench_sampler import sd15_pipeline
from benchmarks.procmem import reset_rss_peak, rss_mb, rss_peak_mb


def main() -> None:
    torch.set_num_threads(1)
    pipe = sd15_pipeline()
    for hw in (32, 64):
        for rows in (1, 2, 4):
            reset_rss_peak()
            base = rss_mb()
            x, context = torch.randn(rows, 4, hw, hw), torch.randn(rows, 77, 768)
            started = time.perf_counter()
            with torch.inference_mode():
                pipe.unet(x, 500, encoder_hidden_states=context)
            print(f"unet latent {hw}x{hw} rows={rows}: +{rss_peak_mb() - base:.0f} MB peak, "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
    for hw in (32, 64):
        reset_rss_peak()
        base = rss_mb()
        with torch.inference_mode():
            pipe.vae.decode(torch.randn(1, 4, hw, hw))
        print(f"vae decode {8 * hw}x{8 * hw} px: +{rss_peak_mb() - base:.0f} MB peak", flush=True)


if __name__ == "__main__":
    main()
