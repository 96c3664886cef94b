/*
 * .npy / .npz: every integer dtype survives encode -> decode; headers written byte by byte as
 * NumPy writes them (versions 1.0, 2.0 and 3.0, double quotes, Python 2 'L' dimensions, a
 * scalar, a big-endian array) decode to the expected values; an .npz made by
 * np.savez_compressed (deflated, zip64 extras) decodes; the files the writer makes load back;
 * and every malformed input is a one-line Error naming the file.
 */
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/file_util.h"
#include "io/npy.h"
#include "support/fixtures.h"

namespace clustermim {
namespace {

using testing::error_of;

const std::string kPath = "tokens.npy";

/// A .npy file as the format lays it out: magic, version, header length, header, data.
std::vector<uint8_t> npy_bytes(const std::string& header, const std::vector<uint8_t>& data,
                               int major = 1) {
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const size_t length_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < length_bytes; ++i) out.push_back(static_cast<uint8_t>(header.size() >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

NpyArray decode(const std::vector<uint8_t>& bytes) {
  return decode_npy(bytes.data(), bytes.size(), kPath);
}

std::vector<int64_t> values_of(const NpyArray& a) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < a.numel(); ++i) out.push_back(a.value(i));
  return out;
}

/// What np.savez_compressed(f, tokens=np.array([[0,1,2],[3,4,0]], np.int16),
/// labels=np.array([1,0], np.uint8)) wrote with NumPy 1.24: deflated members with zip64 extras.
const char kNumpyNpz[] =
    "\x50\x4b\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x21\x00\x5f\xba\xef\x03\x52\x00\x00\x00\x8c\x00"
    "\x00\x00\x0a\x00\x14\x00\x74\x6f\x6b\x65\x6e\x73\x2e\x6e\x70\x79\x01\x00\x10\x00\x8c\x00\x00\x00"
    "\x00\x00\x00\x00\x52\x00\x00\x00\x00\x00\x00\x00\x9b\xec\x17\xea\x1b\x10\xc9\xc8\x50\xc6\x50\xad"
    "\x9e\x92\x5a\x9c\x5c\xa4\x6e\xa5\xa0\x6e\x93\x69\xa4\xae\xa3\xa0\x9e\x96\x5f\x54\x52\x94\x98\x17"
    "\x9f\x5f\x94\x92\x0a\x12\x77\x4b\xcc\x29\x4e\x05\x8a\x17\x67\x24\x16\xa4\x02\xf9\x1a\x46\x3a\x0a"
    "\xc6\x9a\x3a\x0a\xb5\x0a\x64\x03\x2e\x06\x06\x46\x06\x26\x06\x66\x06\x16\x06\x06\x06\x00\x50\x4b"
    "\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x21\x00\x4e\x63\x6b\xb1\x46\x00\x00\x00\x82\x00\x00\x00"
    "\x0a\x00\x14\x00\x6c\x61\x62\x65\x6c\x73\x2e\x6e\x70\x79\x01\x00\x10\x00\x82\x00\x00\x00\x00\x00"
    "\x00\x00\x46\x00\x00\x00\x00\x00\x00\x00\x9b\xec\x17\xea\x1b\x10\xc9\xc8\x50\xc6\x50\xad\x9e\x92"
    "\x5a\x9c\x5c\xa4\x6e\xa5\xa0\x5e\x53\x6a\xa8\xae\xa3\xa0\x9e\x96\x5f\x54\x52\x94\x98\x17\x9f\x5f"
    "\x94\x92\x0a\x12\x77\x4b\xcc\x29\x4e\x05\x8a\x17\x67\x24\x16\xa4\x02\xf9\x1a\x46\x3a\x9a\x3a\x0a"
    "\xb5\x0a\x14\x00\x2e\x46\x06\x00\x50\x4b\x01\x02\x14\x03\x14\x00\x00\x00\x08\x00\x00\x00\x21\x00"
    "\x5f\xba\xef\x03\x52\x00\x00\x00\x8c\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x80\x01\x00\x00\x00\x00\x74\x6f\x6b\x65\x6e\x73\x2e\x6e\x70\x79\x50\x4b\x01\x02\x14\x03\x14\x00"
    "\x00\x00\x08\x00\x00\x00\x21\x00\x4e\x63\x6b\xb1\x46\x00\x00\x00\x82\x00\x00\x00\x0a\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x80\x01\x8e\x00\x00\x00\x6c\x61\x62\x65\x6c\x73\x2e\x6e\x70\x79"
    "\x50\x4b\x05\x06\x00\x00\x00\x00\x02\x00\x02\x00\x70\x00\x00\x00\x10\x01\x00\x00\x00\x00";

TEST(Npy, EveryDtypeRoundTrips) {
  for (NpyDType dtype : {NpyDType::Bool, NpyDType::U8, NpyDType::I8, NpyDType::U16, NpyDType::I16,
                         NpyDType::U32, NpyDType::I32, NpyDType::U64, NpyDType::I64}) {
    NpyArray a;
    a.dtype = dtype;
    a.shape = {2, 3};
    for (int i = 0; i < 6; ++i) {
      a.data.push_back(static_cast<uint8_t>(i % 2));
      a.data.resize(a.data.size() + npy_itemsize(dtype) - 1, 0);
    }
    const std::vector<uint8_t> bytes = encode_npy(a);
    EXPECT_EQ(bytes.size() % 64, a.data.size() % 64) << npy_descr(dtype);  // header padded to 64
    const NpyArray b = decode(bytes);
    EXPECT_EQ(b.dtype, dtype);
    EXPECT_EQ(b.shape, a.shape);
    EXPECT_EQ(b.data, a.data);
    EXPECT_EQ(values_of(b), (std::vector<int64_t>{0, 1, 0, 1, 0, 1}));
  }
}

TEST(Npy, HeadersAsNumpyWritesThem) {
  // Version 1.0, little-endian int16 with a negative value.
  NpyArray a = decode(npy_bytes("{'descr': '<i2', 'fortran_order': False, 'shape': (2, 2), }   \n",
                                {1, 0, 0xfe, 0xff, 0, 0x80, 0xff, 0x7f}));
  EXPECT_EQ(a.dtype, NpyDType::I16);
  EXPECT_EQ(values_of(a), (std::vector<int64_t>{1, -2, -32768, 32767}));
  // Version 2.0 with double quotes and Python 2 long dimensions.
  a = decode(npy_bytes("{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (3L,)}\n",
                       {7, 8, 255}, 2));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(values_of(a), (std::vector<int64_t>{7, 8, 255}));
  // Version 3.0, a scalar.
  a = decode(npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (), }\n",
                       {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 3));
  EXPECT_TRUE(a.shape.empty());
  EXPECT_EQ(values_of(a), (std::vector<int64_t>{-1}));
  // Big-endian uint16 is byte-swapped to little-endian.
  a = decode(npy_bytes("{'descr': '>u2', 'fortran_order': False, 'shape': (2,), }\n",
                       {0x01, 0x02, 0x00, 0x05}));
  EXPECT_EQ(a.dtype, NpyDType::U16);
  EXPECT_EQ(values_of(a), (std::vector<int64_t>{258, 5}));
  EXPECT_EQ(a.data, (std::vector<uint8_t>{0x02, 0x01, 0x05, 0x00}));
  // uint64 beyond int64 saturates; an empty dimension gives no elements.
  a = decode(npy_bytes("{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }\n",
                       std::vector<uint8_t>(8, 0xff)));
  EXPECT_EQ(a.value(0), std::numeric_limits<int64_t>::max());
  a = decode(npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (0, 5), }\n", {}));
  EXPECT_EQ(a.numel(), 0);
}

TEST(Npy, NumpySavezCompressedDecodes) {
  const std::vector<uint8_t> bytes(kNumpyNpz, kNumpyNpz + sizeof(kNumpyNpz) - 1);
  const std::vector<NpyArray> arrays = decode_npz(bytes.data(), bytes.size(), "numpy.npz");
  ASSERT_EQ(arrays.size(), 2u);
  EXPECT_EQ(arrays[0].name, "tokens");
  EXPECT_EQ(arrays[0].dtype, NpyDType::I16);
  EXPECT_EQ(arrays[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values_of(arrays[0]), (std::vector<int64_t>{0, 1, 2, 3, 4, 0}));
  EXPECT_EQ(arrays[1].name, "labels");
  EXPECT_EQ(values_of(arrays[1]), (std::vector<int64_t>{1, 0}));
}

TEST(Npy, WriterFilesLoadBack) {
  testing::TempDir dir;
  const NpyArray tokens = make_npy_int32("tokens", {2, 2}, {0, -1, 5, std::numeric_limits<int32_t>::max()});
  const NpyArray labels = make_npy_int32("labels", {2}, {1, 0});
  save_npy(dir.file("t.npy"), tokens);
  save_npz(dir.file("both.npz"), {tokens, labels});
  const NpyArray t = load_npy(dir.file("t.npy"));
  EXPECT_EQ(t.dtype, NpyDType::I32);
  EXPECT_EQ(values_of(t), (std::vector<int64_t>{0, -1, 5, std::numeric_limits<int32_t>::max()}));
  const std::vector<NpyArray> both = load_npz(dir.file("both.npz"));
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].name, "tokens");
  EXPECT_EQ(both[0].data, tokens.data);
  EXPECT_EQ(both[1].name, "labels");
  EXPECT_EQ(both[1].shape, (std::vector<int64_t>{2}));
  EXPECT_NE(error_of([] { encode_npz({make_npy_int32("a", {1}, {1}), make_npy_int32("a", {1}, {2})}); }), "");
  EXPECT_NE(error_of([] { make_npy_int32("a", {2}, {1}); }), "");
}

