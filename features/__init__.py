"""Point-in-time features: the data contract, simulator, spine, labels, feature definitions and builder."""
