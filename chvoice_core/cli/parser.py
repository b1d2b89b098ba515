"""The `chvoice` argument parser and entry point."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..compress.steps import DEFAULT_QUANT_STEP
from ..errors import ChvoiceError
from .audio import cmd_denoise, cmd_evaluate, cmd_live, cmd_testset
from .common import add_data_args
from .models import cmd_compress, cmd_export, cmd_quantize, cmd_serve, cmd_variants, cmd_zoo
from .train import cmd_train


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chvoice", description="Train, compress and benchmark U-Net speech denoisers.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a U-Net on noisy/clean pairs drawn on the fly")
    t.add_argument("--arch", default="normal", help="normal | smaller | student (default normal)")
    t.add_argument("--profile", default="weighted", help="weighted | equal | no-reverb | general")
    t.add_argument("--budget", default="quick", help="smoke | quick | paper (default quick)")
    t.add_argument("--out", required=True, help="output folder (model.pt, checkpoint.pt, history.json)")
    t.add_argument("--width", type=int, help="override the base width (ignores the budget's width divisor)")
    t.add_argument("--steps", type=int, help="override the budget's step count")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float, default=4e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu")
    t.add_argument("--threads", type=int)
    t.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    t.add_argument("--init", metavar="MODEL.pt", help="start from this trained float model (same architecture): a "
                                                      "fine-tune with a fresh schedule")
    t.add_argument("--mask", action="store_true", help="bounded gain head (a mask in [0, 1]) instead of the report's free residual")
    t.add_argument("--phase", action="store_true", help="phase-aware head: also sees phase cues and turns the noisy phase "
                   "(offline models, --loss perceptual; --init may name the same model without it)")
    t.add_argument("--causal", action="store_true", help="time-causal U-Net for live use (streams frame by frame)")
    t.add_argument("--lookahead", type=int, default=2, help="frames of lookahead of a --causal model (default 2: 31.75 ms latency)")
    t.add_argument("--n-fft", type=int, default=254, help="STFT frame in samples (default: the report's 254, 128 "
                   "bins); saved with the model. 510 gives 32 ms frames and 256 bins")
    t.add_argument("--hop", type=int, default=127, help="STFT hop in samples (default 127); saved with the model")
    t.add_argument("--loss", default="db-mse", help="db-mse (the report) | perceptual (compressed magnitude + SI-SDR)")
    t.add_argument("--sisdr-weight", type=float,
                   help="weight of the SI-SDR term of the perceptual loss, per dB, against 10 x the compressed-"
                        "magnitude MSE (default 0.05)")
    t.add_argument("--residual-weight", type=float, default=0.0,
                   help="perceptual loss: extra weight on the error where the output is louder than the clean "
                        "reference (noise left in; default 0)")
    t.add_argument("--high-band-weight", type=float, default=0.0, metavar="W",
                   help="perceptual loss: weigh the spectral error from 3 kHz up 1 + W times the rest (default 0)")
    t.add_argument("--teacher-target", metavar="MODEL",
                   help="perceptual loss: learn this float model's output (a shipped name or a checkpoint; noisy "
                        "phase) instead of the clean target: distillation, e.g. the live model from the default")
    t.add_argument("--teacher-alpha", type=float, default=0.0, metavar="A",
                   help="--teacher-target: mix A of the clean target into the teacher's output (default 0)")
    t.add_argument("--schedule", default="constant", choices=["constant", "cosine"])
    t.add_argument("--warmup", type=int, default=0, help="linear learning-rate warm-up steps")
    t.add_argument("--clip-grad", type=float, default=0.0, help="clip the gradient norm to this (0: off)")
    t.add_argument("--workers", type=int, default=0, help="DataLoader processes that mix batches")
    t.add_argument("--noise-warp", type=float, default=0.0, metavar="P",
                   help="play each noise clip faster or slower (x0.8..1.25) with probability P: more noise sources "
                        "from the same recordings (training only; default 0)")
    t.add_argument("--noise-eq", type=float, default=0.0, metavar="P",
                   help="pass each noise clip through 1-3 random equalisers (shelves, peaks, +-12 dB) with "
                        "probability P: the same sources through other rooms and microphones (training only; "
                        "default 0)")
    t.add_argument("--speech-warp", type=float, default=0.0, metavar="P",
                   help="play the clean speech of a training pair faster or slower (x0.9..1.1, target included) "
                        "with probability P: higher and lower voices from the same speakers (training only; "
                        "default 0)")
    t.add_argument("--low-floor", type=float, default=0.0, metavar="P",
                   help="add a stationary noise floor (pink, brown, steep or room tone) 20-50 dB under the speech "
                        "to a mixture with probability P, the target unchanged (training only; default 0)")
    t.add_argument("--speech-gaps", type=float, default=0.0, metavar="P",
                   help="silence one or two 0.15-0.5 s spans of a training crop's speech (target included) with "
                        "probability P, so the model learns pauses that hold noise alone (training only; default 0)")
    t.add_argument("--noise-weights", type=Path, default=None, metavar="FILE",
                   help="a JSON object {category: weight > 0}: draw those noise categories that much more often "
                        "(missing: 1; broad profiles such as general only; tools/hard_noise_weights.py measures "
                        "the categories a model takes for speech; training only)")
    t.add_argument("--target-gate", action="store_true",
                   help="gate each training utterance's own stationary floor (room tone, hiss) out of the target; "
                        "the mixture keeps it (data.targets)")
    t.add_argument("--target-gate-over", type=float, default=None, metavar="X",
                   help="--target-gate: subtract X times the floor's power (default 2.5; more takes more out)")
    t.add_argument("--target-gate-floor", type=float, default=None, metavar="DB",
                   help="--target-gate: attenuate by at most this many dB (default -25)")
    t.add_argument("--studio-speech", action="store_true",
                   help="add the training-side studio speakers of DATA_ROOT/clean-speech/ to the training speech "
                        "(the held-out ones never: data.studio.STUDIO_TEST_SPEAKERS)")
    t.add_argument("--amp", default="none", choices=["none", "bf16"],
                   help="mixed precision: bf16 runs the model's convolutions in bfloat16 (a GPU, or a CPU with "
                        "bf16 units such as AMX); weights and loss stay float32 (default none)")
    t.add_argument("--validate-every", type=int, default=0, help="score a validation set every N steps, keep the best")
    t.add_argument("--val-items", type=int, default=40)
    t.add_argument("--val-key", default="pesq_wb", choices=["pesq_wb", "si_sdr", "stoi"])
    t.add_argument("--checkpoint-every", type=int)
    t.add_argument("--time-budget", type=float, default=0.0, metavar="SECONDS",
                   help="stop after this much training time; the schedule decays over whichever of --steps and "
                        "the budget runs out first (for a rented machine held by the minute)")
    t.add_argument("--train-only", action="store_true",
                   help="the data folders hold training material only (tools/pack_training_data.py): hold nothing out")
    t.add_argument("--download-librispeech", metavar="SUBSET", help="download a LibriSpeech subset into --data-root first (needs a network)")
    t.add_argument("--quiet", action="store_true")
    add_data_args(t)
    t.add_argument("--config", metavar="FILE.toml",
                   help="take these options from a TOML file (keys are the option names: lr = 1.5e-4, "
                        "target-gate = true); options given on the command line win (configs/*.toml)")
    t.set_defaults(fn=cmd_train)
    p.train_parser = t      # parse_args reads a --config file into its defaults

    d = sub.add_parser("denoise", help="denoise audio files: chvoice denoise [MODEL.pt] IN... [-o OUT]")
    d.add_argument("paths", nargs="+", metavar="[MODEL] IN")
    d.add_argument("-o", "--output", help="output file (one input) or existing folder")
    d.add_argument("--model", help="model file (default: the shipped default model)")
    d.add_argument("--device", default="cpu")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(fn=cmd_denoise)

    e = sub.add_parser("evaluate", help="score a model (or the noisy input) on paired noisy/clean folders")
    e.add_argument("model", nargs="?", help="model file; omit to score the noisy input itself")
    e.add_argument("--noisy", required=True)
    e.add_argument("--clean", help="clean references (same file names); without it, DNSMOS (no reference needed)")
    e.add_argument("--peer", help="score a peer denoiser instead: rnnoise | deepfilternet3 | noisereduce | webrtc-ns")
    e.add_argument("--out", help="folder for scores.csv and scores.json")
    e.add_argument("--device", default="cpu")
    e.add_argument("--live", metavar="MODE", help="stream each file through the live engine instead of offline "
                                                  "processing: causal (causal models) or a rolling-context mode")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(fn=cmd_evaluate)

    c = sub.add_parser("compress", help="build a variant of the table or a recipe of your own (train + compress, "
                                        "cached) and write it")
    c.add_argument("variant", nargs="?", help="variant id, see `chvoice variants`")
    c.add_argument("--recipe", help="steps of your own, e.g. 'distil(width=16)+prune(macs=0.5)+int8' "
                                    "(steps: chvoice variants --steps)")
    c.add_argument("--teacher", help="with --recipe: start from this float checkpoint instead of training --arch")
    c.add_argument("--arch", default="normal", help="with --recipe and no --teacher: the parent architecture")
    c.add_argument("--name", default="recipe", help="with --recipe: a name for the result (cache key, reports)")
    c.add_argument("--profile", default="weighted")
    c.add_argument("--budget", default="quick")
    c.add_argument("--out", required=True, help="output .pt file")
    c.add_argument("--device", default="cpu")
    c.add_argument("--threads", type=int, default=0, help="torch threads while building (0: all cores)")
    c.add_argument("--quiet", action="store_true")
    add_data_args(c)
    c.set_defaults(fn=cmd_compress)

    lv = sub.add_parser("live", help="live denoising: microphone -> speakers, or --input/--output files")
    lv.add_argument("--model", help="model file (default: the shipped causal live model, live.pt)")
    lv.add_argument("--mode", default=None,
                    help="causal (the default without --model: the shipped causal model streamed frame by frame, "
                         "31.75 ms) or a rolling-context mode of a non-causal model (the default for one): low-latency "
                         "(a call per 2 hops, 1 frame lookahead: 31.75 ms on the report's STFT, 47.75 ms on the "
                         "shipped default's 32 ms frames), low-latency-hq, no-lookahead, report (1 s)")
    lv.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime"],
                    help="causal mode: run each hop in PyTorch or ONNX Runtime (auto: ONNX Runtime when installed, float models)")
    lv.add_argument("--input", help="read this file instead of a microphone")
    lv.add_argument("--output", help="write the denoised stream here (with --input)")
    lv.add_argument("--realtime", action="store_true", help="pace the file in real time, as a sound card would")
    lv.add_argument("--block", type=int, help="samples per block (default: one model step, 127 x step frames)")
    lv.add_argument("--threads", type=int, default=1)
    lv.add_argument("--device-in", help="input device (index or name; see --list-devices)")
    lv.add_argument("--device-out", help="output device")
    lv.add_argument("--seconds", type=float, help="stop the microphone mode after this long")
    lv.add_argument("--list-devices", action="store_true")
    lv.set_defaults(fn=cmd_live)

    sv = sub.add_parser("serve", help="a local web app to denoise uploaded audio and video")
    sv.add_argument("--model", help="model file (default: the shipped default model)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--max-upload-mb", type=int, default=200)
    sv.add_argument("--workers", type=int, default=1, help="jobs denoised at once")
    sv.add_argument("--max-queue", type=int, default=32, help="jobs waiting before new uploads are refused")
    sv.set_defaults(fn=cmd_serve)

    qz = sub.add_parser("quantize", help="int8-quantize (or export to ONNX Runtime) a float model, calibrated on "
                                         "training tiles")
    qz.add_argument("model")
    qz.add_argument("--out", required=True)
    qz.add_argument("--mode", default=DEFAULT_QUANT_STEP, help="a final step of `chvoice variants --steps`: int8 (static, FX; "
                                                   "'static' is accepted), dynamic, pt2e, onnx, ort-int8")
    qz.add_argument("--profile", default="weighted")
    qz.add_argument("--calibration-tiles", type=int, help="training tiles to calibrate on (default: the step's own)")
    add_data_args(qz)
    qz.set_defaults(fn=cmd_quantize)

    z = sub.add_parser("zoo", help="build the model zoo (or one shard of it) into the benchmark cache")
    z.add_argument("--budget", default="quick")
    z.add_argument("--variants", help="comma-separated variant ids (default: all)")
    z.add_argument("--profiles", help="comma-separated profiles (default: the report's three)")
    z.add_argument("--shard", default="1/1", help="i/n: build the i-th of n disjoint shards (1-based)")
    z.add_argument("--cache-dir", help="shared cache root (default ~/.cache/chvoice or $CHVOICE_CACHE); "
                                       "the benchmark suite reads <cache>/bench")
    z.add_argument("--device", default="cpu")
    z.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    z.add_argument("--quiet", action="store_true")
    z.add_argument("--data-root", help="as the benchmark suite's --data-root (default: built-in data)")
    z.add_argument("--recipes", help="TOML file of user recipes to build beside the table (as pytest bench --recipes)")
    z.add_argument("--real", action="store_true",
                   help="build the real track's trained children of the shipped parents (budget real; give "
                        "--data-root with LibriSpeech and real noise) instead of the proxy zoo")
    z.add_argument("--children", help="with --real: comma-separated child ids (default: all registered)")
    z.add_argument("--ship", action="store_true", help="with --real: copy each built child into the package")
    z.set_defaults(fn=cmd_zoo)
    ex = sub.add_parser("export", help="write a float model as ONNX (causal models: the streaming step)")
    ex.add_argument("model")
    ex.add_argument("-o", "--out", required=True, help="destination .onnx file")
    ex.set_defaults(fn=cmd_export)
    v = sub.add_parser("variants", help="list the variant table (--steps: the compression steps recipes use)")
    v.add_argument("--steps", action="store_true", help="list the registered compression steps instead")
    v.set_defaults(fn=cmd_variants)

    s = sub.add_parser("testset", help="write a profile's fixed test set as noisy/ and clean/ folders")
    s.add_argument("--profile", default="weighted")
    s.add_argument("--out", required=True)
    s.add_argument("-n", type=int, default=100)
    s.add_argument("--seed", type=int, default=2021)
    s.add_argument("--max-seconds", type=float, default=4.0)
    add_data_args(s)
    s.set_defaults(fn=cmd_testset)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with `chvoice train --config FILE.toml` read in as the train options' defaults (so the
    command line overrides the file). A bad file or an unknown key is a ChvoiceError."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None):
        import tomllib
        try:
            cfg = tomllib.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ChvoiceError(f"--config {args.config}: {e}") from None
        t = parser.train_parser
        dests = {a.dest: a for a in t._actions if a.dest not in ("help", "config", "fn")}
        values = {}
        for key, value in cfg.items():
            dest = key.replace("-", "_")
            if dest not in dests:
                raise ChvoiceError(f"--config {args.config}: unknown option {key!r} (chvoice train --help lists them)")
            action = dests[dest]
            if action.type is not None and not isinstance(value, bool):
                value = action.type(value)
            values[dest] = value
        t.set_defaults(**values)
        args = parser.parse_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except ChvoiceError as e:
        print(f"chvoice: error: {e}", file=sys.stderr)
        return 2
    try:
        return args.fn(args)
    except ChvoiceError as e:
        print(f"chvoice: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chvoice: interrupted", file=sys.stderr)
        return 130
