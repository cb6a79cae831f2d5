"""Images per second of `tf-binmap beam-segment` (Apache Beam's local FnApiRunner, in
this process, with two worker processes and with two worker threads in this process)
against the in-process `tf-binmap segment`, on the same BSDS500 val images in one run,
so the ratios are taken under the same load.

Each command runs as a user runs it, in a fresh process into an empty folder, and every
output is checked to be the same bytes across the commands. Per command: the wall time
(starting Python, importing TensorFlow, loading the network, in each worker process
too), the time until its first image is done (the start-up), and the steady rate: the
images after the first over the time from the first label file to the last (their
modification times), what a long run approaches.

    python benchmarks/beam_segment.py                   # 40 images, ~2 min
    python benchmarks/beam_segment.py --images 80 --json beam.json
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
COMMANDS = {
    "tf-binmap segment (in-process)": ["segment"],
    "beam-segment, FnApiRunner in this process": ["beam-segment"],
    "beam-segment, FnApiRunner, 2 worker processes": [
        "beam-segment", "--workers", "2", "--worker-processes"],
    "beam-segment, FnApiRunner, 2 worker threads": ["beam-segment", "--workers", "2"],
}


def run(command, folder, out):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tf_binmap.cli", "-q", command[0], str(folder),
                    "--out", str(out), *command[1:]], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def pngs(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).glob("*.png"))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40, help="BSDS500 val photos (40)")
    parser.add_argument("--data-root", default=os.environ.get("TF_BINMAP_DATA", DATA))
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args()
    val = sorted((Path(args.data_root) / "BSDS500" / "data" / "images" / "val").glob("*.jpg"))
    if len(val) < args.images:
        sys.exit(f"need {args.images} images in BSDS500 val under {args.data_root}")
    count = args.images
    work = Path(tempfile.mkdtemp(prefix="tf_binmap_beam_bench_"))
    rows, outputs = {}, {}
    try:
        folder = work / "in"
        folder.mkdir()
        for path in val[:count]:
            shutil.copy(path, folder)
        for index, (name, command) in enumerate(COMMANDS.items()):
            out = work / f"out{index}"
            load = os.getloadavg()[0]
            launched = time.time()
            seconds = run(command, folder, out)
            done = sorted((out / f"{path.stem}.png").stat().st_mtime for path in val[:count])
            rows[name] = {"seconds": seconds, "load": load, "first": done[0] - launched,
                          "steady": (count - 1) / (done[-1] - done[0])}
            outputs[name] = pngs(out)
            print(f"{name}: {seconds:.1f} s (load {load:.1f})", file=sys.stderr)
        reference = next(iter(outputs.values()))
        assert len(reference) == 3 * count
        assert all(files == reference for files in outputs.values()), \
            "the commands wrote different files"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = rows["tf-binmap segment (in-process)"]
    print(f"\n{count} BSDS500 val images (481x321), {os.cpu_count()} cores, one run; every "
          "output identical across the commands\n")
    print("| command | wall s | images/s | x segment | first image done after s | "
          "steady images/s | x segment |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        row["rate"] = count / row["seconds"]
        print(f"| {name} | {row['seconds']:.1f} | {row['rate']:.2f} | "
              f"{row['rate'] * base['seconds'] / count:.2f} | {row['first']:.1f} | "
              f"{row['steady']:.2f} | {row['steady'] / base['steady']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"images": count, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