/// The message of decoding `bytes`, which must be one line naming the file.
std::string npy_error(const std::vector<uint8_t>& bytes) {
  const std::string message = error_of([&] { decode(bytes); });
  EXPECT_NE(message.find(kPath + ": "), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  return message;
}

std::vector<uint8_t> with_header(const std::string& dict, const std::vector<uint8_t>& data = {}) {
  return npy_bytes(dict + "\n", data);
}

TEST(Npy, MalformedNpyIsAOneLineError) {
  EXPECT_NE(npy_error({0x93, 'N', 'U'}).find("too short"), std::string::npos);
  std::vector<uint8_t> bad = with_header("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", {0, 0, 0, 0});
  bad[1] = 'X';
  EXPECT_NE(npy_error(bad).find("magic"), std::string::npos);
  bad = npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }\n", {0, 0, 0, 0}, 4);
  EXPECT_NE(npy_error(bad).find("version 4.0"), std::string::npos);
  bad = with_header("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", {0, 0, 0, 0});
  bad[8] = 0xff;  // header length past the end
  EXPECT_NE(npy_error(bad).find("runs past the end"), std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", {0, 0, 0, 0}))
                .find("\"<f4\" is floating point"),
            std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", {0}))
                .find("unsupported dtype \"|O\""),
            std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': '=i4', 'fortran_order': False, 'shape': (1,), }", {0, 0, 0, 0}))
                .find("unsupported dtype"),
            std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }"))
                .find("structured"),
            std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': '<i4', 'fortran_order': True, 'shape': (1,), }", {0, 0, 0, 0}))
                .find("Fortran order"),
            std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': '<i4', 'shape': (1,), }", {0, 0, 0, 0})).find("no 'fortran_order'"),
            std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), 'x': 1}"))
                .find("unknown key"),
            std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': '<i4', 'fortran_order': False, 'shape': (-1,), }")).find("shape"),
            std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", {0, 0, 0, 0}))
                .find("needs 24 data bytes, the file holds 4"),
            std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", {0, 0, 0, 0, 0}))
                .find("the file holds 5"),
            std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': '<i8', 'fortran_order': False, 'shape': (1048576, 1048576, 1048576), }"))
                .find("too many elements"),
            std::string::npos);
  EXPECT_NE(npy_error(with_header("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), } x")).find("after its dict"),
            std::string::npos);
}

