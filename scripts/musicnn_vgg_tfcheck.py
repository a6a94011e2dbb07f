"""Check of scripts/musicnn_vgg.py against musicnn's own TensorFlow graph (measurement only).

Run with a throwaway TensorFlow venv, never the project's (TF 2.21 + tf_keras was used)::

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu "tf_keras~=2.21.0"
    unzip musicnn-0.1.0-py3-none-any.whl -d /tmp/vggw      # the wheel models/convert_musicnn.py reads
    .venv/bin/python scripts/musicnn_vgg_tfcheck.py --torch /tmp/vggw IN.npy        # writes IN.npy (patches)
    TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python scripts/musicnn_vgg_tfcheck.py --tf /tmp/vggw IN.npy
    .venv/bin/python scripts/musicnn_vgg_tfcheck.py --compare /tmp/vggw IN.npy

IN.npy: four 187-frame log-mel patches of corpus 2 (5 s from 30 s into every 19th track) and one
of uniform noise. The TF step builds ``musicnn.models.define_model`` and restores the wheel's
checkpoint with ``tf.train.Saver``, as ``musicnn.extractor`` does; the compare step prints the
largest absolute differences of the tag probabilities and of pool5.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

NAMES = ("MSD_vgg", "MTT_vgg")


def make_input(out: str) -> None:
    from livedj.audio.decode import decode
    from livedj.commands.eval import labelled_files
    from livedj.dsp.mel import log_mel

    patches = [log_mel(decode(p, 16000, 30.0, 5.0))[:187] for p, _ in labelled_files("/tmp/livedj-dev-corpus-2/tracks")[::19]]
    patches.append(np.random.default_rng(0).uniform(0, 3, (187, 96)).astype(np.float32))
    np.save(out, np.stack(patches).astype(np.float32))


def run_tf(wheel_dir: str, inp: str) -> None:
    import importlib.util

    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    sys.path.insert(0, wheel_dir)  # models.py imports musicnn.configuration
    spec = importlib.util.spec_from_file_location("musicnn_models", f"{wheel_dir}/musicnn/models.py")
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    x_in, out = np.load(inp), {}
    for name in NAMES:
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
            is_training = tf.compat.v1.placeholder(tf.bool)
            y, *_, pool5 = models.define_model(x, is_training, name, 50)
        sess = tf.compat.v1.Session()
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().restore(sess, f"{wheel_dir}/musicnn/{name}/")
        tags, p5 = sess.run([tf.nn.sigmoid(y), pool5], {x: x_in, is_training: False})
        out[f"{name}_tags"], out[f"{name}_pool5"] = tags, p5.reshape(len(x_in), -1)
    np.savez(inp.replace(".npy", "_tf.npz"), **out)


def compare(wheel_dir: str, inp: str) -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from musicnn_vgg import load_vgg

    x, ref = torch.from_numpy(np.load(inp)), np.load(inp.replace(".npy", "_tf.npz"))
    for name in NAMES:
        with torch.inference_mode():
            tags, pool5 = (t.numpy() for t in load_vgg(Path(wheel_dir), name)(x))
        print(f"{name}: max |tags - TF| {np.abs(tags - ref[f'{name}_tags']).max():.2g}, "
              f"max |pool5 - TF| {np.abs(pool5 - ref[f'{name}_pool5']).max():.2g} (pool5 up to {np.abs(pool5).max():.2f})")


if __name__ == "__main__":
    mode, wheel_dir, inp = sys.argv[1:4]
    {"--torch": lambda: make_input(inp), "--tf": lambda: run_tf(wheel_dir, inp),
     "--compare": lambda: compare(wheel_dir, inp)}[mode]()
