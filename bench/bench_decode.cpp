/*
 * Decode + RandomResizedCrop(224) + flip + normalize of photo-sized JPEGs, images/s on one core:
 * clustermim's decode_crop (DCT-scaled, only the crop's rows and columns) against torchvision's
 * ImageFolder + RandomResizedCrop pipeline (PIL, no draft; bench/decode_reference.py, main
 * process, one thread) and against our own full-size TurboJPEG decode + crop + bicubic resize,
 * which shows what the DCT scaling buys. The streaming loader end to end (BatchLoader over a
 * StreamImageSource building batches in the calling thread, as the reference's DataLoader with no
 * worker processes: reads, crops drawn on each original image, decode, normalize, batches of 16)
 * against the same torchvision pipeline is stream_decode_ratio_vs_torchvision;
 * stream_rss_growth is the loader's peak resident memory after streaming 4N samples over that
 * after N (--rss-samples N, the files listed repeatedly), which stays near 1 when memory does not
 * grow with the dataset. The JPEGs are made here: --images random 32x32 RGB
 * images (CIFAR-like) upscaled bicubic to 500x375 with Gaussian noise (sigma 6) added, quality
 * 90, written to --dir/all/. Each round runs the reference, then both of ours; ratios are the
 * median [min, max] of the per-round ratios, written to bench/out/decode.json.
 *
 *   bench_decode [--images 64] [--passes 3] [--rounds 3] [--size 224]
 */
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <turbojpeg.h>

#include "bench_util.h"
#include "data/jpeg_crop_decode.h"
#include "data/loader.h"
#include "data/stream_image_source.h"
#include "io/file_util.h"

namespace cm = clustermim;

