"""Evaluation protocols: decoder quality, retrieval, similarity, attributes, craniofacial."""
