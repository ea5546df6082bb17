"""intelshare's stream layer, in layers; an import may only go down this list, never up:

1. ``streams.errors``, ``streams.settings``, ``streams.log``: the exception tree, the one
   settings object, logging. They import nothing else of intelshare.
2. ``streams.core`` (the pure domain: reports, agreements and policy, reference data,
   minimisation, dedup, enrichment, intake rules, the disclosure envelope, key files, schemas
   and codec) and ``streams.topics`` (the topic catalogue). No Kafka, no network, no HTTP.
3. ``streams.audit``: the tamper-evident log (chain, Merkle tree, checkpoints, receipts,
   export rows, the one verification path). Pure, like the core. ``streams.formats``: an
   opened disclosure in partners' formats (STIX 2.1 and back, MISP). Pure too.
4. ``streams.kafka``: every line of Kafka client code and the services on it (submit, consume,
   dead letters, reading the audit log, registry, users).
5. ``streams.web``: the oversight page (``page`` pure, ``app`` serves it) and the agency's
   TAXII 2.1 server (``taxii``).
6. ``streams.cli``: the command line, one module per audience; with ``agents`` (the worker)
   and ``ops`` (local broker, demo, benchmark), the only places that wire everything together.

Within a layer, modules may import each other without cycles. ``tests/unit/test_layers.py``
checks all of this, including imports made inside functions.
"""
