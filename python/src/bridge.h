/*
 * What both extension modules share: numpy arrays into and out of the library, copied only where
 * the layout demands it, JSON results as Python objects, and the error mapping (clustermim::Error
 * -> ValueError with the library's one-line message, the CLI's text after "error: ").
 *
 * Ids arrive as any integer dtype. A C-contiguous native int32 array is read in place; anything
 * else is converted to int32 with every value range-checked. Conversion and scanning run without
 * the GIL: `prepare_ids` (GIL held) only inspects the array, `IdArray::materialize` does the work.
 */
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"

namespace clustermim::python {

namespace py = pybind11;

/// Integer ids from a numpy array, as C-contiguous int32 [shape]: the array's own buffer when
/// it already is one (no copy), else a range-checked converted copy.
struct IdArray {
  py::array source;            ///< the C-contiguous array read (keeps its buffer alive)
  std::string name;            ///< "tokens", "labels", ... (error messages)
  std::vector<int64_t> shape;  ///< as numpy reports it
  char kind = 'i';             ///< numpy dtype kind: 'i' signed, 'u' unsigned
  int64_t itemsize = 4;        ///< bytes per element
  std::vector<int32_t> copy;   ///< converted values (empty when read in place)
  const int32_t* data = nullptr;

  int64_t size() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }

  bool zero_copy() const { return kind == 'i' && itemsize == 4; }

  /// Sets `data`: the source buffer itself, or a converted copy. Safe without the GIL.
  void materialize() {
    if (zero_copy()) {
      data = static_cast<const int32_t*>(source.data());
      return;
    }
    copy.resize(static_cast<size_t>(size()));
    const void* in = source.data();
    switch (kind == 'i' ? itemsize : -itemsize) {
      case 1: convert<int8_t>(in); break;
      case 2: convert<int16_t>(in); break;
      case 8: convert<int64_t>(in); break;
      case -1: convert<uint8_t>(in); break;
      case -2: convert<uint16_t>(in); break;
      case -4: convert<uint32_t>(in); break;
      case -8: convert<uint64_t>(in); break;
      default: fail(name, ": unsupported integer size of ", itemsize, " bytes");
    }
    data = copy.data();
  }

  /// Largest value, or 0 when none is positive. Safe without the GIL, after materialize().
  int32_t max_value() const {
    int32_t m = 0;
    const int64_t n = size();
    for (int64_t i = 0; i < n; ++i) m = data[i] > m ? data[i] : m;
    return m;
  }

 private:
  template <typename T>
  void convert(const void* in) {
    const T* values = static_cast<const T*>(in);
    const int64_t n = size();
    for (int64_t i = 0; i < n; ++i) {
      const T v = values[i];
      const bool fits = std::numeric_limits<T>::is_signed
                            ? static_cast<int64_t>(v) >= std::numeric_limits<int32_t>::min() &&
                                  static_cast<int64_t>(v) <= std::numeric_limits<int32_t>::max()
                            : static_cast<uint64_t>(v) <=
                                  static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
      if (!fits) fail(name, ": value ", +v, " at flat index ", i, " does not fit in int32");
      copy[static_cast<size_t>(i)] = static_cast<int32_t>(v);
    }
  }
};

/// str(object) of a Python object, e.g. "float32" for a dtype.
inline std::string python_text(py::handle object) {
  return py::str(object).cast<std::string>();
}

/// "[6, 4]" for a shape.
inline std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

/// Inspects `object` (a numpy array or anything numpy turns into one) as integer ids; throws
/// Error for non-integer dtypes. Needs the GIL; call materialize() afterwards (GIL released).
inline IdArray prepare_ids(const py::handle& object, const std::string& name) {
  IdArray ids;
  ids.name = name;
  py::array array = py::array::ensure(object);
  if (!array) {
    PyErr_Clear();
    fail(name, ": expected a numpy array of integer ids, got ", python_text(py::type::of(object)));
  }
  const py::dtype dtype = array.dtype();
  ids.kind = dtype.kind();
  CM_REQUIRE(ids.kind == 'i' || ids.kind == 'u', name, ": dtype ",
             python_text(dtype), " is not an integer type (ids must be integers)");
  if (!dtype.attr("isnative").cast<bool>()) {
    array = py::array::ensure(array.attr("astype")(dtype.attr("newbyteorder")("=")));
  }
  ids.source = py::array::ensure(array, py::array::c_style);
  ids.itemsize = ids.source.itemsize();
  for (py::ssize_t i = 0; i < ids.source.ndim(); ++i) ids.shape.push_back(ids.source.shape(i));
  return ids;
}

/// Moves `values` into a numpy array of `shape` that owns them (no copy).
template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& values, const std::vector<py::ssize_t>& shape) {
  auto* owned = new std::vector<T>(std::move(values));
  py::capsule release(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, owned->data(), release);
}

/// A JSON value as the Python object json.loads would give (numbers keep their exact value).
inline py::object to_python(const nlohmann::json& j) {
  using Type = nlohmann::json::value_t;
  switch (j.type()) {
    case Type::null: return py::none();
    case Type::boolean: return py::bool_(j.get<bool>());
    case Type::number_integer: return py::int_(j.get<int64_t>());
    case Type::number_unsigned: return py::int_(j.get<uint64_t>());
    case Type::number_float: return py::float_(j.get<double>());
    case Type::string: return py::str(j.get<std::string>());
    case Type::array: {
      py::list list;
      for (const auto& item : j) list.append(to_python(item));
      return std::move(list);
    }
    case Type::object: {
      py::dict dict;
      for (const auto& item : j.items()) dict[py::str(item.key())] = to_python(item.value());
      return std::move(dict);
    }
    default: fail("internal: JSON value of an unexpected type");
  }
}

/// clustermim::Error -> ValueError (same message); other C++ exceptions keep pybind11's mapping
/// (std::exception -> RuntimeError).
inline void register_error_translation() {
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
}

}  // namespace clustermim::python
