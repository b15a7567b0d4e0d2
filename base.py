"""The original design's training entry point, a thin wrapper over `speech2face train`.

    python base.py --train --data DATASET --decoder DECODER_RUN -o BUNDLE \\
        --num_gpu 2 --epochs 10 --batchsize 8
"""

import sys

from speech2face.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--train" not in args:
        print(
            "usage: python base.py --train --data D --decoder R -o BUNDLE [train options]\n"
            "(see `speech2face train --help`)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    raise SystemExit(main(["train", *[a for a in args if a != "--train"]]))
