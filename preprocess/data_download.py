"""The original design's entry point: download and prepare AVSpeech rows A..B.

    python preprocess/data_download.py avspeech_train.csv --from_id 0 --to_id 1000 -o data/avspeech

A thin wrapper over ``speech2face prepare --source avspeech``; every option of that
command works here.
"""

import sys

from speech2face.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["prepare", "--source", "avspeech", *sys.argv[1:]]))
