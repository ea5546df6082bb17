"""The agency side's exports of an opened disclosure in partners' own formats: STIX 2.1
(:mod:`.stix`, and back: :mod:`.stix_import`) and MISP (:mod:`.misp`).

Pure: no Kafka, no HTTP. The input is the JSON object ``intelshare consume`` prints, after the
exchange's signature was verified and the payload decrypted.
"""