TEST(Npy, MalformedNpzIsAOneLineError) {
  auto npz_error = [](const std::vector<uint8_t>& bytes) {
    const std::string message = error_of([&] { decode_npz(bytes.data(), bytes.size(), "both.npz"); });
    EXPECT_EQ(message.rfind("both.npz", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  };
  EXPECT_NE(npz_error({}).find("empty file"), std::string::npos);
  EXPECT_NE(npz_error({'n', 'o', 't', ' ', 'a', ' ', 'z', 'i', 'p'}).find("not an .npz"), std::string::npos);
  // Two members renamed to the same name (the CRC covers only the data, so the zip stays valid).
  std::vector<uint8_t> twice = encode_npz({make_npy_int32("a", {1}, {1}), make_npy_int32("b", {1}, {2})});
  for (size_t i = 0; i + 5 <= twice.size(); ++i) {
    if (std::memcmp(twice.data() + i, "b.npy", 5) == 0) twice[i] = 'a';
  }
  EXPECT_NE(npz_error(twice).find("\"a.npy\" appears twice"), std::string::npos);
  // A member that is not a valid .npy (its magic changed, its CRC-32 updated) names the member.
  const NpyArray one = make_npy_int32("tokens", {1}, {1});
  std::vector<uint8_t> member = encode_npy(one);
  member[1] = 'X';
  std::vector<uint8_t> broken = encode_npz({one});
  const size_t data_at = 30 + std::string("tokens.npy").size();  // after the local header
  std::copy(member.begin(), member.end(), broken.begin() + data_at);
  const uint32_t crc = static_cast<uint32_t>(crc32(0, member.data(), member.size()));
  const size_t directory_at = data_at + member.size();
  for (size_t at : {size_t{14}, directory_at + 16}) {  // CRC-32 in the local and central headers
    for (int i = 0; i < 4; ++i) broken[at + i] = static_cast<uint8_t>(crc >> (8 * i));
  }
  const std::string message = npz_error(broken);
  EXPECT_NE(message.find("member tokens.npy"), std::string::npos) << message;
}

}  // namespace
}  // namespace clustermim
