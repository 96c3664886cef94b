/*
 * Reader and writer for NumPy's .npy and .npz files, so that token ids produced in Python
 * (np.save / np.savez / np.savez_compressed) reach TCAS without Python or LibTorch.
 *
 * .npy layout (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 *   magic     "\x93NUMPY", then major and minor version bytes (1.0, 2.0 or 3.0)
 *   hdr_len   u16 (1.0) or u32 (2.0, 3.0) little-endian
 *   header    a Python dict literal {'descr': '<i4', 'fortran_order': False, 'shape': (N, L), }
 *             padded with spaces and a newline
 *   data      numel * itemsize bytes in C order
 * .npz is a zip archive of .npy members ("tokens.npy" is the array "tokens"), stored or
 * deflated; it is read from memory with libarchive.
 * Only integer arrays are read (|b1 |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8; big-endian '>' ones are
 * byte-swapped on reading); floats, structured and object dtypes and Fortran order are errors.
 * Every length is checked against the bytes present before anything is allocated, and every
 * error is one line naming the file. Torch-free and fuzzed (tests/fuzz/fuzz_npy.cpp).
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clustermim {

/// Element types of the arrays read and written.
enum class NpyDType { Bool, U8, I8, U16, I16, U32, I32, U64, I64 };

/// Bytes per element of `dtype`.
size_t npy_itemsize(NpyDType dtype);
/// NumPy's little-endian spelling: "|b1", "|u1", "<i4", ...
const char* npy_descr(NpyDType dtype);

/// One array: little-endian bytes in C order.
struct NpyArray {
  std::string name;            ///< the member name in an .npz (without ".npy"); "" for a .npy
  NpyDType dtype = NpyDType::I32;
  std::vector<int64_t> shape;  ///< () for a scalar
  std::vector<uint8_t> data;   ///< numel * npy_itemsize(dtype) bytes, little-endian

  int64_t numel() const;
  /// Element `i` (in C order) widened to int64; U64 values above INT64_MAX come back as
  /// INT64_MAX, Bool as 0 or 1.
  int64_t value(int64_t i) const;
};

/// An int32 array with `shape` holding `values` (numel(shape) of them), e.g. for the writer.
NpyArray make_npy_int32(const std::string& name, std::vector<int64_t> shape,
                        const std::vector<int32_t>& values);

/// Parses .npy bytes; `path` only names the file in errors. Throws Error("<path>: ...").
NpyArray decode_npy(const uint8_t* bytes, size_t size, const std::string& path);
/// Reads a .npy file; throws Error("<path>: <problem>") on any defect.
NpyArray load_npy(const std::string& path);

/// Parses .npz bytes: every "*.npy" member, in archive order (other members are skipped).
/// Duplicate member names and undecodable members are errors naming `path` and the member.
std::vector<NpyArray> decode_npz(const uint8_t* bytes, size_t size, const std::string& path);
/// Reads an .npz file; throws Error("<path>: <problem>") on any defect.
std::vector<NpyArray> load_npz(const std::string& path);

/// Serializes one array as .npy version 1.0 (header padded to a multiple of 64 bytes).
std::vector<uint8_t> encode_npy(const NpyArray& array);
/// Serializes arrays as an .npz (zip, members "<name>.npy", stored) like np.savez writes.
/// Empty or duplicate names are an Error.
std::vector<uint8_t> encode_npz(const std::vector<NpyArray>& arrays);

/// Writes encode_npy's bytes to `path` atomically (temp file + rename).
void save_npy(const std::string& path, const NpyArray& array);
/// Writes encode_npz's bytes to `path` atomically (temp file + rename).
void save_npz(const std::string& path, const std::vector<NpyArray>& arrays);

}  // namespace clustermim
