/*
 * safetensors: encode -> decode keeps names, dtypes, shapes, bytes and metadata; a file written
 * byte by byte from the published format (timm ViT names, F16 weights, space-padded header)
 * decodes to the expected values with F16 and F64 converted to F32; and every malformed input
 * (short file, header length past the file, bad JSON, wrong entry types, offsets out of range,
 * size/shape mismatch, unsupported dtype, overlapping tensors) is a one-line Error naming the file.
 */
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/file_util.h"
#include "io/safetensors.h"
#include "support/fixtures.h"

namespace clustermim {
namespace {

const std::string kPath = "weights.safetensors";

using testing::error_of;

template <typename T>
TensorRecord make_record(const std::string& name, DType dtype, std::vector<int64_t> shape,
                         const std::vector<T>& values) {
  TensorRecord rec;
  rec.name = name;
  rec.dtype = dtype;
  rec.shape = std::move(shape);
  rec.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(rec.data.data(), values.data(), rec.data.size());
  return rec;
}

template <typename T>
std::vector<T> values_of(const TensorRecord& rec) {
  std::vector<T> out(rec.data.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), rec.data.data(), out.size() * sizeof(T));
  return out;
}

/// A file as the format lays it out: u64 little-endian header length, header text, data buffer.
std::vector<uint8_t> file_of(const std::string& header, const std::vector<uint8_t>& data = {}) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i)));
  }
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

SafetensorsFile decode(const std::vector<uint8_t>& bytes) {
  return decode_safetensors(bytes.data(), bytes.size(), kPath);
}

/// Succeeds when decoding fails with one line that starts with "<kPath>: " and contains `what`.
::testing::AssertionResult rejected(const std::vector<uint8_t>& bytes, const std::string& what) {
  const std::string msg = error_of([&] { decode(bytes); });
  if (msg.rfind(kPath + ": ", 0) != 0 || msg.find(what) == std::string::npos ||
      msg.find('\n') != std::string::npos) {
    return ::testing::AssertionFailure() << "message '" << msg << "' lacks '" << what << "'";
  }
  return ::testing::AssertionSuccess();
}

/// A one-tensor header: {"t": {"dtype": .., "shape": .., "data_offsets": ..}}.
std::string one_tensor(const std::string& dtype, const std::string& shape,
                       const std::string& offsets) {
  return "{\"t\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets +
         "}}";
}

TEST(Safetensors, RoundTripKeepsDtypesBytesAndMetadata) {
  const std::vector<TensorRecord> tensors = {
      make_record<float>("blocks.0.attn.qkv.weight", DType::F32, {2, 3},
                         {1.f, -2.f, 0.5f, 1e-30f, std::numeric_limits<float>::infinity(), 7.f}),
      make_record<uint16_t>("bf16", DType::BF16, {4}, {0x3f80, 0xc000, 0x0001, 0x7fc0}),
      make_record<int64_t>("steps", DType::I64, {2}, {-5, int64_t{1} << 40}),
      make_record<int32_t>("ids", DType::I32, {}, {42}),
      make_record<uint8_t>("empty", DType::U8, {0, 3}, {}),
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"epoch", "3"}};
  const std::vector<uint8_t> bytes = encode_safetensors(tensors, metadata);
  const SafetensorsFile f = decode(bytes);

  EXPECT_EQ(f.source, kPath);
  EXPECT_EQ(f.metadata, metadata);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (const TensorRecord& want : tensors) {
    ASSERT_TRUE(f.contains(want.name)) << want.name;
    const TensorRecord& got = f.get(want.name);
    EXPECT_EQ(got.dtype, want.dtype) << want.name;
    EXPECT_EQ(got.shape, want.shape) << want.name;
    EXPECT_EQ(got.data, want.data) << want.name;
  }
  // Written in name order and contiguous, so read back in name order ("empty" and "ids" share
  // offset 32: ties go by name).
  std::vector<std::string> names;
  for (const TensorRecord& t : f.tensors) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bf16", "blocks.0.attn.qkv.weight", "empty", "ids",
                                             "steps"}));
  EXPECT_FALSE(f.contains("head.weight"));
}

