"""Speech2Face's training: options (``config``), losses, the voice encoder (``voice``,
``speaker_head``), the face decoder (``decoder``) and speaker pretraining (``pretrain``)."""
