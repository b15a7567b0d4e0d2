"""The web demo of both systems (`speech2face serve`): :mod:`speech2face.web.analysis`
reads a voice and computes what the page shows, :mod:`speech2face.web.page` is the Gradio
page around it."""
