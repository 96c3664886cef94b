/*
 * Token files (see token_file.h): parse by extension, convert the wanted arrays to int32 with
 * every value checked, then check the shapes of tokens and labels against each other.
 */
#include "metrics/token_file.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "io/file_util.h"
#include "io/npy.h"
#include "io/safetensors.h"

namespace clustermim {

namespace {

enum class Format { Npy, Npz, Safetensors };

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Format format_of(const std::string& path) {
  if (ends_with(path, ".npy")) return Format::Npy;
  if (ends_with(path, ".npz")) return Format::Npz;
  if (ends_with(path, ".safetensors")) return Format::Safetensors;
  fail(path, ": not a token file (expected .npy, .npz or .safetensors)");
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

/// An array of a token file, converted to int32.
struct IntArray {
  std::vector<int64_t> shape;
  std::vector<int32_t> values;  ///< numel(shape), every one in [0, INT32_MAX]
};

/// Element i's position in C order, "[i, j]" for a 2-D shape.
std::string position(const std::vector<int64_t>& shape, int64_t i) {
  if (shape.size() != 2) return "[" + std::to_string(i) + "]";
  return "[" + std::to_string(i / shape[1]) + ", " + std::to_string(i % shape[1]) + "]";
}

/// Converts numel values read by `get` to int32; `what` ("<path>: tokens") prefixes errors.
template <typename Get>
IntArray to_int32(std::vector<int64_t> shape, int64_t numel, const Get& get,
                  const std::string& what) {
  IntArray out;
  out.shape = std::move(shape);
  out.values.resize(static_cast<size_t>(numel));
  for (int64_t i = 0; i < numel; ++i) {
    const int64_t v = get(i);
    CM_REQUIRE(v >= 0, what, ": negative value ", v, " at ", position(out.shape, i),
               " (token ids and labels are >= 0)");
    CM_REQUIRE(v <= std::numeric_limits<int32_t>::max(), what, ": value ", v, " at ",
               position(out.shape, i), " is beyond int32");
    out.values[static_cast<size_t>(i)] = static_cast<int32_t>(v);
  }
  return out;
}

IntArray from_npy(const NpyArray& a, const std::string& what) {
  return to_int32(a.shape, a.numel(), [&](int64_t i) { return a.value(i); }, what);
}

IntArray from_tensor(const TensorRecord& t, const std::string& what) {
  switch (t.dtype) {
    case DType::I64:
      return to_int32(t.shape, t.numel(), [&](int64_t i) {
        int64_t v;
        std::memcpy(&v, t.data.data() + 8 * i, 8);
        return v;
      }, what);
    case DType::I32:
      return to_int32(t.shape, t.numel(), [&](int64_t i) { return int64_t{t.as<int32_t>()[i]}; },
                      what);
    case DType::U8:
      return to_int32(t.shape, t.numel(), [&](int64_t i) { return int64_t{t.data[i]}; }, what);
    default:
      fail(what, ": dtype ", dtype_name(t.dtype),
           " is floating point; token ids and labels must be integers");
  }
}

/// One token file, parsed; arrays are converted when asked for.
struct TokenFile {
  std::string path;
  Format format = Format::Npy;
  std::vector<NpyArray> npy;  ///< .npy: the one array; .npz: its members
  SafetensorsFile safetensors;

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    if (format == Format::Safetensors) {
      for (const TensorRecord& t : safetensors.tensors) out.push_back(t.name);
    } else {
      for (const NpyArray& a : npy) out.push_back(a.name);
    }
    return out;
  }

  bool has(const std::string& name) const {
    if (format == Format::Npy) return true;
    const std::vector<std::string> all = names();
    return std::find(all.begin(), all.end(), name) != all.end();
  }

  /// The array `name` (for a .npy: its one array, whatever `name`).
  IntArray get(const std::string& name) const {
    const std::string what = path + ": " + name;
    if (format == Format::Npy) return from_npy(npy.front(), what);
    if (!has(name)) {
      std::string list;
      for (const std::string& n : names()) list += (list.empty() ? "" : ", ") + n;
      fail(path, ": has no '", name, "' array (it holds: ", list.empty() ? "nothing" : list, ")");
    }
    if (format == Format::Safetensors) return from_tensor(safetensors.get(name), what);
    return from_npy(*std::find_if(npy.begin(), npy.end(),
                                  [&](const NpyArray& a) { return a.name == name; }),
                    what);
  }
};

TokenFile parse_token_file(const uint8_t* bytes, size_t size, const std::string& path) {
  TokenFile f;
  f.path = path;
  f.format = format_of(path);
  if (f.format == Format::Npy) f.npy.push_back(decode_npy(bytes, size, path));
  if (f.format == Format::Npz) f.npy = decode_npz(bytes, size, path);
  if (f.format == Format::Safetensors) f.safetensors = decode_safetensors(bytes, size, path);
  return f;
}

TokenFile read_token_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_token_file(bytes.data(), bytes.size(), path);
}

/// Checks tokens [N, L] against labels [N] or [N, L] and builds the set.
TokenLabelSet assemble(IntArray tokens, const std::string& tokens_path, IntArray labels,
                       const std::string& labels_path, int64_t vocab) {
  const std::vector<int64_t>& ts = tokens.shape;
  CM_REQUIRE(ts.size() != 1, tokens_path, ": tokens have shape ", shape_str(ts),
             " (one id per image); TCAS needs [N, L]: reshape to [N, 1]");
  CM_REQUIRE(ts.size() == 2, tokens_path, ": tokens must be [N, L], got shape ", shape_str(ts));
  CM_REQUIRE(ts[0] > 0 && ts[1] > 0, tokens_path, ": tokens are empty (shape ", shape_str(ts),
             ")");
  const std::vector<int64_t>& ls = labels.shape;
  CM_REQUIRE(ls.size() == 1 || ls.size() == 2, labels_path, ": labels must be [N] or [N, L], got shape ",
             shape_str(ls));
  CM_REQUIRE(ls[0] == ts[0], labels_path, ": ", ls[0], " labels for ", ts[0],
             " images of tokens (", tokens_path, ")");
  CM_REQUIRE(ls.size() == 1 || ls[1] == ts[1], labels_path, ": per-patch labels ", shape_str(ls),
             " do not match tokens ", shape_str(ts), " (", tokens_path, ")");
  CM_REQUIRE(vocab >= 0, tokens_path, ": vocab must be >= 0 (0 = max id + 1), got ", vocab);

  const int32_t max_id = *std::max_element(tokens.values.begin(), tokens.values.end());
  TokenLabelSet set;
  set.images = ts[0];
  set.patches = ts[1];
  set.vocab = vocab == 0 ? int64_t{max_id} + 1 : vocab;
  set.num_classes = int64_t{*std::max_element(labels.values.begin(), labels.values.end())} + 1;
  set.labels_per_patch = ls.size() == 2;
  set.tokens = std::move(tokens.values);
  set.labels = std::move(labels.values);
  check_token_labels(set.view(), tokens_path);
  return set;
}

}  // namespace

