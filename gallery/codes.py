"""The lint codes: one small rule each, with what it means, what to do, and a good and a bad example.

Codes are stable (tldr-lint style): ``Y`` YAML reading, ``S`` schema, ``C`` cross-field rules,
``F`` file and folder rules. The README's table is generated from :data:`CODES`
(``python -m gallery codes``) and a test fails when a code is used but not documented here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: str
    title: str
    fix: str
    bad: str
    good: str


CODES: dict[str, Code] = {
    c.code: c
    for c in [
        Code("Y001", "YAML syntax error", "fix the YAML at the position shown",
             "notes: [a, b", "notes: [a, b]"),
        Code("Y002", "duplicate key", "keep one of the two keys; YAML 1.1 tools silently keep the last",
             "n_heads: 32\nn_heads: 16", "n_heads: 32"),
        Code("Y003", "YAML 1.1 boolean spelling",
             "write true/false for a boolean, or quote the word if you mean the string",
             "tied: yes", "tied: true"),
        Code("Y004", "number that YAML 1.1 reads differently",
             "drop the leading zero (YAML 1.1 reads 010 as octal 8) or write a float with a dot "
             "(1.0e-5; YAML 1.1 reads 1e-5 as a string)",
             "eps: 1e-5", "eps: 1.0e-05"),
        Code("Y005", "YAML anchor or alias",
             "write the value out: specs use no anchors (&name) or aliases (*name), so no spec can expand into a huge "
             "document", "blocks: {a: &b {...}, c: *b}", "blocks: {a: {...}, c: {...}}"),
        Code("Y006", "nested too deeply",
             "a spec nests about 7 levels (arch.blocks.KIND.mixer.rope.scaling); remove the extra brackets",
             "x: [[[[[[ ... ]]]]]]", "x: 1"),
        Code("Y007", "integer out of range",
             "every number of a spec is below 2**53 (9,007,199,254,740,991); check the digits",
             "d_model: 99999999999999999999", "d_model: 4096"),
        Code("S001", "unknown key", "remove the key or fix its spelling; the schema lists the allowed keys",
             "n_head: 32", "n_heads: 32"),
        Code("S002", "missing required field", "add the field", "mixer: {kind: gqa, n_heads: 32}",
             "mixer: {kind: gqa, n_heads: 32, n_kv_heads: 8, head_dim: 128, rope: {theta: 500000.0}}"),
        Code("S003", "wrong type", "give a value of the type the schema names", "n_heads: \"32\"",
             "n_heads: 32"),
        Code("S004", "invalid value", "use a value the schema allows (a listed kind, a positive number, "
             "a matching pattern)", "kind: dense_mlp", "kind: mlp"),
        Code("C001", "query heads not a multiple of KV heads",
             "n_heads must be divisible by n_kv_heads (each KV head serves n_heads / n_kv_heads query heads)",
             "n_heads: 32\nn_kv_heads: 6", "n_heads: 32\nn_kv_heads: 8"),
        Code("C002", "attention kind does not match the head counts",
             "use mha when n_kv_heads = n_heads, mqa when n_kv_heads = 1, gqa otherwise",
             "kind: gqa\nn_heads: 32\nn_kv_heads: 32", "kind: mha\nn_heads: 32\nn_kv_heads: 32"),
        Code("C003", "layer pattern length differs from n_layers",
             "list one block kind per layer (or a compact pattern that expands to n_layers)",
             "n_layers: 4\nlayers: [full, full]", "n_layers: 4\nlayers: [full, full, full, full]"),
        Code("C004", "layers and blocks disagree",
             "every kind in layers needs an entry in blocks, and every block kind must be used; the same for "
             "shared_blocks and the shared blocks that blocks name in shared",
             "layers: [full]\nblocks: {dense: ...}", "layers: [full]\nblocks: {full: ...}"),
        Code("C005", "more active experts than experts", "top_k must be at most n_experts (+ zero_experts, which the router scores too)",
             "n_experts: 8\ntop_k: 16", "n_experts: 8\ntop_k: 2"),
        Code("C006", "inconsistent block wiring",
             "a block needs a mixer or an ffn; shared_norm needs parallel; parallel needs both; "
             "d_shared goes with n_shared_experts > 0; residual_from_norm needs pre norms and no parallel block; "
             "parallel_mixer goes beside a mixer of another kind (at most one of them attention), in a block that is "
             "not parallel; altup's active stream is one of its streams; altup and laurel exclude hyper_connections, "
             "laurel needs one mixer in every block; a shared block beside the input embeddings reads 2 × d_model (its "
             "mixer's d_in), the shared blocks a layer kind takes in turn are alike, and their adapters fit their q, "
             "k, v and gated MLP; sublayer_pairs and shortcut need a mixer then an ffn with pre norms; zero_experts go "
             "with plain experts; latent_scales need q_lora_rank; gated_norm gates pre norms before a mixer (and an "
             "ffn); "
             "sublayer_conv needs a block that is not parallel; shared_scored needs gated sigmoid-scored experts and "
             "shared experts of d_expert each, global_scale needs shared_scored; softcap needs gated experts; a draft "
             "head's centroids and centroid_top_k go together; recurrent_stacks need an even number of layers, each "
             "stack with block kinds of its own, and no other residual form or shared blocks; block_attn_residual "
             "needs blocks of a mixer then an ffn with pre norms and no other residual form; ngram_embedding goes "
             "with low-rank hyper_connections and a block that adds it; a QSA budget is whole blocks; hash_ngrams "
             "needs byte_latent, which needs final_norm: false and no other residual, shared-block, position, "
             "per-layer or draft option; reversible needs blocks of a mixer then an ffn with pre norms and plain "
             "residual adds; axial position widths are one per axis and sum to d_model; LSH buckets are even",
             "shared_norm: true\nparallel: false", "shared_norm: true\nparallel: true"),
        Code("C007", "published figure adds a part the spec lacks",
             "adds: [vision] needs published.vision_params; adds: [mtp] needs arch.mtp_layers > 0",
             "total: {stated: 26B, adds: [vision]}", "total: {stated: 26B, adds: [vision]}\nvision_params: 572792112"),
        Code("C008", "KV-shared layer without an earlier layer to share from",
             "a layer with kv_shared: true reuses the K/V of an earlier layer with its own of the same shape "
             "(KV heads, head_dim, window): put one before it (a draft model whose every layer is KV-shared reads "
             "its target model's)",
             "layers: [sliding-shared, sliding]", "layers: [sliding, sliding-shared]"),
        Code("F001", "slug differs from the file name", "rename the file or the slug so they match",
             "llama.yaml with slug: llama-3", "llama-3.yaml with slug: llama-3"),
        Code("F002", "duplicate slug", "give each spec its own slug", "two files with slug: llama-3",
             "slug: llama-3 and slug: llama-3.1"),
        Code("F003", "vendored config missing or unreadable",
             "vendor the config.json at source.config (python -m gallery new does this): a regular file of at most "
             "512 KB holding a JSON object",
             "config: configs/missing.json", "config: configs/llama-3.json"),
        Code("F004", "spec disagrees with its vendored config",
             "re-derive the field (python -m gallery new CONFIG) or fix the config; the message gives both values",
             "n_kv_heads: 4   # config: num_key_value_heads 8", "n_kv_heads: 8"),
        Code("F005", "vendored config cannot be read as a model",
             "fix the config: the message names the key, its value and what is accepted (for an unknown "
             "model_type, the supported ones)",
             "model_type: llama9", "model_type: llama"),
        Code("F006", "missing schema modeline",
             "start the file with '# yaml-language-server: $schema=../schema/spec.schema.json'",
             "slug: llama-3", "# yaml-language-server: $schema=../schema/spec.schema.json\nslug: llama-3"),
        Code("F007", "vendored config outside configs/",
             "source.config is configs/<file>.json, a regular file in the spec folder's configs/ (no absolute path, "
             "no .., no symlink)", "config: /etc/passwd", "config: configs/llama-3.json"),
    ]
}

#: pydantic error type → lint code (types from gallery.spec.rule_error are the C codes).
PYDANTIC_CODES = {
    "extra_forbidden": "S001",
    "missing": "S002",
    "heads_not_divisible": "C001",
    "attention_kind_mismatch": "C002",
    "layer_count": "C003",
    "unknown_block_kind": "C004",
    "unused_block_kind": "C004",
    "too_many_active_experts": "C005",
    "empty_block": "C006",
    "block_wiring": "C006",
    "shared_expert_width": "C006",
    "axial_axes": "C006",
    "odd_buckets": "C006",
    "published_parts": "C007",
    "kv_shared_producer": "C008",
}
_TYPE_ERRORS = ("_type", "_parsing", "model_type", "model_attributes_type", "dict_type", "list_type")


def code_for(error_type: str) -> str:
    """The lint code of a pydantic error type."""
    if error_type in PYDANTIC_CODES:
        return PYDANTIC_CODES[error_type]
    if error_type.endswith(_TYPE_ERRORS):
        return "S003"
    return "S004"
