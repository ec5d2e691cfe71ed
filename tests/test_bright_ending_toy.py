"""The demo's tiny text-to-image model: caption-word tokenizer, joint training, the saved diffusers folder."""
from __future__ import annotations

import json

import pytest
import torch

from bench.datasets.memorization_digits import DigitsMemorizationPrompts, DigitsMemorizationTrain
from bench.methods.bright_ending.attention import eos_index
from bench.methods.bright_ending.toy import (
    BOS,
    EOS,
    _bpe_merges,
    caption_words,
    encode_captions,
    train_toy_text_to_image,
    write_caption_tokenizer,
)

TINY = {"num_global": 2, "num_local": 2, "copies": 4, "num_ordinary": 24, "size": 8, "motif_size": 4}
TRAIN = {"steps": 30, "batch_size": 8, "lr": 3e-3, "seed": 0, "block_out_channels": (8, 16), "show_progress": False}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    train = DigitsMemorizationTrain(**TINY)
    return train, train_toy_text_to_image(train, tmp_path_factory.mktemp("toy") / "model", **TRAIN)


def test_each_caption_word_is_one_token_and_eos_follows_the_words(tmp_path):
    train = DigitsMemorizationTrain()
    prompts = DigitsMemorizationPrompts()
    tokenizer = write_caption_tokenizer(train.captions, tmp_path / "tokenizer")
    vocab = tokenizer.get_vocab()
    words = caption_words(train.captions)
    assert len(words) == 34  # 16 invented words, 10 classes, a digit handwritten the number image with stamp
    for word in words:
        assert tokenizer.tokenize(word) == [word + "</w>"]
    assert tokenizer.model_max_length == 16 and tokenizer.pad_token == EOS
    for i in range(len(prompts)):
        prompt = prompts[i]["prompt"]
        ids = tokenizer.encode(prompt)
        assert ids[0] == vocab[BOS] and ids[-1] == vocab[EOS]
        assert eos_index(prompt, tokenizer) == len(prompt.split()) + 1 == len(ids) - 1
    assert tokenizer.encode("") == [vocab[BOS], vocab[EOS]]
    assert tokenizer.tokenize("cab") == ["c", "a", "b</w>"]  # an unseen word is spelt, never unknown
    padded = tokenizer(["a digit three"], padding="max_length", max_length=16).input_ids[0]
    assert padded[5:] == [vocab[EOS]] * 11


def test_bpe_merges_reach_whole_words_despite_shared_pieces():
    words = ["three", "tree", "ree", "the", "her", "e"]
    merges = _bpe_merges(words)
    pieces = {word: [*word[:-1], word[-1] + "</w>"] for word in words}
    for word, piece in pieces.items():  # apply merges in rank order, CLIP's way
        for left, right in merges:
            i = 0
            while i < len(piece) - 1:
                if (piece[i], piece[i + 1]) == (left, right):
                    piece[i:i + 2] = [left + right]
                else:
                    i += 1
        assert piece == [word + "</w>"]
    with pytest.raises(ValueError, match="lower-case letters a-z only, got \\['Three'\\]"):
        caption_words(["a Three"])


def test_training_lowers_the_loss_and_writes_the_diffusers_folder(trained):
    _, folder = trained
    assert sorted(p.name for p in folder.iterdir()) == ["model_index.json", "scheduler", "text_encoder", "tokenizer",
                                                         "toy.json", "unet"]
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline" and "vae" not in index
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    settings = json.loads((folder / "toy.json").read_text())
    assert settings["steps"] == 30 and len(settings["losses"]) == 30 and settings["size"] == 8
    assert settings["loss_last_10"] < 0.7 * settings["loss_first_10"]
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert (scheduler["_class_name"], scheduler["beta_schedule"], scheduler["num_train_timesteps"]) == \
        ("DDIMScheduler", "scaled_linear", 1000)


def test_the_saved_folder_loads_back_to_identical_outputs(trained):
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    train, folder = trained
    unet = UNet2DConditionModel.from_pretrained(str(folder / "unet")).eval()
    text_encoder = CLIPTextModel.from_pretrained(str(folder / "text_encoder")).eval()
    tokenizer = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    assert unet.config.in_channels == unet.config.out_channels == 1 and unet.config.sample_size == 8
    assert unet.config.down_block_types[0] == "CrossAttnDownBlock2D"
    assert unet.down_blocks[0].attentions[0].transformer_blocks[0].attn2.is_cross_attention
    with torch.no_grad():
        states = encode_captions(tokenizer, text_encoder, ["a zorblax image", ""])
        noise = unet(torch.ones(2, 1, 8, 8), 500, states).sample
    reloaded_states = encode_captions(CLIPTokenizer.from_pretrained(str(folder / "tokenizer")),
                                      CLIPTextModel.from_pretrained(str(folder / "text_encoder")).eval(),
                                      ["a zorblax image", ""])
    with torch.no_grad():
        again = UNet2DConditionModel.from_pretrained(str(folder / "unet")).eval()(
            torch.ones(2, 1, 8, 8), 500, reloaded_states).sample
    assert torch.equal(noise, again) and not torch.equal(noise[0], noise[1])
    assert states.shape == (2, 16, 32)


def test_same_seed_same_weights_other_seed_other_weights(trained, tmp_path):
    from diffusers import UNet2DConditionModel

    train, folder = trained
    again = train_toy_text_to_image(train, tmp_path / "again", **TRAIN)
    first = UNet2DConditionModel.from_pretrained(str(folder / "unet")).state_dict()
    second = UNet2DConditionModel.from_pretrained(str(again / "unet")).state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)
    losses = json.loads((folder / "toy.json").read_text())["losses"]
    assert json.loads((again / "toy.json").read_text())["losses"] == losses
    other = train_toy_text_to_image(train, tmp_path / "other", **{**TRAIN, "steps": 2, "seed": 1})
    assert json.loads((other / "toy.json").read_text())["losses"][:2] != losses[:2]


def test_bad_settings_name_the_key():
    with pytest.raises(ValueError, match="need steps > 0.*got steps=0, batch_size=8, lr=0.003, text_encoder_lr=None"):
        train_toy_text_to_image(DigitsMemorizationTrain(**TINY), "unused", **{**TRAIN, "steps": 0})
