"""Speech2Face's evaluation: every protocol (``evaluate``), its report and summary,
retrieval (§4.1; SF2F's), voice-face matching, attributes and face judges, craniofacial
correlations (Table 2), decoder quality and cross-validation over identities."""