TokenLabelSet load_token_labels(const std::string& tokens_path, const std::string& labels_path,
                                int64_t vocab) {
  const TokenFile tokens = read_token_file(tokens_path);
  if (labels_path.empty()) {
    CM_REQUIRE(tokens.format != Format::Npy, tokens_path,
               ": a .npy file holds one array (the tokens); give the labels in a second file");
    return assemble(tokens.get("tokens"), tokens_path, tokens.get("labels"), tokens_path, vocab);
  }
  const TokenFile labels = read_token_file(labels_path);
  return assemble(tokens.get("tokens"), tokens_path, labels.get("labels"), labels_path, vocab);
}

TokenLabelSet decode_token_labels(const uint8_t* bytes, size_t size, const std::string& path,
                                  int64_t vocab) {
  const TokenFile file = parse_token_file(bytes, size, path);
  CM_REQUIRE(file.format != Format::Npy, path,
             ": a .npy file holds one array (the tokens); give the labels in a second file");
  return assemble(file.get("tokens"), path, file.get("labels"), path, vocab);
}

void save_token_labels(const std::string& path, const TokenLabelSet& set) {
  const std::vector<int64_t> token_shape = {set.images, set.patches};
  const std::vector<int64_t> label_shape =
      set.labels_per_patch ? token_shape : std::vector<int64_t>{set.images};
  const Format format = format_of(path);
  const bool labeled = set.num_classes > 0;
  if (format == Format::Npy) {
    save_npy(path, make_npy_int32("tokens", token_shape, set.tokens));
  } else if (format == Format::Npz) {
    std::vector<NpyArray> arrays = {make_npy_int32("tokens", token_shape, set.tokens)};
    if (labeled) arrays.push_back(make_npy_int32("labels", label_shape, set.labels));
    save_npz(path, arrays);
  } else {
    auto record = [](const std::string& name, std::vector<int64_t> shape,
                     const std::vector<int32_t>& values) {
      TensorRecord t;
      t.name = name;
      t.dtype = DType::I32;
      t.shape = std::move(shape);
      CM_REQUIRE(t.numel() == static_cast<int64_t>(values.size()), name, ": ", values.size(),
                 " values do not fill shape ", shape_str(t.shape));
      t.data.resize(values.size() * sizeof(int32_t));
      std::memcpy(t.data.data(), values.data(), t.data.size());
      return t;
    };
    std::vector<TensorRecord> tensors = {record("tokens", token_shape, set.tokens)};
    if (labeled) tensors.push_back(record("labels", label_shape, set.labels));
    save_safetensors(path, tensors, {});
  }
}

}  // namespace clustermim
