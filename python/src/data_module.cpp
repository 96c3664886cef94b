/*
 * clustermim._data: dataset reading for the Python module (cm_base's readers, no LibTorch). A
 * module of its own because the readers pull in OpenCV and its codecs (about 150 shared
 * libraries, 0.15 s to load): the package imports it on first use of load_dataset.
 *
 *   load_dataset(spec, split, image_size=0, cache_dir="") -> (images, labels, classes)
 */
#include <pybind11/stl.h>

#include "bridge.h"
#include "data/dataset.h"

namespace clustermim::python {

namespace {

py::tuple open_dataset(const std::string& spec, const std::string& split, int image_size,
                       const std::string& cache_dir) {
  DatasetOptions options;
  options.image_size = image_size;
  options.cache_dir = cache_dir;
  Dataset data;
  {
    py::gil_scoped_release release;
    data = load_dataset(spec, split, options);
  }
  const std::vector<py::ssize_t> shape{data.size(), data.height, data.width, data.channels};
  const py::ssize_t n = data.size();
  py::array_t<uint8_t> images = to_numpy(std::move(data.pixels), shape);
  py::array_t<int32_t> labels = to_numpy(std::move(data.labels), {n});
  return py::make_tuple(images, labels, data.classes);
}

}  // namespace

}  // namespace clustermim::python

PYBIND11_MODULE(_data, m) {
  using namespace clustermim::python;
  m.doc() = "clustermim's dataset readers (loaded on first use by the clustermim package).";
  register_error_translation();

  m.def("load_dataset", &open_dataset, py::arg("spec"), py::arg("split") = "train",
        py::arg("image_size") = 0, py::arg("cache_dir") = "",
        R"doc(Reads a labeled image dataset, as the CLI's --data does.

spec: "fashion-mnist", "mnist", or a path: a folder or archive of IDX files, of CIFAR-10 binary
    batches, or an image-folder tree root/{train,test}/<class>/*.jpg (folder, .tar or .tar.gz).
split: "train" or "test".
image_size: image folders are resized (shorter side) and center-cropped to this; 0 = as stored.
cache_dir: decoded-dataset cache ("" = $CLUSTERMIM_CACHE or ~/.cache/clustermim, "none" = off).

Returns (images uint8 [N, H, W, C] with C = 1 or 3, labels int32 [N], classes: list of names).
The arrays own the decoded buffers (no copy).)doc");
}
