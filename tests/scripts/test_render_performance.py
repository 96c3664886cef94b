#!/usr/bin/env python3
"""scripts/render_performance.py on a hand-written bench/out: the targets table (a target met only
when the whole spread of the per-round ratios clears it), the pretraining table with its GEMM
floor columns and phase line (clustermim's and the twin's), the gap sentence computed from the
floor (whether fusion alone can reach the 2x target), the GPU section with the GPU check's host
and CTest lines, the fine-tuning step and transform section, the ImageNet-1K epoch bound (GPU step
and decode threads) rendered into the document and between the README's markers (`--check`
refusing a stale README), and bench/loader_rounds.py merging the loader's alternated rounds.
Standard library only, so it runs wherever the tests run.
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "render_performance.py")
LOADER_ROUNDS = os.path.join(HERE, "..", "..", "bench", "loader_rounds.py")


def pretrain_json(floor_ips, ratio_spread=(1.4, 1.6), floor_spread=None):
    """bench_pretrain's file: one bf16 row of 3 rounds, the ratio's median 1.5 and its spread."""
    floor_spread = floor_spread or (floor_ips / 210.0, floor_ips / 190.0)
    row = {"precision": "bf16", "clustermim_images_per_second": 300.0, "clustermim_gflops": 270.0,
           "peak_fraction": 0.39, "peak_fraction_spread": [0.37, 0.40],
           "python_peak_rss_mb": 1000.0, "python_images_per_second": 200.0,
           "ratio_vs_python": 1.5, "ratio_vs_python_spread": list(ratio_spread),
           "gemm_floor_images_per_second": floor_ips,
           "gemm_floor_ratio_vs_python": floor_ips / 200.0,
           "gemm_floor_ratio_vs_python_spread": list(floor_spread),
           "profile_total_ms_per_step": 400.0,
           "profile": [{"op": "aten::mm", "ms_per_step": 200.0},
                       {"op": "aten::copy_", "ms_per_step": 100.0}],
           "phase_ms": {"forward": 120.0, "backward": 280.0, "optimizer": 20.0},
           "python_phase_ms": {"forward": 200.0, "backward": 390.0, "optimizer": 50.0}}
    return {"preset": "vit-tiny-32", "batch": 128, "rounds": 3, "device": "cpu", "threads": 2,
            "vocab": 512, "gflop_per_step": 116.0, "steps": 5, "warmup": 3,
            "gemm_bf16_peak_gflops": 700.0, "gemm_fp32_peak_gflops": 200.0,
            "clustermim_peak_rss_mb": 1200.0, "rows": [row]}


def finetune_json(preset="vit-tiny-32", batch=128, transform=True):
    """bench_finetune's file: one bf16 row of 3 rounds against the default twin, ratio median
    1.25 [1.10, 1.40], and the transform's rounds."""
    row = {"precision": "bf16", "clustermim_images_per_second": 50.0, "clustermim_gflops": 110.0,
           "python_peak_rss_mb": 1500.0, "python_images_per_second": 40.0,
           "ratio_vs_python": 1.25, "ratio_vs_python_spread": [1.1, 1.4],
           "ratio_vs_python_rounds": [{"ours": 50.0, "reference": 40.0, "ratio": 1.25}]}
    data = {"preset": preset, "batch": batch, "classes": 10, "rounds": 3, "device": "cpu",
            "threads": 2, "steps": 3, "warmup": 1, "gflop_per_step": 280.0,
            "recipe": {"layer_decay": 0.75, "weight_decay": 0.05, "drop_path": 0.1,
                       "mixup_alpha": 0.8, "cutmix_alpha": 1.0, "switch_prob": 0.5,
                       "label_smoothing": 0.1},
            "rows": [row], "clustermim_peak_rss_mb": 1300.0}
    if transform:
        data["transform"] = {"source": 32, "size": 32, "images": 2000,
                             "clustermim_images_per_second": 27000.0,
                             "python_images_per_second": 3500.0, "ratio_vs_python": 7.7,
                             "ratio_vs_python_spread": [7.0, 8.1]}
    return json.dumps(data)