TEST(Safetensors, EncodedLayoutFollowsThePythonLibrary) {
  const std::vector<TensorRecord> tensors = {
      make_record<float>("b", DType::F32, {1}, {2.f}),
      make_record<float>("a", DType::F32, {2}, {1.f, 3.f}),
  };
  const std::vector<uint8_t> bytes = encode_safetensors(tensors, {});
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  ASSERT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 12);
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
  const nlohmann::json h = nlohmann::json::parse(header);
  EXPECT_FALSE(h.contains("__metadata__"));
  EXPECT_EQ(h["a"]["data_offsets"], nlohmann::json::array({0, 8}));
  EXPECT_EQ(h["b"]["data_offsets"], nlohmann::json::array({8, 12}));
  EXPECT_EQ(h["a"]["dtype"], "F32");
  EXPECT_EQ(h["a"]["shape"], nlohmann::json::array({2}));
  EXPECT_EQ(header.find_first_not_of(' ', header.find_last_of('}') + 1), std::string::npos);
  float first;
  std::memcpy(&first, bytes.data() + 8 + n, 4);
  EXPECT_EQ(first, 1.f);  // "a" comes first in the data buffer
}

TEST(Safetensors, HandBuiltTimmFileDecodesWithHalfToFloat) {
  // The JSON header exactly as the Python library writes it (compact, metadata first), padded
  // with spaces to 184 = 23 * 8 bytes. The F16 weight comes first in the data buffer.
  const std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"patch_embed.proj.weight\":{\"dtype\":\"F16\",\"shape\":[2,1,2,2],"
      "\"data_offsets\":[0,16]},"
      "\"cls_token\":{\"dtype\":\"F32\",\"shape\":[1,1,4],\"data_offsets\":[16,32]}}   ";
  ASSERT_EQ(header.size(), 184u);
  std::vector<uint8_t> bytes = {0xb8, 0, 0, 0, 0, 0, 0, 0};  // u64 LE header length 184
  bytes.insert(bytes.end(), header.begin(), header.end());
  const std::vector<uint8_t> data = {
      // patch_embed.proj.weight, F16 little-endian: 1.0, -2.5, 65504 (max), 2^-24 (smallest
      // subnormal), 1023 * 2^-24 (largest subnormal), +inf, -inf, NaN
      0x00, 0x3c, 0x00, 0xc1, 0xff, 0x7b, 0x01, 0x00, 0xff, 0x03, 0x00, 0x7c, 0x00, 0xfc, 0x00,
      0x7e,
      // cls_token, F32 little-endian: 0.5, -1.0, 2.0, 0.25
      0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x80,
      0x3e};
  bytes.insert(bytes.end(), data.begin(), data.end());

  const SafetensorsFile f = decode(bytes);
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "patch_embed.proj.weight");  // by data offset, not by name
  EXPECT_EQ(f.tensors[1].name, "cls_token");

  const TensorRecord& cls = f.get("cls_token");
  EXPECT_EQ(cls.dtype, DType::F32);
  EXPECT_EQ(cls.shape, (std::vector<int64_t>{1, 1, 4}));
  EXPECT_EQ(values_of<float>(cls), (std::vector<float>{0.5f, -1.f, 2.f, 0.25f}));

  const TensorRecord& w = f.get("patch_embed.proj.weight");
  EXPECT_EQ(w.dtype, DType::F32);
  EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 1, 2, 2}));
  ASSERT_EQ(w.data.size(), 8 * sizeof(float));
  const std::vector<float> v = values_of<float>(w);
  EXPECT_EQ(v[0], 1.f);
  EXPECT_EQ(v[1], -2.5f);
  EXPECT_EQ(v[2], 65504.f);
  EXPECT_EQ(v[3], std::ldexp(1.f, -24));
  EXPECT_EQ(v[4], std::ldexp(1023.f, -24));
  EXPECT_EQ(v[5], std::numeric_limits<float>::infinity());
  EXPECT_EQ(v[6], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(v[7]));
}

