/*
 * Token files: tokens and labels in one .npz or .safetensors, or in two files (.npy + .npy,
 * .npy + .safetensors), any integer dtype, per-image or per-patch labels, vocab given or taken
 * as max id + 1; what save_token_labels writes loads back (the tokens alone for unlabeled
 * images); and every problem named in issue 19 (ndim, float dtype, negative ids, ids >= vocab,
 * label count, label shape, missing member, empty arrays, values beyond int32, a lone .npy) is a
 * one-line Error naming the file.
 */
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "metrics/token_file.h"
#include "support/fixtures.h"

namespace clustermim {
namespace {

using testing::error_of;

/// An array of `dtype` holding `values` (little-endian, truncated to the dtype's width).
NpyArray array_of(const std::string& name, NpyDType dtype, std::vector<int64_t> shape,
                  const std::vector<int64_t>& values) {
  NpyArray a;
  a.name = name;
  a.dtype = dtype;
  a.shape = std::move(shape);
  for (int64_t v : values) {
    for (size_t i = 0; i < npy_itemsize(dtype); ++i) a.data.push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i)));
  }
  return a;
}

TensorRecord tensor_of(const std::string& name, DType dtype, std::vector<int64_t> shape,
                       const std::vector<int64_t>& values) {
  TensorRecord t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  for (int64_t v : values) {
    for (size_t i = 0; i < dtype_size(dtype); ++i) t.data.push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i)));
  }
  return t;
}

const std::vector<int64_t> kTokens = {0, 3, 3, 1, 2, 2};  // [3, 2]
const std::vector<int64_t> kLabels = {1, 0, 1};          // [3]

class TokenFile : public ::testing::Test {
 protected:
  testing::TempDir dir;

  /// The message of loading, which must be one line starting with `file`.
  std::string error(const std::string& tokens, const std::string& labels = "", int64_t vocab = 0) {
    const std::string message = error_of([&] { load_token_labels(tokens, labels, vocab); });
    const std::string named = labels.empty() ? tokens : labels;
    EXPECT_TRUE(message.rfind(tokens + ": ", 0) == 0 || message.rfind(named + ": ", 0) == 0) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }
};

TEST_F(TokenFile, OneNpzWithAnyIntegerDtypes) {
  save_npz(dir.file("a.npz"), {array_of("tokens", NpyDType::U16, {3, 2}, kTokens),
                               array_of("labels", NpyDType::I64, {3}, kLabels)});
  const TokenLabelSet s = load_token_labels(dir.file("a.npz"), "");
  EXPECT_EQ(s.images, 3);
  EXPECT_EQ(s.patches, 2);
  EXPECT_EQ(s.vocab, 4);  // max id + 1
  EXPECT_EQ(s.num_classes, 2);
  EXPECT_FALSE(s.labels_per_patch);
  EXPECT_EQ(s.tokens, (std::vector<int32_t>{0, 3, 3, 1, 2, 2}));
  EXPECT_EQ(s.labels, (std::vector<int32_t>{1, 0, 1}));
  EXPECT_EQ(load_token_labels(dir.file("a.npz"), "", 10).vocab, 10);
}

TEST_F(TokenFile, TwoFilesAndPerPatchLabels) {
  save_npy(dir.file("t.npy"), array_of("", NpyDType::Bool, {3, 2}, {0, 1, 1, 0, 1, 1}));
  save_npy(dir.file("l.npy"), array_of("", NpyDType::U8, {3, 2}, {0, 0, 1, 1, 2, 2}));
  TokenLabelSet s = load_token_labels(dir.file("t.npy"), dir.file("l.npy"));
  EXPECT_TRUE(s.labels_per_patch);
  EXPECT_EQ(s.vocab, 2);
  EXPECT_EQ(s.num_classes, 3);
  EXPECT_EQ(s.labels, (std::vector<int32_t>{0, 0, 1, 1, 2, 2}));
  save_safetensors(dir.file("l.safetensors"), {tensor_of("labels", DType::U8, {3}, kLabels)}, {});
  s = load_token_labels(dir.file("t.npy"), dir.file("l.safetensors"));
  EXPECT_EQ(s.labels, (std::vector<int32_t>{1, 0, 1}));
  save_safetensors(dir.file("both.safetensors"), {tensor_of("tokens", DType::I64, {3, 2}, kTokens),
                                                  tensor_of("labels", DType::I32, {3}, kLabels)},
                   {});
  s = load_token_labels(dir.file("both.safetensors"), "");
  EXPECT_EQ(s.tokens, (std::vector<int32_t>{0, 3, 3, 1, 2, 2}));
}

