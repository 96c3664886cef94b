/*
 * clustermim._torch: the LibTorch half of the Python module (linked to cm_torch). The package
 * imports it on first use of a name it defines, so LibTorch loads only when a tokenizer is needed.
 *
 *   Tokenizer.load(path) / .save(path) / .encode(images) -> int32 [N, L]; .vocab, .patch_size, ...
 *   fit_pixel_kmeans(images, vocab, patch_size, ...) -> Tokenizer
 *
 * Images go through the library's own in-order evaluation pass (for_each_eval_batch: resize +
 * center crop + normalize, grayscale repeated to 3 channels), the one the CLI tokenizes with, so
 * `encode` gives the CLI's tokens. The images are copied once into a Dataset, since the loader
 * reads from one.
 */
#include <pybind11/stl.h>

#include "backend/runtime.h"
#include "backend/tensor_batches.h"
#include "bridge.h"
#include "tokenizers/pixel_kmeans.h"
#include "tokenizers/tokenizer.h"

namespace clustermim::python {

namespace {

/// A Dataset holding a copy of numpy images [N, H, W, C] uint8 (C = 1 or 3, H = W) and labels
/// (all 0 when `labels` is None). Needs the GIL.
Dataset dataset_from_numpy(const py::handle& images, const py::object& labels,
                           const std::string& what) {
  py::array array = py::array::ensure(images);
  if (!array) {
    PyErr_Clear();
    fail(what, ": expected a numpy array of images");
  }
  CM_REQUIRE(array.dtype().kind() == 'u' && array.itemsize() == 1, what, ": images have dtype ",
             python_text(array.dtype()), ", expected uint8 [N, H, W, C]");
  CM_REQUIRE(array.ndim() == 4, what, ": images must be [N, H, W, C], got ",
             array.ndim(), " dimensions");
  const py::array_t<uint8_t, py::array::c_style> pixels =
      py::array_t<uint8_t, py::array::c_style>::ensure(array);
  Dataset data;
  data.name = "numpy";
  data.split = "images";
  data.source = what;
  const int64_t n = pixels.shape(0);
  data.height = pixels.shape(1);
  data.width = pixels.shape(2);
  data.channels = pixels.shape(3);
  CM_REQUIRE(n >= 1, what, ": no images");
  CM_REQUIRE(data.channels == 1 || data.channels == 3, what, ": images have ", data.channels,
             " channels, expected 1 or 3");
  CM_REQUIRE(data.height == data.width, what, ": images are ", data.height, "x", data.width,
             ", expected square images");
  data.pixels.assign(pixels.data(), pixels.data() + pixels.size());
  if (labels.is_none()) {
    data.labels.assign(static_cast<size_t>(n), 0);
  } else {
    IdArray ids = prepare_ids(labels, what + ": labels");
    CM_REQUIRE(ids.shape.size() == 1 && ids.shape[0] == n, what, ": labels must be [", n,
               "], got ", shape_text(ids.shape));
    ids.materialize();
    data.labels.assign(ids.data, ids.data + n);
    for (int32_t label : data.labels)
      CM_REQUIRE(label >= 0, what, ": label ", label, " is negative");
  }
  int32_t classes = 0;
  for (int32_t label : data.labels) classes = std::max(classes, label + 1);
  for (int32_t c = 0; c < classes; ++c) data.classes.push_back(std::to_string(c));
  return data;
}

/// Token ids [N, L] int32 of every image of `data`, in order.
py::array_t<int32_t> encode(const Tokenizer& tokenizer, const Dataset& data, int64_t batch_size,
                            int workers, const std::string& device_name) {
  const TokenizerSpec& spec = tokenizer.spec();
  check_tokenizer_fits(spec, data.height, 3, data.source);
  CM_REQUIRE(batch_size >= 1, "encode: batch_size must be >= 1, got ", batch_size);
  std::vector<int32_t> tokens;
  {
    py::gil_scoped_release release;
    const torch::Device device = resolve_device(device_name);
    EvalPassOptions pass;
    pass.image_size = spec.image_size;
    pass.batch_size = batch_size;
    pass.workers = workers;
    tokens.reserve(static_cast<size_t>(data.size() * spec.num_patches()));
    for_each_eval_batch(data, spec.stats, pass, device, [&](const TensorBatch& batch) {
      const torch::Tensor ids = tokenizer.tokenize({batch.images, batch.labels, batch.indices})
                                    .to(torch::kCPU, torch::kInt32)
                                    .contiguous();
      tokens.insert(tokens.end(), ids.data_ptr<int32_t>(), ids.data_ptr<int32_t>() + ids.numel());
    });
  }
  return to_numpy(std::move(tokens), {data.size(), spec.num_patches()});
}

std::shared_ptr<Tokenizer> fit_pixel(const py::handle& images, int64_t vocab, int64_t patch_size,
                                     int64_t max_patches,
                                     int iterations, uint64_t seed, bool normalize_patches,
                                     int workers, const std::string& device_name) {
  const Dataset data = dataset_from_numpy(images, py::none(), "fit_pixel_kmeans");
  PixelKMeansOptions options;
  options.vocab = vocab;
  options.patch_size = patch_size;
  options.image_size = data.height;
  options.max_patches = max_patches;
  options.iterations = iterations;
  options.seed = seed;
  options.normalize_patches = normalize_patches;
  options.workers = workers;
  CM_REQUIRE(vocab >= 1, "fit_pixel_kmeans: vocab must be >= 1, got ", vocab);
  CM_REQUIRE(patch_size >= 1 && data.height % patch_size == 0, "fit_pixel_kmeans: patch_size ",
             patch_size, " does not divide the image size ", data.height);
  CM_REQUIRE(max_patches >= 1, "fit_pixel_kmeans: max_patches must be >= 1");
  CM_REQUIRE(iterations >= 1, "fit_pixel_kmeans: iterations must be >= 1");
  py::gil_scoped_release release;
  const torch::Device device = resolve_device(device_name);
  return fit_pixel_kmeans(data, compute_channel_stats(data), options, device);
}

}  // namespace

}  // namespace clustermim::python