TEST(Safetensors, HalfZeroKeepsItsSignAndF64BecomesF32) {
  const std::vector<uint8_t> halves = {0x00, 0x00, 0x00, 0x80};  // +0, -0
  const SafetensorsFile h = decode(file_of(one_tensor("F16", "[2]", "[0,4]"), halves));
  const std::vector<float> hv = values_of<float>(h.get("t"));
  ASSERT_EQ(hv.size(), 2u);
  EXPECT_TRUE(hv[0] == 0.f && !std::signbit(hv[0]));
  EXPECT_TRUE(hv[1] == 0.f && std::signbit(hv[1]));

  const std::vector<double> doubles = {1.5, -3.0, 0.1};
  std::vector<uint8_t> data(doubles.size() * sizeof(double));
  std::memcpy(data.data(), doubles.data(), data.size());
  const SafetensorsFile d = decode(file_of(one_tensor("F64", "[3,1]", "[0,24]"), data));
  EXPECT_EQ(d.get("t").dtype, DType::F32);
  EXPECT_EQ(d.get("t").shape, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(values_of<float>(d.get("t")), (std::vector<float>{1.5f, -3.f, 0.1f}));
}

TEST(Safetensors, EmptyHeaderAndPaddingAreAccepted) {
  EXPECT_TRUE(decode(file_of("{}")).tensors.empty());
  EXPECT_TRUE(decode(file_of("{}      ")).tensors.empty());
  const SafetensorsFile f =
      decode(file_of(one_tensor("U8", "[3]", "[0,3]") + std::string(13, ' '), {7, 8, 9}));
  EXPECT_EQ(f.get("t").data, (std::vector<uint8_t>{7, 8, 9}));
}

TEST(Safetensors, ShortFileAndHeaderLengthAreErrors) {
  EXPECT_TRUE(rejected({}, "too short"));
  EXPECT_TRUE(rejected({2, 0, 0, 0, 0}, "too short"));
  std::vector<uint8_t> beyond = file_of("{}");
  beyond[0] = 200;  // claims 200 header bytes, has 2
  EXPECT_TRUE(rejected(beyond, "header length 200"));
  std::vector<uint8_t> huge = file_of("{}");
  huge[5] = 1;  // 2^40 + 2 bytes
  EXPECT_TRUE(rejected(huge, "100 MiB"));
}

TEST(Safetensors, BadJsonIsAnError) {
  EXPECT_TRUE(rejected(file_of("{\"t\": "), "not valid JSON"));
  EXPECT_TRUE(rejected(file_of(""), "not valid JSON"));
  EXPECT_TRUE(rejected(file_of("{} trailing"), "not valid JSON"));
  EXPECT_TRUE(rejected(file_of("{\"\xff\xfe\":{}}"), "not valid JSON"));  // invalid UTF-8
  EXPECT_TRUE(rejected(file_of("[1,2]"), "not a JSON object"));
  EXPECT_TRUE(rejected(file_of("{\"__metadata__\":{\"format\":1}}"), "metadata \"format\""));
  EXPECT_TRUE(rejected(file_of("{\"__metadata__\":[]}"), "__metadata__"));
}

TEST(Safetensors, MalformedEntriesAreErrors) {
  EXPECT_TRUE(rejected(file_of("{\"t\":3}"), "\"t\" is not a JSON object"));
  EXPECT_TRUE(rejected(file_of("{\"t\":{\"shape\":[1],\"data_offsets\":[0,1]}}"), "\"dtype\""));
  EXPECT_TRUE(rejected(file_of("{\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}"), "\"shape\""));
  EXPECT_TRUE(rejected(file_of("{\"t\":{\"dtype\":\"U8\",\"shape\":[1]}}"), "data_offsets"));
  EXPECT_TRUE(rejected(file_of(one_tensor("U8", "\"1\"", "[0,1]"), {1}), "\"shape\""));
  EXPECT_TRUE(rejected(file_of(one_tensor("U8", "[1.5]", "[0,1]"), {1}), "not an integer"));
  EXPECT_TRUE(rejected(file_of(one_tensor("U8", "[1]", "[0,1,2]"), {1}), "data_offsets"));
  EXPECT_TRUE(rejected(file_of(one_tensor("U8", "[1]", "[-1,0]"), {1}), "data_offsets"));
  EXPECT_TRUE(rejected(file_of(one_tensor("U8", "[2,-1]", "[0,1]"), {1}), "negative"));
  EXPECT_TRUE(rejected(file_of(one_tensor("U8", "[1099511627776,1099511627776]", "[0,1]"), {1}),
                       "too many elements"));
  EXPECT_TRUE(rejected(file_of(one_tensor("U8", "[18446744073709551615]", "[0,1]"), {1}),
                       "too large"));
}

TEST(Safetensors, OffsetsAndSizesAreChecked) {
  const std::vector<uint8_t> eight(8, 0);
  EXPECT_TRUE(rejected(file_of(one_tensor("F32", "[2]", "[8,0]"), eight), "end before"));
  EXPECT_TRUE(rejected(file_of(one_tensor("F32", "[2]", "[0,16]"), eight), "data buffer holds 8"));
  EXPECT_TRUE(rejected(file_of(one_tensor("F32", "[3]", "[0,8]"), eight), "needs 12"));
  EXPECT_TRUE(rejected(file_of(one_tensor("I64", "[2]", "[0,8]"), eight), "needs 16"));
  EXPECT_TRUE(rejected(file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                               "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
                               eight),
                       "overlap"));
  // An empty tensor may share its offset with the next one.
  EXPECT_EQ(decode(file_of("{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                           eight))
                .tensors.size(),
            2u);

  // A real file cut short: its last tensor now reaches past the end.
  std::vector<uint8_t> truncated =
      encode_safetensors({make_record<float>("w", DType::F32, {4}, {1.f, 2.f, 3.f, 4.f})}, {});
  truncated.resize(truncated.size() - 3);
  EXPECT_TRUE(rejected(truncated, "truncated?"));
}

TEST(Safetensors, UnsupportedDtypeNamesTensorAndDtype) {
  EXPECT_TRUE(rejected(file_of(one_tensor("I8", "[2]", "[0,2]"), {1, 2}),
                       "tensor \"t\" has unsupported dtype \"I8\""));
  EXPECT_TRUE(rejected(file_of(one_tensor("BOOL", "[1]", "[0,1]"), {1}), "\"BOOL\""));
  EXPECT_TRUE(rejected(file_of(one_tensor("F8_E4M3", "[1]", "[0,1]"), {1}), "\"F8_E4M3\""));
  EXPECT_TRUE(rejected(file_of("{\"t\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,1]}}", {1}),
                       "\"dtype\""));
}

TEST(Safetensors, EncodeRejectsDuplicatesAndBadRecords) {
  const TensorRecord a = make_record<float>("a", DType::F32, {1}, {1.f});
  EXPECT_NE(error_of([&] { encode_safetensors({a, a}, {}); }).find("duplicate tensor name \"a\""),
            std::string::npos);
  TensorRecord short_data = a;
  short_data.shape = {2};
  EXPECT_NE(error_of([&] { encode_safetensors({short_data}, {}); }).find("needs 8"),
            std::string::npos);
  TensorRecord reserved = a;
  reserved.name = "__metadata__";
  EXPECT_NE(error_of([&] { encode_safetensors({reserved}, {}); }), "");
  TensorRecord not_utf8 = a;
  not_utf8.name = "\xff";
  EXPECT_NE(error_of([&] { encode_safetensors({not_utf8}, {}); }).find("UTF-8"),
            std::string::npos);
}

TEST(Safetensors, SaveAndLoadNameTheFile) {
  const testing::TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, {make_record<int32_t>("n", DType::I32, {2}, {3, -4})}, {{"k", "v"}});
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.source, path);
  EXPECT_EQ(values_of<int32_t>(f.get("n")), (std::vector<int32_t>{3, -4}));
  EXPECT_EQ(f.metadata.at("k"), "v");

  const std::string missing = error_of([&] { f.get("head.bias"); });
  EXPECT_EQ(missing.rfind(path + ": ", 0), 0u) << missing;
  EXPECT_NE(missing.find("head.bias"), std::string::npos) << missing;

  const std::string absent = dir.file("absent.safetensors");
  EXPECT_NE(error_of([&] { load_safetensors(absent); }).find(absent), std::string::npos);
  const TensorRecord a = make_record<float>("a", DType::F32, {1}, {1.f});
  const std::string dup = error_of([&] { save_safetensors(path, {a, a}, {}); });
  EXPECT_EQ(dup.rfind(path + ": ", 0), 0u) << dup;
  EXPECT_EQ(load_safetensors(path).tensors.size(), 1u);  // the failed save left the file alone
}

}  // namespace
}  // namespace clustermim