def decode_json(stream_loader_images_per_second):
    """bench_decode's file, the streaming loader at the given images/s on one core."""
    return json.dumps({
        "images": 64, "passes": 3, "size": 224, "mean_file_kb": 62.0,
        "torchvision_images_per_second": 240.0, "ours_images_per_second": 690.0,
        "full_decode_images_per_second": 730.0, "decode_crop_ratio_vs_torchvision": 2.8,
        "decode_crop_ratio_vs_torchvision_spread": [2.4, 3.4],
        "stream_loader_images_per_second": stream_loader_images_per_second,
        "stream_decode_ratio_vs_torchvision": 3.3,
        "stream_decode_ratio_vs_torchvision_spread": [3.1, 3.7],
        "stream_rss_growth": 1.04, "stream_rss_peak_mb": [217.0, 226.0],
        "stream_rss_samples": 512})


GPU_CHECK_LOG = """NVIDIA H200, 143771 MiB, 580.159.04
gpu_check: Ubuntu 24.04.3 LTS, c++ 13.3.0, cmake version 4.4.3
gpu_check: torch 2.11.0+cu130 13.0
gpu_check: built in 136 s
gpu_check: tested in 154 s
gpu_check: done in 275 s
"""

GPU_CTEST_LOG = """88% tests passed, 2 tests failed out of 10

The following tests did not run:
\t 34 - IdxReader.InstalledFashionMnistTestSplit (Skipped)

The following tests FAILED:
\t 95 - Cli.DataInfo (SEGFAULT)
\t124 - Features.FileRoundTrip (Failed)
Errors while running CTest
"""


def gpu_files():
    """docs/gpu as the GPU check of 2026-11-27 left it: `repeats` and each side's runs (measured
    alternately), no spreads yet."""
    data = pretrain_json(4000.0)
    data.update({"preset": "vit-base-16", "batch": 256, "device": "cuda", "repeats": 3})
    del data["rounds"]
    row = data["rows"][0]
    for key in [k for k in row if k.endswith("_spread")]:
        del row[key]
    row.update({"clustermim_images_per_second": 3000.0, "peak_fraction": 0.25,
                "clustermim_runs": [2900.0, 3000.0, 3100.0],
                "python_sdpa_images_per_second": 3300.0, "ratio_vs_python_sdpa": 3000.0 / 3300.0,
                "python_sdpa_runs": [3300.0, 3200.0, 3400.0],
                "python_images_per_second": 2000.0, "ratio_vs_python": 1.5,
                "python_runs": [2000.0, 2000.0, 2000.0]})
    return {"pretrain-gpu.json": json.dumps(data), "gpu_check.log": GPU_CHECK_LOG,
            "gpu_ctest.log": GPU_CTEST_LOG}


def kmeans_row(k, ratio, spread):
    return {"k": k, "ours_seconds": 0.5, "ours_objective": 4.07,
            "ours_seconds_to_sklearn_objective": 0.3 / ratio, "sklearn_seconds": 0.3,
            "sklearn_objective": 4.29, "kmeans_ratio_vs_minibatch": ratio,
            "kmeans_ratio_vs_minibatch_spread": list(spread)}


def kmeans_json(ratio, fused, spread=None, rows=None):
    rows = rows or [kmeans_row(64, ratio, spread or (ratio - 0.2, ratio + 0.2))]
    return {"points": 200000, "dim": 48, "threads": 2, "rounds": 3, "iterations": 30,
            "data": "fashion-mnist", "rows": rows, "fused_nearest_kernel": fused}


