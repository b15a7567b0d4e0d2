"""`speech2face serve`: a web page (Gradio) that turns a recorded or uploaded voice into a face.

The page takes a microphone recording or any audio/video file and shows the compressed
spectrogram of its first 6 s window, the face each system predicts, the voice-pitch reading
(median F0, with the pitch-gender threshold when the bundle's dataset gives one) and, with a
dataset, the nearest identities of its gallery beside their real faces: what
:func:`speech2face.web.analysis.analyse` returns. Gradio's queue runs requests one at a time
(one CPU-bound model).

Gradio is imported only inside :func:`build_app`, so ``import speech2face`` and
``speech2face --help`` stay fast. The page runs offline on the given host: analytics and
telemetry are off and the default theme uses the fonts shipped with Gradio (no CDN).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from speech2face.errors import UserError
from speech2face.web.analysis import (
    NEAREST,
    Gallery,
    PitchThreshold,
    Predictor,
    analyse,
    load_predictors,
)

log = logging.getLogger(__name__)

HOST, PORT = "127.0.0.1", 7860  # where `speech2face serve` listens by default
FACE_PIXELS = 224  # faces are drawn this large on the page (the decoder's 64 or 128 px scaled up)
MAX_UPLOAD = "1gb"  # Gradio refuses larger uploads before they reach the handler
OFFLINE_ENV = {  # set before Gradio is imported: nothing leaves the machine
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
}


def build_app(
    predictors: list[Predictor],
    gallery: Gallery | None = None,
    threshold: PitchThreshold | None = None,
):
    """The Gradio page (a ``gradio.Blocks``, queued one request at a time).

    Raises:
        UserError: Gradio is not installed (``pip install 'speech2face[web]'``).
    """
    os.environ.update(OFFLINE_ENV)
    try:
        import gradio as gr
    except ImportError:
        raise UserError("the web demo needs Gradio: pip install 'speech2face[web]'") from None

    def run(path, progress=gr.Progress()):  # noqa: B008 (Gradio's way to ask for a bar)
        result = analyse(
            path, predictors, gallery, threshold, lambda f, text: progress(f, desc=text)
        )
        return [
            result.message,
            result.spectrogram,
            *result.faces,
            result.pitch,
            result.nearest or None,
        ]

    with gr.Blocks(title="Speech2Face", analytics_enabled=False) as app:
        gr.Markdown(
            "# Speech2Face: a face from a voice\n"
            "Record your voice or upload any audio or video file (0.5 s to 10 min). Longer "
            "recordings are cut into 6 s windows whose face features are averaged."
        )
        with gr.Row():
            with gr.Column():
                microphone = gr.Audio(
                    sources=["microphone"], type="filepath", label="record", elem_id="microphone"
                )
                upload = gr.File(label="or upload a file", type="filepath", elem_id="upload")
            with gr.Column():
                message = gr.Markdown(elem_id="message")
                pitch = gr.Markdown(elem_id="pitch")
        with gr.Row():
            spectrogram = gr.Image(
                label="compressed spectrogram",
                format="png",
                interactive=False,
                buttons=["download", "fullscreen"],  # no "share": nothing leaves the machine
                height=FACE_PIXELS + 60,
                scale=3,
                elem_id="spectrogram",
            )
            faces = [
                gr.Image(
                    label=f"face predicted by {p.name}",
                    format="png",
                    interactive=False,
                    buttons=["download", "fullscreen"],
                    height=FACE_PIXELS + 60,
                    elem_id=f"face-{i}",
                    elem_classes=["face"],
                )
                for i, p in enumerate(predictors)
            ]
        nearest = gr.Gallery(
            label=f"nearest identities of {gallery.root.name}" if gallery else "",
            visible=gallery is not None,
            format="png",
            columns=NEAREST,
            height=FACE_PIXELS + 60,
            buttons=["download", "fullscreen"],
            elem_id="nearest",
        )
        outputs = [message, spectrogram, *faces, pitch, nearest]
        upload.upload(run, upload, outputs)
        microphone.stop_recording(run, microphone, outputs)
    return app.queue(default_concurrency_limit=1)


def serve(
    bundle: str | os.PathLike,
    data: str | os.PathLike | None = None,
    host: str = HOST,
    port: int = PORT,
    split: str | None = None,
    wav2pix: str | os.PathLike | None = None,
) -> None:
    """Load everything, then serve the page until interrupted (`speech2face serve`).

    Args:
        bundle: Speech2Face bundle folder. data: optional dataset folder for the gallery.
        host, port: where to listen. split: the gallery's split (default: every identity).
        wav2pix: optional Wav2Pix run folder, shown as a second face.
    Raises:
        UserError: bad bundle or dataset, features of different sizes, Gradio missing.
    """
    from speech2face.dataset.shards import MANIFEST
    from speech2face.speech2face.data.reader import Dataset

    predictors = load_predictors(bundle, wav2pix)
    gallery = None
    if data is not None:
        dataset = Dataset(data)
        for p in predictors:
            if p.feature_dim not in (None, dataset.feature_dim):
                raise UserError(
                    f"{p.name} predicts {p.feature_dim}-D face features, {data} holds "
                    f"{dataset.feature_dim}-D {dataset.face_encoder} features"
                )
        gallery = Gallery.from_dataset(dataset, split)
        log.info("gallery: %d identities of %s", len(gallery.identities), data)
    threshold = None
    trained_on = [p.trained_on for p in predictors if p.trained_on]
    for root in (*trained_on, data):  # the bundle's own dataset first
        if root and Path(root, MANIFEST).is_file():
            threshold = PitchThreshold.fit(Dataset(root))
            if threshold is not None:
                log.info("pitch threshold %.0f Hz from %s", threshold.hz, root)
                break
    app = build_app(predictors, gallery, threshold)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up probes
    print(f"Speech2Face web demo on http://{host}:{port}  (Ctrl+C to stop)", flush=True)
    app.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        max_file_size=MAX_UPLOAD,
        footer_links=["api", "settings"],
        css=f".face img {{width: {FACE_PIXELS}px; height: {FACE_PIXELS}px; object-fit: contain}}",
    )
