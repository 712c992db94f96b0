"""Build a FLUX.1 [schnell] pipeline with random weights, saved in diffusers layout.

Nothing is downloaded: the tiny configs are written here (the full ones come from
backends/local/configs.py) and the tokenizers are trained
in memory with the `tokenizers` library. ``tiny`` is small enough for CPU tests;
``full`` is the real FLUX.1 [schnell] architecture (transformer, T5-XXL, CLIP-L, VAE)
for GPU benchmarks, where only the speed and memory of the shapes matter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from backends.local.configs import FULL

Size = Literal["tiny", "full"]
__all__ = ["FULL", "TINY", "build_random_flux", "make_random_pipeline"]

# The real configs live with the app (backends/local/configs.py); FULL is re-exported for the bench and tests.
TINY = {
    "transformer": dict(
        patch_size=1,
        in_channels=16,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=False,
        axes_dims_rope=(4, 6, 6),
    ),
    "vae": dict(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[4, 4, 4, 4],
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=2,
        sample_size=64,
        scaling_factor=0.3611,
        shift_factor=0.1159,
        use_quant_conv=False,
        use_post_quant_conv=False,
    ),
    "clip": dict(
        vocab_size=1000,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act="gelu",
        projection_dim=32,
    ),
    "t5": dict(
        vocab_size=1000,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        use_cache=False,
    ),
}

_CORPUS = [
    "a tiny astronaut hatching from an egg on the moon",
    "a cat holding a sign that says hello world",
    "an anime illustration of a wiener schnitzel",
    "a photo of a red fox in the snow, golden hour, 35mm",
    "watercolor painting of a lighthouse on a cliff at dawn",
] * 20


def _clip_tokenizer(vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|startoftext|>", "<|endoftext|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=min(vocab_size, 600),
        special_tokens=specials,
        end_of_word_suffix="</w>",
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer)
    bos, eos = (tok.token_to_id(s) for s in specials)
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)],
    )
    return tok


def _t5_tokenizer(vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<pad>", "</s>", "<unk>"]
    trainer = trainers.UnigramTrainer(
        vocab_size=min(vocab_size, 300), special_tokens=specials, unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator(_CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    return tok


def make_random_pipeline(size: Size = "tiny", dtype: torch.dtype = torch.bfloat16, device: str = "cpu", seed: int = 0):
    """A FluxPipeline with random weights at ``size``, built directly on ``device`` (fast on a GPU)."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5TokenizerFast

    cfg = TINY if size == "tiny" else FULL
    clip_bpe = _clip_tokenizer(cfg["clip"]["vocab_size"])
    special = {
        "bos_token_id": clip_bpe.token_to_id("<|startoftext|>"),
        "eos_token_id": clip_bpe.token_to_id("<|endoftext|>"),
        "pad_token_id": clip_bpe.token_to_id("<|endoftext|>"),
    }
    torch.manual_seed(seed)
    with torch.device(device):
        transformer = FluxTransformer2DModel(**cfg["transformer"]).to(dtype)
        vae = AutoencoderKL(**cfg["vae"]).to(dtype)
        clip = CLIPTextModel(CLIPTextConfig(**cfg["clip"], **special)).to(dtype)
        t5 = T5EncoderModel(T5Config(**cfg["t5"])).to(dtype)
    clip_tok = CLIPTokenizer(
        tokenizer_object=clip_bpe,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=77,
    )
    t5_tok = T5TokenizerFast(
        tokenizer_object=_t5_tokenizer(cfg["t5"]["vocab_size"]),
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=512,
        extra_ids=0,
    )
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False),
        vae=vae,
        text_encoder=clip,
        tokenizer=clip_tok,
        text_encoder_2=t5,
        tokenizer_2=t5_tok,
        transformer=transformer,
    )


def build_random_flux(
    out_dir: str | Path, size: Size = "tiny", dtype: torch.dtype = torch.float32, seed: int = 0
) -> Path:
    """Write a random-weight FLUX.1 [schnell] pipeline to ``out_dir`` in diffusers layout; return the path."""
    out = Path(out_dir)
    make_random_pipeline(size, dtype, "cpu", seed).save_pretrained(out, safe_serialization=True)
    (out / "RANDOM_WEIGHTS.json").write_text(json.dumps({"size": size, "seed": seed}))
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--size", choices=["tiny", "full"], default="tiny")
    args = parser.parse_args()
    print(build_random_flux(args.out_dir, args.size))
