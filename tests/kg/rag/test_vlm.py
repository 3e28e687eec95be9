"""The plugin end to end with a vision-language model: a tiny LLaVA-style model, randomly initialised and saved
by this test (nothing downloaded), loaded back with the real loading code; the augmented prompt goes through
the processor's chat template into ``generate``."""

import pytest
from PIL import Image

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TEMPLATE = ("{% for m in messages %}{{ m['role'].upper() }}: {% for c in m['content'] %}{% if c['type'] == 'image' %}"
            "<image> {% else %}{{ c['text'] }}{% endif %}{% endfor %}\n{% endfor %}"
            "{% if add_generation_prompt %} ASSISTANT :{% endif %}")


def tiny_vlm(folder, words):
    """A LLaVA-style model (CLIP vision tower, Llama text model, 16-d) and its processor, saved to ``folder``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    vocab = {w: i for i, w in enumerate(dict.fromkeys(["<pad>", "<unk>", "<s>", "</s>", "<image>", *words]))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", additional_special_tokens=["<image>"])
    proc = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                             crop_size={"height": 32, "width": 32}),
                          tokenizer=fast, patch_size=16, vision_feature_select_strategy="default",
                          image_token="<image>", chat_template=TEMPLATE, num_additional_image_tokens=1)
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       image_size=32, patch_size=16),
        text_config=LlamaConfig(vocab_size=len(fast), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048),
        image_token_index=fast.convert_tokens_to_ids("<image>"), vision_feature_select_strategy="default")
    torch.manual_seed(0)
    LlavaForConditionalGeneration(cfg).save_pretrained(folder)
    proc.save_pretrained(folder)


def test_the_augmented_prompt_reaches_generate(sample_build, tmp_path):
    import re

    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from kg.rag import KGRAG
    from kg.sample import write_sample

    write_sample(tmp_path / "s")
    image = Image.open(next((tmp_path / "s").rglob("e2253821-*.jpg"))).convert("RGB")  # a frontal view the graph has
    rag = KGRAG.from_store(sample_build, k=4)
    question = "Is there a pleural effusion?"
    draft = rag.augment(image, question)
    assert draft.context.findings and draft.abstained is None
    words = re.findall(r"\w+|[^\w\s]+", draft.prompt) + ["USER", "ASSISTANT", ":"]  # as the Whitespace pre-tokenizer splits
    tiny_vlm(tmp_path / "vlm", words)

    processor = AutoProcessor.from_pretrained(tmp_path / "vlm", local_files_only=True)
    model = LlavaForConditionalGeneration.from_pretrained(tmp_path / "vlm", local_files_only=True)
    out = rag.augment(image, question, max_tokens=120, tokenizer=processor.tokenizer)
    assert len(processor.tokenizer.encode(out.prompt, add_special_tokens=False)) <= 120
    text = processor.apply_chat_template(out.messages, add_generation_prompt=True)
    inputs = processor(images=image, text=text, return_tensors="pt")
    seen = processor.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=True)
    assert " ".join(re.findall(r"\w+|[^\w\s]+", out.prompt)) in seen  # every word of the prompt, in order
    assert "<unk>" not in processor.tokenizer.decode(inputs["input_ids"][0])
    generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > inputs["input_ids"].shape[1]
    assert torch.equal(generated[0, : inputs["input_ids"].shape[1]], inputs["input_ids"][0])