PYBIND11_MODULE(_torch, m) {
  using namespace clustermim;
  using namespace clustermim::python;
  m.doc() = "clustermim's LibTorch half: tokenizers (loaded on first use by the clustermim package).";
  register_error_translation();

  py::class_<Tokenizer, std::shared_ptr<Tokenizer>>(m, "Tokenizer", R"doc(A frozen tokenizer:
images -> one token id per patch. Load one with Tokenizer.load(path) (a .cmtk file written by
`clustermim tokenizer fit` or Tokenizer.save) or fit one with fit_pixel_kmeans.)doc")
      .def_static(
          "load",
          [](const std::string& path) {
            py::gil_scoped_release release;
            return std::shared_ptr<Tokenizer>(load_tokenizer(path));
          },
          py::arg("path"), "Loads a tokenizer file (.cmtk); ValueError naming the file on any problem.")
      .def(
          "save",
          [](const Tokenizer& self, const std::string& path) {
            py::gil_scoped_release release;
            self.save(path);
          },
          py::arg("path"), "Writes the tokenizer to a .cmtk file (atomic), readable by the CLI.")
      .def(
          "encode",
          [](const Tokenizer& self, const py::handle& images, const py::object& labels,
             int64_t batch_size, int workers, const std::string& device) {
            return encode(self, dataset_from_numpy(images, labels, "encode"), batch_size, workers,
                          device);
          },
          py::arg("images"), py::arg("labels") = py::none(), py::arg("batch_size") = 256,
          py::arg("workers") = 2, py::arg("device") = "cpu",
          R"doc(Token ids of images, as the CLI's `tokens encode` gives them.

images: uint8 [N, S, S, C] with C = 1 (repeated to 3) or 3, S = image_size (copied once).
labels: int [N] class ids; only the `label` tokenizer reads them (default: all 0).
batch_size, workers: the evaluation pass's batch and data-loader threads.
device: "cpu", "cuda", "cuda:N" or "auto".

Returns int32 [N, L] with L = num_patches, ids in [0, vocab), patches in row-major order.)doc")
      .def_property_readonly(
          "kind", [](const Tokenizer& t) { return t.spec().kind; },
          "\"pixel-kmeans\", \"feature-kmeans\", \"label\" or \"random\".")
      .def_property_readonly(
          "vocab", [](const Tokenizer& t) { return t.spec().vocab; },
          "K: token ids are in [0, vocab).")
      .def_property_readonly(
          "patch_size", [](const Tokenizer& t) { return t.spec().patch_size; },
          "p: one token per p x p patch (pixels).")
      .def_property_readonly(
          "image_size", [](const Tokenizer& t) { return t.spec().image_size; },
          "S: the tokenizer reads S x S images (pixels).")
      .def_property_readonly(
          "num_patches", [](const Tokenizer& t) { return t.spec().num_patches(); },
          "L = (S / p)^2: tokens per image.")
      .def("__repr__", [](const Tokenizer& t) {
        const TokenizerSpec& s = t.spec();
        return "<clustermim.Tokenizer " + s.kind + " vocab=" + std::to_string(s.vocab) +
               " patch_size=" + std::to_string(s.patch_size) +
               " image_size=" + std::to_string(s.image_size) + ">";
      });

  m.def("fit_pixel_kmeans", &fit_pixel, py::arg("images"), py::arg("vocab") = 64,
        py::arg("patch_size") = 4, py::arg("max_patches") = 200000, py::arg("iterations") = 30, py::arg("seed") = 0,
        py::arg("normalize_patches") = false, py::arg("workers") = 2, py::arg("device") = "cpu",
        R"doc(Fits ClusterMIM's pixel K-means tokenizer on images, as `clustermim tokenizer fit
--kind pixel-kmeans:K` does on a dataset split.

images: uint8 [N, S, S, C] with C = 1 or 3 (the tokenizer reads S x S images; copied once).
vocab: K centroids (64).  patch_size: p, must divide S (4).
max_patches: patch vectors sampled for fitting (200000).  iterations: Lloyd iterations (30).
seed: sampling and k-means++ seed (0).  normalize_patches: per-patch mean/std first (False).
workers: data-loader threads (2).  device: "cpu", "cuda", "cuda:N" or "auto".

Returns a Tokenizer normalizing with the images' own per-channel mean and std.)doc");
}