TEST_F(TokenFile, WhatTheWriterWritesLoadsBack) {
  TokenLabelSet set;
  set.images = 2;
  set.patches = 3;
  set.vocab = 9;
  set.num_classes = 4;
  set.tokens = {8, 0, 1, 2, 3, 4};
  set.labels = {3, 1};
  for (const char* name : {"w.npz", "w.safetensors"}) {
    save_token_labels(dir.file(name), set);
    const TokenLabelSet back = load_token_labels(dir.file(name), "", 9);
    EXPECT_EQ(back.tokens, set.tokens) << name;
    EXPECT_EQ(back.labels, set.labels) << name;
    EXPECT_EQ(back.vocab, 9) << name;
  }
  save_token_labels(dir.file("w.npy"), set);
  const NpyArray tokens = load_npy(dir.file("w.npy"));
  EXPECT_EQ(tokens.dtype, NpyDType::I32);
  EXPECT_EQ(tokens.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_NE(error_of([&] { save_token_labels(dir.file("w.txt"), set); }).find("w.txt: not a token file"),
            std::string::npos);
  // Unlabeled images (no classes, labels -1): the tokens alone, labels to come from another file.
  set.num_classes = 0;
  set.labels = {-1, -1};
  save_npy(dir.file("y.npy"), make_npy_int32("labels", {2}, {3, 1}));
  for (const char* name : {"u.npz", "u.safetensors"}) {
    save_token_labels(dir.file(name), set);
    EXPECT_NE(error_of([&] { load_token_labels(dir.file(name), ""); }).find("no 'labels'"),
              std::string::npos)
        << name;
    const TokenLabelSet back = load_token_labels(dir.file(name), dir.file("y.npy"), 9);
    EXPECT_EQ(back.tokens, set.tokens) << name;
    EXPECT_EQ(back.labels, (std::vector<int32_t>{3, 1})) << name;
  }
  EXPECT_EQ(load_npz(dir.file("u.npz")).size(), 1u);
  EXPECT_FALSE(load_safetensors(dir.file("u.safetensors")).contains("labels"));
}

TEST_F(TokenFile, DecodesFromMemory) {
  const std::vector<uint8_t> bytes = encode_npz({array_of("tokens", NpyDType::I32, {3, 2}, kTokens),
                                                 array_of("labels", NpyDType::I32, {3}, kLabels)});
  const TokenLabelSet s = decode_token_labels(bytes.data(), bytes.size(), "mem.npz");
  EXPECT_EQ(s.images, 3);
  EXPECT_EQ(s.num_classes, 2);
  EXPECT_NE(error_of([&] { decode_token_labels(bytes.data(), bytes.size(), "mem.npz", 3); })
                .find("mem.npz: token id 3 at image 0 patch 1 is outside [0, 3)"),
            std::string::npos);
}

TEST_F(TokenFile, EveryProblemIsAOneLineErrorNamingTheFile) {
  auto npz = [&](const std::string& name, const NpyArray& tokens, const NpyArray& labels) {
    save_npz(dir.file(name), {tokens, labels});
    return dir.file(name);
  };
  const NpyArray labels = array_of("labels", NpyDType::I32, {3}, kLabels);
  EXPECT_NE(error(npz("1d.npz", array_of("tokens", NpyDType::I32, {6}, kTokens), labels))
                .find("tokens have shape [6] (one id per image); TCAS needs [N, L]"),
            std::string::npos);
  EXPECT_NE(error(npz("3d.npz", array_of("tokens", NpyDType::I32, {3, 2, 1}, kTokens), labels))
                .find("tokens must be [N, L], got shape [3, 2, 1]"),
            std::string::npos);
  EXPECT_NE(error(npz("neg.npz", array_of("tokens", NpyDType::I8, {3, 2}, {0, 1, 2, -4, 0, 0}), labels))
                .find("tokens: negative value -4 at [1, 1]"),
            std::string::npos);
  EXPECT_NE(error(npz("big.npz", array_of("tokens", NpyDType::I64, {3, 2}, {0, 1, 2, int64_t{1} << 31, 0, 0}), labels))
                .find("tokens: value 2147483648 at [1, 1] is beyond int32"),
            std::string::npos);
  const std::string ok = npz("ok.npz", array_of("tokens", NpyDType::I32, {3, 2}, kTokens), labels);
  EXPECT_NE(error(ok, "", 3).find("token id 3 at image 0 patch 1 is outside [0, 3)"), std::string::npos);
  EXPECT_NE(error(npz("count.npz", array_of("tokens", NpyDType::I32, {3, 2}, kTokens),
                      array_of("labels", NpyDType::I32, {2}, {0, 1})))
                .find("2 labels for 3 images"),
            std::string::npos);
  EXPECT_NE(error(npz("lshape.npz", array_of("tokens", NpyDType::I32, {3, 2}, kTokens),
                      array_of("labels", NpyDType::I32, {3, 1}, kLabels)))
                .find("per-patch labels [3, 1] do not match tokens [3, 2]"),
            std::string::npos);
  EXPECT_NE(error(npz("l3d.npz", array_of("tokens", NpyDType::I32, {3, 2}, kTokens),
                      array_of("labels", NpyDType::I32, {3, 1, 1}, kLabels)))
                .find("labels must be [N] or [N, L]"),
            std::string::npos);
  EXPECT_NE(error(npz("empty.npz", array_of("tokens", NpyDType::I32, {0, 2}, {}),
                      array_of("labels", NpyDType::I32, {0}, {})))
                .find("tokens are empty (shape [0, 2])"),
            std::string::npos);
  EXPECT_NE(error(npz("member.npz", array_of("tokens", NpyDType::I32, {3, 2}, kTokens),
                      array_of("classes", NpyDType::I32, {3}, kLabels)))
                .find("has no 'labels' array (it holds: tokens, classes)"),
            std::string::npos);
  save_safetensors(dir.file("f.safetensors"),
                   {tensor_of("tokens", DType::F32, {3, 2}, kTokens), tensor_of("labels", DType::I32, {3}, kLabels)}, {});
  EXPECT_NE(error(dir.file("f.safetensors")).find("tokens: dtype F32 is floating point"), std::string::npos);
  save_npy(dir.file("t.npy"), array_of("", NpyDType::I32, {3, 2}, kTokens));
  EXPECT_NE(error(dir.file("t.npy")).find("give the labels in a second file"), std::string::npos);
  EXPECT_NE(error(dir.file("t.npy"), dir.file("missing.npy")).find("missing.npy"), std::string::npos);
  EXPECT_EQ(load_token_labels(dir.file("t.npy"), ok).labels, (std::vector<int32_t>{1, 0, 1}));
}

}  // namespace
}  // namespace clustermim
