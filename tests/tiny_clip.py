"""A tiny CLIP with random weights, saved like a downloaded model, so tests load it through the
same `from_pretrained` path as the real one (nothing here can download weights)."""

from __future__ import annotations

import json
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
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.models.clip import CLIPImageProcessorPil

    torch.manual_seed(seed)
    vocab = byte_level_vocab()
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        ),
        vision_config=dict(
            image_size=image_size, patch_size=8, hidden_size=32, intermediate_size=64,
            num_hidden_layers=2, num_attention_heads=2,
        ),
        projection_dim=projection_dim,
    )
    CLIPModel(config).save_pretrained(folder)
    vocab_file = folder / "tiny-vocab.json"
    vocab_file.write_text(json.dumps(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    vocab_file.unlink()
    return folder
