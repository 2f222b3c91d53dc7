# Writes a random-weight llama GGUF of a chosen size with a byte-level gpt2 tokenizer,
# for measuring decode speed against memory bandwidth. Uses llama.cpp's own gguf-py.
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import gguf
out, embd, layers, ff, heads, ftype = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
dt = np.float16 if ftype == "f16" else np.float32
rng = np.random.default_rng(1)
# byte-level vocab: 256 printable-mapped bytes (GPT-2 byte encoder) + 2 control tokens
bs = list(range(ord("!"), ord("~")+1)) + list(range(ord("¡"), ord("¬")+1)) + list(range(ord("®"), ord("ÿ")+1))
cs = bs[:]; n = 0
for b in range(256):
    if b not in bs: bs.append(b); cs.append(256+n); n += 1
tokens = [chr(c) for c in cs] + ["<|im_start|>", "<|im_end|>"]
types = [1]*256 + [3, 3]
vocab = len(tokens)
w = gguf.GGUFWriter(out, "llama")
w.add_context_length(2048); w.add_embedding_length(embd); w.add_block_count(layers)
w.add_feed_forward_length(ff); w.add_head_count(heads); w.add_head_count_kv(heads)
w.add_rope_dimension_count(embd // heads); w.add_layer_norm_rms_eps(1e-5)
w.add_file_type(1 if ftype == "f16" else 0)
w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre("gpt-2")
w.add_token_list(tokens); w.add_token_types(types); w.add_token_merges(["Ġ t", "h e"])
w.add_eos_token_id(vocab-1); w.add_add_bos_token(False)
def t(name, *shape):  # numpy shape is reversed ggml order
    w.add_tensor(name, (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(dt if len(shape) > 1 else np.float32))
t("token_embd.weight", vocab, embd); t("output_norm.weight", embd); t("output.weight", vocab, embd)
for i in range(layers):
    p = f"blk.{i}."
    t(p+"attn_norm.weight", embd); t(p+"ffn_norm.weight", embd)
    for k in ("attn_q", "attn_k", "attn_v", "attn_output"): t(p+k+".weight", embd, embd)
    t(p+"ffn_gate.weight", ff, embd); t(p+"ffn_up.weight", ff, embd); t(p+"ffn_down.weight", embd, ff)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
print("wrote", out)