def write_records(tmp, floor_ips, gpu=None, kmeans=None, pretrain=None, extra=None):
    """Writes the given benchmark files under `tmp`; returns the script's arguments for them."""
    out, gpu_out = os.path.join(tmp, "bench-out"), os.path.join(tmp, "gpu")
    bench = {"pretrain.json": json.dumps(pretrain or pretrain_json(floor_ips))}
    if kmeans is not None:
        bench["kmeans.json"] = json.dumps(kmeans)
    bench.update(extra or {})
    for folder, files in ((out, bench), (gpu_out, gpu or {})):
        os.makedirs(folder)
        for name, text in files.items():
            with open(os.path.join(folder, name), "w") as f:
                f.write(text)
    return [sys.executable, SCRIPT, "--bench-out", out, "--gpu-out", gpu_out,
            "--out", os.path.join(tmp, "PERFORMANCE.md"), "--mode", "quick"]


def render(floor_ips, gpu=None, kmeans=None, pretrain=None, extra=None):
    """Renders PERFORMANCE.md from the given files; returns its text and summary.json."""
    with tempfile.TemporaryDirectory() as tmp:
        command = write_records(tmp, floor_ips, gpu, kmeans, pretrain, extra)
        subprocess.run(command + ["--readme", os.path.join(tmp, "absent-README.md")], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(tmp, "PERFORMANCE.md")) as f, \
                open(os.path.join(tmp, "bench-out", "summary.json")) as g:
            return f.read(), json.load(g)


class StampTest(unittest.TestCase):
    def test_committed_file_dates_from_its_commit_and_a_changed_one_from_its_mtime(self):
        spec = importlib.util.spec_from_file_location("render_performance", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "pretrain-gpu.json")
            with open(path, "w") as f:
                f.write("{}")
            os.utime(path, (1800000000, 1800000000))  # 2027-01-15 08:00 UTC
            self.assertEqual(module.stamp(path), "2027-01-15 08:00 UTC")  # not in a repository
            env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                       GIT_COMMITTER_EMAIL="t@t", GIT_COMMITTER_DATE="2026-11-27T15:22:00Z",
                       GIT_AUTHOR_DATE="2026-11-27T15:22:00Z")
            for args in (["init", "-q"], ["add", "pretrain-gpu.json"], ["commit", "-q", "-m", "x"]):
                subprocess.run(["git", "-C", tmp] + args, env=env, check=True)
            self.assertEqual(module.stamp(path), "2026-11-27 15:22 UTC")
            with open(path, "w") as f:
                f.write("{ }")
            os.utime(path, (1800000000, 1800000000))
            self.assertEqual(module.stamp(path), "2027-01-15 08:00 UTC")