namespace {

/// uint8 RGB [size, size, 3] -> normalized float [3, size, size] (ImageNet's statistics).
void normalize(const uint8_t* rgb, int size, float* out) {
  static const float mean[3] = {0.485f, 0.456f, 0.406f}, std_dev[3] = {0.229f, 0.224f, 0.225f};
  const int64_t plane = static_cast<int64_t>(size) * size;
  for (int c = 0; c < 3; ++c) {
    float lut[256];
    for (int v = 0; v < 256; ++v) lut[v] = (v / 255.f - mean[c]) / std_dev[c];
    for (int64_t i = 0; i < plane; ++i) out[c * plane + i] = lut[rgb[3 * i + c]];
  }
}

/// An index of `paths` (one unlabeled class), each listed `repeat` times.
cm::SampleIndex index_of(const std::vector<std::string>& paths, int repeat) {
  cm::SampleIndex index;
  index.source = "bench_decode";
  index.split = "train";
  index.files = paths;
  for (int r = 0; r < repeat; ++r) {
    for (size_t f = 0; f < paths.size(); ++f) {
      index.samples.push_back({static_cast<int32_t>(f), 0,
                               static_cast<int64_t>(std::filesystem::file_size(paths[f])), -1});
      index.names.push_back(paths[f]);
    }
  }
  return index;
}

/// Streams `epochs` epochs of `source` through a BatchLoader (batch 16, `workers` threads,
/// MAE's augmentation at `size`, ImageNet's statistics); returns images/s.
double stream(const cm::ImageSource& source, int size, int workers, int epochs) {
  cm::LoaderOptions options;
  options.batch_size = 16;
  options.workers = workers;
  options.image_size = size;
  options.stats.mean = {0.485f, 0.456f, 0.406f};
  options.stats.std = {0.229f, 0.224f, 0.225f};
  cm::BatchLoader loader(source, options);
  cm::Batch batch;
  int64_t images = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int e = 0; e < epochs; ++e) {
    loader.start_epoch(e);
    while (loader.next(batch)) images += batch.size;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(images) / s;
}

/// The twin: full-size TurboJPEG decode, crop, bicubic resize, mirror.
void full_decode_crop(tjhandle tj, const std::vector<uint8_t>& bytes, const cm::CropBox& box,
                      int size, uint8_t* out) {
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  CM_REQUIRE(tjDecompressHeader3(tj, bytes.data(), bytes.size(), &width, &height, &subsamp,
                                 &colorspace) == 0, "bench_decode: bad JPEG");
  cv::Mat full(height, width, CV_8UC3);
  CM_REQUIRE(tjDecompress2(tj, bytes.data(), bytes.size(), full.data, width, 0, height, TJPF_RGB,
                           0) == 0, "bench_decode: bad JPEG");
  cv::Mat dst(size, size, CV_8UC3, out);
  cv::resize(full(cv::Rect(box.left, box.top, box.width, box.height)), dst, cv::Size(size, size),
             0, 0, cv::INTER_CUBIC);
  if (box.flipped) cv::flip(dst, dst, 1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"JPEG decode + RandomResizedCrop: clustermim vs torchvision"};
  int images = 64, passes = 3, rounds = 3, size = 224, rss_samples = 512;
  std::string dir = "/tmp/clustermim-bench-decode", python = "/usr/bin/python3",
              out = "bench/out/decode.json";
  app.add_option("--images", images)->capture_default_str();
  app.add_option("--passes", passes, "passes over the images per round and side")
      ->capture_default_str();
  app.add_option("--rounds", rounds)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--size", size)->capture_default_str();
  app.add_option("--rss-samples", rss_samples, "N of stream_rss_growth (N, then 4N samples)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--dir", dir)->capture_default_str();
  app.add_option("--python", python)->capture_default_str();
  app.add_option("--out", out)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  cv::setNumThreads(1);

  std::filesystem::create_directories(dir + "/all");
  std::vector<std::vector<uint8_t>> files;
  std::vector<std::string> paths;
  std::mt19937 gen(1);
  double bytes_total = 0;
  for (int i = 0; i < images; ++i) {
    cv::Mat small(32, 32, CV_8UC3), photo, noise(375, 500, CV_32FC3);
    cv::randu(small, 0, 256);
    cv::resize(small, photo, cv::Size(500, 375), 0, 0, cv::INTER_CUBIC);
    cv::randn(noise, 0, 6);
    photo.convertTo(photo, CV_32FC3);
    photo += noise;
    photo.convertTo(photo, CV_8UC3);
    std::vector<uint8_t> bytes;
    cv::imencode(".jpg", photo, bytes, {cv::IMWRITE_JPEG_QUALITY, 90});
    char name[64];
    std::snprintf(name, sizeof(name), "/all/img_%04d.jpg", i);
    paths.push_back(dir + name);
    cm::write_file_atomic(paths.back(), bytes.data(), bytes.size());
    bytes_total += static_cast<double>(bytes.size());
  }

  std::vector<uint8_t> rgb(3 * static_cast<size_t>(size) * size);
  std::vector<float> floats(rgb.size());
  cm::Rng rng(7);
  tjhandle tj = tjInitDecompress();
  // Images/s of one side: read each file, draw the crop on its header, decode, normalize.
  auto measure = [&](bool dct) {
    const auto start = std::chrono::steady_clock::now();
    for (int p = 0; p < passes; ++p) {
      for (const std::string& path : paths) {
        const std::vector<uint8_t> bytes = cm::read_file_bytes(path);
        const cm::EncodedImage image{bytes.data(), bytes.size(), path};
        const cm::ImageHeader header = cm::read_image_header(image);
        const cm::CropBox box = cm::sample_crop(header.height, header.width, {}, rng);
        if (dct) {
          cm::decode_crop(image, box, size, rgb.data());
        } else {
          full_decode_crop(tj, bytes, box, size, rgb.data());
        }
        normalize(rgb.data(), size, floats.data());
      }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return passes * images / s;
  };
  const cm::StreamImageSource streamed(index_of(paths, 1));
  std::vector<double> ours, full, loader, reference;
  for (int r = 0; r < rounds; ++r) {
    const nlohmann::json ref = cm::bench::run_python(
        python + " bench/decode_reference.py --root " + dir + " --passes " +
        std::to_string(passes) + " --size " + std::to_string(size));
    reference.push_back(ref.at("images_per_second").get<double>());
    ours.push_back(measure(true));
    full.push_back(measure(false));
    loader.push_back(stream(streamed, size, 0, passes));
  }
  tjDestroy(tj);
  // Peak memory while streaming N samples, then 4N (listing the files again costs no pixels).
  const int copies = std::max(1, rss_samples / images);
  stream(cm::StreamImageSource(index_of(paths, copies)), size, 2, 1);
  const double rss_n = cm::bench::peak_rss_mb();
  stream(cm::StreamImageSource(index_of(paths, 4 * copies)), size, 2, 1);
  const double rss_4n = cm::bench::peak_rss_mb();
  nlohmann::json summary = {{"images", images}, {"passes", passes}, {"rounds", rounds},
                            {"size", size}, {"mean_file_kb", bytes_total / images / 1024},
                            {"ours_images_per_second", cm::bench::median(ours)},
                            {"full_decode_images_per_second", cm::bench::median(full)},
                            {"stream_loader_images_per_second", cm::bench::median(loader)},
                            {"torchvision_images_per_second", cm::bench::median(reference)},
                            {"stream_rss_samples", copies * images},
                            {"stream_rss_peak_mb", {rss_n, rss_4n}},
                            {"stream_rss_growth", rss_4n / rss_n}};
  cm::bench::add_ratio(summary, "decode_crop_ratio_vs_torchvision", ours, reference,
                       cm::bench::Better::higher);
  cm::bench::add_ratio(summary, "decode_crop_ratio_vs_full_decode", ours, full,
                       cm::bench::Better::higher);
  cm::bench::add_ratio(summary, "stream_decode_ratio_vs_torchvision", loader, reference,
                       cm::bench::Better::higher);
  std::printf("decode + RandomResizedCrop(%d) of %d 500x375 q90 JPEGs (%.0f KB), 1 core: "
              "decode_crop %.0f img/s, full decode %.0f img/s, torchvision %.0f img/s; "
              "vs torchvision %s, vs full decode %s\n",
              size, images, bytes_total / images / 1024, cm::bench::median(ours),
              cm::bench::median(full), cm::bench::median(reference),
              cm::bench::ratio_text(summary, "decode_crop_ratio_vs_torchvision").c_str(),
              cm::bench::ratio_text(summary, "decode_crop_ratio_vs_full_decode").c_str());
  std::printf("streaming loader (1 core): %.0f img/s, vs torchvision %s; peak RSS %.0f MiB "
              "after %d samples, %.0f MiB after %d: growth %.3f\n",
              cm::bench::median(loader),
              cm::bench::ratio_text(summary, "stream_decode_ratio_vs_torchvision").c_str(), rss_n,
              copies * images, rss_4n, 4 * copies * images, rss_4n / rss_n);
  cm::write_file_atomic(out, summary.dump(2) + "\n");
  std::printf("wrote %s\n", out.c_str());
  return 0;
}
