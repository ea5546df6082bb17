"""Every line of Kafka client code, and the services built on it: clients with errors translated
at the boundary, submitting reports, reading a feed, reading the audit log back, dead letters,
registering agencies, reference data and agreements, and SCRAM users with their ACLs."""