class RenderPerformanceTest(unittest.TestCase):
    def test_floor_below_target(self):
        text, summary = render(360.0)
        self.assertIn("| bf16 | 300.0 | 270 | 39 % | 1000 | 200.0 | 1.50x [1.40, 1.60] | 360.0 |"
                      " 1.80x [1.71, 1.89] |", text)
        self.assertIn("| vit-tiny-32 bf16 step vs the Python twin (`pretrain_bf16_ratio_vs_python`)"
                      " | 1.50x [1.40, 1.60] | 2.0x | no |", text)
        self.assertIn("| vit-tiny-32 bf16 step GFLOP/s / bf16 GEMM peak (`bf16_peak_fraction`) |"
                      " 39 % [37, 40 %] | 40 % | spread crosses the target |", text)
        self.assertIn("would run at 360 img/s, 1.80x [1.71, 1.89] the Python twin's whole step,"
                      " below the 2x target over the whole spread; clustermim's step spends 17 % of"
                      " its time outside them", text)
        self.assertIn("needs faster GEMM kernels at these shapes", text)
        self.assertIn("bf16 step, operators by self time (LibTorch's profiler, share of the profiled"
                      " time; `--profile`): `aten::mm` 50 %, `aten::copy_` 25 %. A profiled step"
                      " took 400 ms against 427 ms without the profiler;", text)
        self.assertIn("The step by phase (extra steps of the first run, the device synchronised"
                      " between phases; the optimizer is AdamW): bf16: clustermim forward 120.0 ms,"
                      " backward 280.0 ms, optimizer 20.0 ms of a 426.7 ms step; the Python twin as"
                      " is: forward 200.0 ms, backward 390.0 ms, optimizer 50.0 ms of a 640.0 ms"
                      " step.", text)
        self.assertAlmostEqual(summary["pretrain_bf16_gemm_floor_ratio_vs_python"], 1.8)
        self.assertEqual(summary["pretrain_bf16_ratio_vs_python_spread"], [1.4, 1.6])

    def test_tcas_python_target(self):
        tcas = {"tcas_python_ratio_vs_numpy": 12.0, "tcas_python_ratio_vs_numpy_spread": [9.5, 13.0],
                "import_seconds": 0.2}
        text, summary = render(360.0, extra={"tcas_python.json": json.dumps(tcas)})
        self.assertIn("| clustermim.tcas vs numpy (np.add.at), 1 M patches x K = 8192"
                      " (`tcas_python_ratio_vs_numpy`) | 12.00x [9.50, 13.00] | 10.0x |"
                      " spread crosses the target |", text)
        self.assertEqual(summary["import_clustermim_seconds"], 0.2)

    def test_decode_section_and_lower_is_better_targets(self):
        decode = decode_json(800.0)
        tcas = {"tcas_python_ratio_vs_numpy": 12.0, "tcas_python_ratio_vs_numpy_spread": [11, 13],
                "import_seconds": 0.3, "import_seconds_spread": [0.2, 0.6]}
        text, summary = render(360.0, extra={"decode.json": decode,
                                             "tcas_python.json": json.dumps(tcas)})
        self.assertIn("one core, vs torchvision (`stream_decode_ratio_vs_torchvision`) |"
                      " 3.30x [3.10, 3.70] | 3.0x | yes |", text)
        self.assertIn("(`stream_rss_growth`) | 1.04x [1.04, 1.04] | below 1.1x | yes |", text)
        self.assertIn("(`import_clustermim_seconds`) | 0.300 s [0.200, 0.600] | below 0.5 s |"
                      " spread crosses the target |", text)
        self.assertIn("## Streaming decode: clustermim vs torchvision", text)
        self.assertIn("| clustermim streaming loader (index, read, decode_crop, batches) | 800 |"
                      " 3.30x [3.10, 3.70] |", text)
        self.assertIn("217 MB after 512 samples, 226 MB after 2048", text)
        self.assertEqual(summary["stream_rss_growth_spread"], [1.04, 1.04])

    def test_imagenet_epoch_bound_from_the_gpu_step_and_the_decode_rate(self):
        # GPU step 3000 img/s: 1281167 / 3000 s = 7.1 min; 500 img/s per decode thread: 6 threads.
        text, _ = render(360.0, gpu_files(), extra={"decode.json": decode_json(500.0)})
        self.assertIn("## ImageNet-1K epoch: the bound from the records", text)
        self.assertIn("One ImageNet-1K pretraining epoch (1281167 images) takes at least 7.1"
                      " minutes, the time of the vit-base-16 bf16 step at its 3000 img/s", text)
        self.assertIn("500 img/s per thread on 500x375 JPEGs", text)
        self.assertIn("that takes 6 threads (`data.workers`)", text)
        self.assertIn("| 4 | 2000 | 10.7 | decoding |", text)
        self.assertIn("| 8 | 4000 | 7.1 | the GPU step |", text)

    def test_no_imagenet_epoch_bound_without_a_gpu_step(self):
        text, _ = render(360.0, extra={"decode.json": decode_json(500.0)})
        self.assertNotIn("ImageNet-1K epoch", text)

    def test_readme_markers_are_rendered_and_checked(self):
        with tempfile.TemporaryDirectory() as tmp:
            command = write_records(tmp, 360.0, gpu_files(),
                                    extra={"decode.json": decode_json(500.0)})
            readme = os.path.join(tmp, "README.md")
            with open(readme, "w") as f:
                f.write("Time: <!-- perf:imagenet-epoch -->stale<!-- /perf:imagenet-epoch --> end\n")
            command += ["--readme", readme]
            stale = subprocess.run(command + ["--check"], capture_output=True, text=True)
            self.assertNotEqual(stale.returncode, 0)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            with open(readme) as f:
                text = f.read()
            self.assertTrue(text.startswith("Time: <!-- perf:imagenet-epoch -->one ImageNet-1K"
                                            " pretraining epoch (1281167 images) takes at least"
                                            " 7.1 minutes"), text)
            self.assertTrue(text.endswith("no ImageNet epoch has been timed.<!--"
                                          " /perf:imagenet-epoch --> end\n"), text)
            with open(readme, "a") as f:
                f.write("an edit outside the markers\n")
            self.assertEqual(subprocess.run(command + ["--check"], capture_output=True).returncode,
                             0)
            with open(readme, "w") as f:
                f.write(text.replace("7.1 minutes", "7 minutes"))
            stale = subprocess.run(command + ["--check"], capture_output=True, text=True)
            self.assertIn("README.md: not the render of the records", stale.stderr)

    def test_floor_above_target(self):
        text, _ = render(600.0)
        self.assertIn("3.00x [2.86, 3.16] the Python twin's whole step, above the 2x target over"
                      " the whole spread", text)
        self.assertIn("is within reach of fusion, but only by moving most of that time", text)

    def test_floor_spread_across_the_target(self):
        text, _ = render(400.0, pretrain=pretrain_json(400.0, floor_spread=(1.9, 2.1)))
        self.assertIn("2.00x [1.90, 2.10] the Python twin's whole step, a spread that crosses the"
                      " 2x target", text)
        self.assertIn("is at the edge of what fusion alone can reach", text)

    def test_gpu_section(self):
        text, summary = render(360.0, gpu_files())
        # A file from before the rounds: the spreads come from its alternated runs.
        self.assertIn("| GPU vit-base-16 bf16 step vs the Python twin with fused attention"
                      " (`pretrain_gpu_bf16_ratio_vs_python_sdpa`) | 0.91x [0.88, 0.94] | 1.5x | no"
                      " |", text)
        self.assertIn("| GPU vit-base-16 bf16 step vs the Python twin"
                      " (`pretrain_gpu_bf16_ratio_vs_python`) | 1.50x [1.45, 1.55] | 1.5x |"
                      " spread crosses the target |", text)
        self.assertIn("`bench_pretrain --preset vit-base-16 --batch 256 --rounds 3 --device cuda`",
                      text)
        self.assertIn("GPU: the vit-base-16 step runs at 3000 img/s (25 % of the bf16 GEMM peak,"
                      " its model FLOPs utilization); its GEMMs alone would run at 4000 img/s, so"
                      " 25 % of the step is spent outside them, and the twin with fused attention"
                      " runs at 3300 img/s.", text)
        self.assertIn("NVIDIA H200 (143771 MiB, driver 580.159.04); Ubuntu 24.04.3 LTS, c++ 13.3.0,"
                      " cmake version 4.4.3; LibTorch of the PyTorch 2.11.0+cu130 wheel (CUDA 13.0)."
                      " Times from the start of the check: built in 136 s, tested in 154 s, done in"
                      " 275 s.", text)
        self.assertIn("CTest on the GPU host: 7 passed, 1 skipped, 2 failed: `Cli.DataInfo`"
                      " (SEGFAULT), `Features.FileRoundTrip` (Failed).", text)
        self.assertAlmostEqual(summary["bf16_peak_fraction_gpu"], 0.25)

    def test_gpu_ctest_all_passed(self):
        files = gpu_files()
        files["gpu_ctest.log"] = ("100% tests passed out of 9\n\nThe following tests did not run:\n"
                                  "\t 34 - IdxReader.InstalledFashionMnistTestSplit (Skipped)\n")
        text, _ = render(360.0, files)
        self.assertIn("CTest on the GPU host: 8 passed, 1 skipped, 0 failed.", text)

    def test_kmeans_met_with_the_fused_kernel_states_no_gap(self):
        text, summary = render(360.0, kmeans=kmeans_json(3.5, True))
        self.assertIn("Lloyd iterations (nearest centroids found by clustermim's fused AVX-512"
                      " kernel).", text)
        self.assertIn("(`kmeans_ratio_vs_minibatch`) | 3.50x [3.30, 3.70] | 3.0x | yes |", text)
        self.assertIn("| 64 | 0.09 | 0.50 | 4.0700 | 0.30 | 4.2900 | 3.50x [3.30, 3.70] |", text)
        self.assertNotIn("K-means: the time to", text)
        self.assertAlmostEqual(summary["kmeans_ratio_vs_minibatch"], 3.5)

    def test_kmeans_missed_without_avx512_states_the_cause(self):
        text, _ = render(360.0, kmeans=kmeans_json(2.0, False))
        self.assertIn("(nearest centroids by LibTorch's addmm and min: no AVX-512F).", text)
        self.assertIn("| 2.00x [1.80, 2.20] | 3.0x | no |", text)
        self.assertIn("K-means: the time to MiniBatchKMeans' objective is greedy k-means++", text)

    def test_a_median_above_the_target_is_not_met_when_the_spread_crosses_it(self):
        text, summary = render(360.0, kmeans=kmeans_json(3.2, True, spread=(2.7, 3.6)))
        self.assertIn("(`kmeans_ratio_vs_minibatch`) | 3.20x [2.70, 3.60] | 3.0x | spread crosses"
                      " the target |", text)
        self.assertIn("K-means: the time to MiniBatchKMeans' objective", text)
        text, _ = render(360.0, pretrain=pretrain_json(360.0, ratio_spread=(2.1, 2.4)))
        self.assertIn("(`pretrain_bf16_ratio_vs_python`) | 1.50x [2.10, 2.40] | 2.0x | yes |", text)
        text, _ = render(360.0, pretrain=pretrain_json(360.0, ratio_spread=(1.2, 1.9)))
        self.assertIn("(`pretrain_bf16_ratio_vs_python`) | 1.50x [1.20, 1.90] | 2.0x | no |", text)

    def test_worst_k_spans_the_lowest_ends_of_the_rows(self):
        rows = [kmeans_row(64, 4.0, (3.5, 4.5)), kmeans_row(256, 3.4, (2.9, 5.0))]
        text, summary = render(360.0, kmeans=kmeans_json(0, True, rows=rows))
        self.assertEqual(summary["kmeans_ratio_vs_minibatch_spread"], [2.9, 4.5])
        self.assertIn("| 3.40x [2.90, 4.50] | 3.0x | spread crosses the target |", text)

    def test_loader_rounds_are_merged_and_rendered(self):
        with tempfile.TemporaryDirectory() as tmp:
            for r, (ours, ref) in enumerate([(180000.0, 9000.0), (190000.0, 8000.0),
                                             (150000.0, 10000.0)]):
                bench = {"benchmarks": [
                    {"name": "BM_loader_augment/workers:1/real_time", "img/s": ours / 2},
                    {"name": "BM_loader_augment/workers:2/real_time", "img/s": ours},
                    {"name": "BM_train_transform", "img/s": 110000.0}]}
                with open(os.path.join(tmp, f"ours-{r}.json"), "w") as f:
                    json.dump(bench, f)
                with open(os.path.join(tmp, f"reference-{r}.json"), "w") as f:
                    json.dump({"kind": "torchvision", "workers": 2, "images_per_second": ref}, f)
            merged = os.path.join(tmp, "loader.json")
            subprocess.run([sys.executable, LOADER_ROUNDS, tmp, merged], check=True,
                           stdout=subprocess.DEVNULL)
            with open(merged) as f:
                loader = f.read()
        self.assertEqual(json.loads(loader)["ratio_vs_python_spread"], [15.0, 23.75])
        text, summary = render(360.0, extra={"loader.json": loader})
        self.assertIn("| clustermim `BM_loader_augment/workers:2/real_time` | 180000 |"
                      " 20.00x [15.00, 23.75] |", text)
        self.assertIn("| clustermim `BM_loader_augment/workers:1/real_time` | 90000 | - |", text)
        self.assertIn("| Python reference (torchvision, 2 workers) | 9000 | - |", text)
        self.assertIn("run alternately by `bench/run.sh` for 3 rounds", text)
        self.assertEqual(summary["loader_ratio_vs_python_spread"], [15.0, 23.75])

    def test_loader_rounds_refuses_an_unfinished_round(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "ours-0.json"), "w") as f:
                json.dump({"benchmarks": []}, f)
            done = subprocess.run([sys.executable, LOADER_ROUNDS, tmp, os.path.join(tmp, "x.json")],
                                  capture_output=True, text=True)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("reference-0.json is missing", done.stderr)

    def test_finetune_section_and_summary(self):
        extra = {"finetune.json": finetune_json(),
                 "finetune-small.json": finetune_json("vit-small-16", 32, transform=False)}
        text, summary = render(360.0, extra=extra)
        self.assertIn("## Fine-tuning step: clustermim vs a Python twin of MAE's main_finetune", text)
        self.assertIn("`bench_finetune --preset vit-tiny-32 --batch 128 --classes 10 --rounds 3"
                      " --device cpu`", text)
        self.assertIn("| vit-tiny-32, batch 128 | bf16 | 50.0 | 110 | 1500 | 40.0 |"
                      " 1.25x [1.10, 1.40] |", text)
        self.assertIn("| vit-small-16, batch 32 | bf16 | 50.0 | 110 | 1500 | 40.0 |", text)
        self.assertIn("| 32x32 -> 32 | 2000 | 27000 | 3500 | 7.70x [7.00, 8.10] |", text)
        self.assertIn("drop path 0.1, layer-wise lr decay 0.75", text)
        self.assertEqual(summary["finetune_bf16_ratio_vs_python_spread"], [1.1, 1.4])
        self.assertAlmostEqual(summary["finetune_small_bf16_ratio_vs_python"], 1.25)
        self.assertAlmostEqual(summary["finetune_transform_ratio_vs_python"], 7.7)
        self.assertNotIn("finetune_small_transform_ratio_vs_python", summary)

    def test_gpu_finetune_row_and_summary(self):
        gpu = gpu_files()
        data = json.loads(finetune_json("vit-base-16", 128, transform=False))
        data["device"] = "cuda"
        gpu["finetune-gpu.json"] = json.dumps(data)
        text, summary = render(360.0, gpu, extra={"finetune.json": finetune_json()})
        self.assertIn("`bench_finetune --preset vit-base-16 --batch 128 --classes 10 --rounds 3"
                      " --device cuda`", text)
        self.assertIn("| vit-base-16, batch 128 (GPU) | bf16 | 50.0 |", text)
        self.assertIn("| vit-tiny-32, batch 128 | bf16 | 50.0 |", text)
        self.assertAlmostEqual(summary["finetune_gpu_bf16_ratio_vs_python"], 1.25)

    def test_no_finetune_files_no_section(self):
        text, summary = render(360.0)
        self.assertNotIn("Fine-tuning step", text)
        self.assertFalse([k for k in summary if k.startswith("finetune")])

    def test_no_gpu_files_says_not_measured(self):
        text, summary = render(360.0)
        self.assertIn("Not measured yet: no GPU was available", text)
        self.assertNotIn("pretrain_gpu_bf16_ratio_vs_python", summary)


if __name__ == "__main__":
    unittest.main()
