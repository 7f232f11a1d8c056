"""The `app` command: a demo web page for a trained run (needs the optional extra `app`, i.e. gradio)."""

from __future__ import annotations

import argparse

from cnnlab.cli.common import typed


def cmd_app(args: argparse.Namespace) -> int:
    from cnnlab.app.serve import serve

    serve(args.run, args.host, args.port, args.top, announce=lambda line: print(line, flush=True))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser(
        "app",
        help="a demo web page for a run: upload or draw an image, see top-k, Grad-CAM and feature maps",
        description="Serves a page (Gradio) where an uploaded image, or one drawn on a canvas for single-channel "
        "runs, gets the top-k classes as `cnnlab predict` gives them, its Grad-CAM overlay and the first conv "
        "layer's feature maps. Binds to 127.0.0.1 unless --host says otherwise. Needs: pip install 'cnnlab[app]'.",
    )
    a.add_argument("run", help="a run directory with a checkpoint")
    a.add_argument("--port", type=typed(int, "--port"), default=7860, help="port to serve on (default 7860)")
    a.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 shares it on the network)"
    )
    a.add_argument("--top", type=typed(int, "--top"), default=3, help="how many classes to show (default 3)")
    a.set_defaults(func=cmd_app)
