"""A CLIP with random weights, saved like a downloaded model.

Nothing here can download weights, so tests load a tiny one through the same `from_pretrained` path as
the real model, and benchmarks use a full-size one (the default CLIPConfig is ViT-B/32: the same
compute as openai/clip-vit-base-patch32). Random weights still map an image to a stable vector, so
"an indexed image finds itself" holds. Usage: python tools/random_clip.py FOLDER [--full-size]
"""

from __future__ import annotations

from pathlib import Path

START, END = "<|startoftext|>", "<|endoftext|>"


def byte_level_vocab() -> dict[str, int]:
    """Every byte as a token, alone and word-final: any text tokenizes without merges."""
    from tokenizers.pre_tokenizers import ByteLevel

    symbols = sorted(ByteLevel.alphabet())
    vocab = {START: 0, END: 1}
    for symbol in symbols + [s + "</w>" for s in symbols]:
        vocab[symbol] = len(vocab)
    return vocab


def build_tiny_clip(folder: Path, image_size: int = 32, projection_dim: int = 16, seed: int = 0) -> Path:
    """A CLIP small enough to build and run in milliseconds."""
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    vision = dict(image_size=image_size, patch_size=8, hidden_size=32, intermediate_size=64,
                  num_hidden_layers=2, num_attention_heads=2)
    return _build(folder, text, vision, projection_dim, seed)


def build_full_size_clip(folder: Path, seed: int = 0) -> Path:
    """ViT-B/32 shapes (CLIPConfig's defaults) with random weights."""
    return _build(folder, {}, {}, 512, seed)


def given_or_full_size(model: str | None, folder: Path) -> str:
    """The model a benchmark was given, or a full-size random one built in folder: the real compute."""
    return model if model is not None else str(build_full_size_clip(folder))


def _build(folder: Path, text: dict, vision: dict, projection_dim: int, seed: int) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.models.clip import CLIPImageProcessorPil

    torch.manual_seed(seed)
    vocab = byte_level_vocab()
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1, **text),
        vision_config=vision,
        projection_dim=projection_dim,
    )
    image_size = config.vision_config.image_size
    folder.mkdir(parents=True, exist_ok=True)
    CLIPModel(config).save_pretrained(folder)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Save a CLIP with random weights to FOLDER.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--full-size", action="store_true", help="ViT-B/32 shapes instead of a tiny model")
    args = parser.parse_args()
    (build_full_size_clip if args.full_size else build_tiny_clip)(args.folder)
    print(f"saved a random-weight CLIP to {args.folder}")
