"""Serve both fake APIs on fixed loopback ports, to try the app without keys:

python -m tests.fakes            # then, in another shell, the printed command
"""

from __future__ import annotations

import argparse
import time

from tests.fakes.servers import FakeAiml, FakeFireworks, photo_like_png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fireworks-port", type=int, default=8701)
    parser.add_argument("--aiml-port", type=int, default=8702)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each fake waits before answering")
    parser.add_argument(
        "--photo", type=int, default=0, metavar="SIDE", help="serve photo-like SIDE² PNGs instead of drawings"
    )
    args = parser.parse_args()
    try:
        fw, am = FakeFireworks(port=args.fireworks_port), FakeAiml(port=args.aiml_port)
    except OSError as err:
        raise SystemExit(f"{err.strerror}: choose free ports with --fireworks-port and --aiml-port") from None
    photos = [photo_like_png(args.photo, args.photo, seed) for seed in range(8)] if args.photo else []
    for fake in (fw, am):
        fake.delay_s = args.delay
        fake.photos = photos
        fake.start()
    print("Fake Fireworks and AI/ML APIs are up. Run the app against them with:\n")
    print(
        f"  FIREWORKS_BASE_URL={fw.base_url} FIREWORKS_API_KEY={fw.valid_key} "
        f"AIML_BASE_URL={am.base_url} AIML_API_KEY={am.valid_key} python app.py\n",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
