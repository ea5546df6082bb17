"""The pure domain: reports, agreements and the routing policy, reference data, minimisation,
deduplication, enrichment, the disclosure envelope, key files, schemas and the Avro codec.

Nothing here opens a connection: no Kafka, no network. Time and randomness are parameters.
"""
