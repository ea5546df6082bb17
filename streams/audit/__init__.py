"""The tamper-evident disclosure log, pure: the hash chain, the Merkle tree, signed checkpoints
and inclusion proofs, consultation receipts, export rows and filters, and the one verification
path that ``audit verify``, the oversight page and its JSON API share (:mod:`.verify`)."""
