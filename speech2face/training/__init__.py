"""Training: the face decoder (Cole et al.) and the Speech2Face voice encoder."""
