"""BLT's hash n-gram embeddings: each byte's embedding plus one row per (hash function, n-gram size) of a hashed table.

Follows ``compute_hash_embeddings`` and ``byte_group_hash_function`` (``models/blt/modeling_blt.py``): for every hash
function f (``encoder_hash_byte_group_nb_functions``, each with a prime of its own) and every n-gram size n
(``encoder_hash_byte_group_size``, default 3 to 8), the n bytes ending at each position (zero-padded on the left)
are hashed by a rolling polynomial hash modulo ``encoder_hash_byte_group_vocab``; the row at that hash, offset to
the (f, n)-th slice of one fused table (``BltModel.encoder_hash_tok_embedding``: functions × sizes × vocab rows of
the local encoder's width), is added to the byte's own embedding. An Embedding option: the schema, its weight, its
words; :mod:`gallery.byte_latent` counts it at the local encoder's width, :mod:`gallery.byte_latent_toy`
computes the ids and the sum.
"""

from __future__ import annotations

from pydantic import Field, PositiveInt

from .specbase import Strict
from .terms import Weight, weight


class HashNgrams(Strict):
    """Hashed n-gram embeddings added to each byte's embedding (BLT ``encoder_hash_tok_embedding``)."""

    sizes: list[PositiveInt] = Field(min_length=1, description="The n-gram sizes hashed at each byte "
                                     "(encoder_hash_byte_group_size; an empty or null list is 3, 4, 5, 6, 7, 8)")
    functions: PositiveInt = Field(description="Hash functions, each hashing every n-gram size "
                                   "(encoder_hash_byte_group_nb_functions)")
    vocab_size: PositiveInt = Field(description="Rows of each (function, size) slice of the fused table: hashes are "
                                    "taken modulo it (encoder_hash_byte_group_vocab)")

    @property
    def tables(self) -> int:
        """How many hashed rows each byte adds: one per function and n-gram size."""
        return self.functions * len(self.sizes)


def weights(width: tuple[str, int], h: HashNgrams) -> list[Weight]:
    """The fused table: functions × sizes slices of vocab_size rows, each row as wide as the local encoder."""
    return [weight("embeddings", "encoder_hash_tok_embedding", ("functions × n-gram sizes", h.tables),
                   ("hash vocab", h.vocab_size), width)]


def lines(h: HashNgrams) -> list[str]:
    """The diagram's words: which n-grams, how many tables."""
    sizes = ", ".join(str(n) for n in h.sizes)
    return [f"+ hash n-gram embeddings: n = {sizes}",
            f"{h.functions} hash function{'s' * (h.functions > 1)} × {len(h.sizes)} sizes = {h.tables} rows added "
            f"per byte, each from {h.vocab_size:,} buckets"]
