#!/usr/bin/env bash
# Packs clustermim's C++ dependencies into one relocatable folder, for a GPU host where packages
# cannot be installed (no root, no network) but PyTorch (with its LibTorch), CMake and a compiler
# are: `scripts/gpu_check.sh --deps DIR` builds against it.
#
# What it holds (DIR/root/usr, laid out like /usr):
#  - Debian 12's packages of the header-only and small libraries, unpacked: fmt, spdlog, toml++,
#    nlohmann-json, CLI11, GoogleTest, Google Benchmark, libturbojpeg, zlib headers, pkgconf;
#  - static builds of the two whose Debian packages pull in too much to carry: OpenCV core,
#    imgproc and imgcodecs with PNG and JPEG only (Debian's imgcodecs links GDAL and ~140 other
#    libraries, 220 MB), and libarchive with tar + gzip only (Debian's links libxml2 and ICU).
# Sources come from Debian's archive (the versions Debian 12 ships). About 20 minutes on 2 cores.
#   scripts/gpu_bundle.sh [DIR=.gpudeps]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(realpath -m "${1:-.gpudeps}")
root=$dir/root usr=$dir/root/usr lib=$dir/root/usr/lib/x86_64-linux-gnu
pool=http://deb.debian.org/debian/pool/main
jobs=$(nproc)
mkdir -p "$dir/src" "$dir/debs" "$dir/build" "$lib/pkgconfig"

packages=(libfmt-dev libfmt9 libspdlog-dev libspdlog1.10 libtomlplusplus-dev libtomlplusplus3
          libbenchmark-dev libbenchmark1debian libgtest-dev libgmock-dev nlohmann-json3-dev
          libcli11-dev libturbojpeg0-dev libturbojpeg0 zlib1g-dev libpng-dev libjpeg62-turbo-dev
          pkgconf pkgconf-bin libpkgconf3)
(cd "$dir/debs" && apt-get download "${packages[@]}" 2>/dev/null)
for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$root"; done
ln -sfn /lib/x86_64-linux-gnu/libz.so.1 "$lib/libz.so"  # the host's zlib, not Debian's version
find "$root" -xtype l -delete                            # links to runtime packages not carried
cat > "$usr/bin/pkg-config-bundle" <<'EOF'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")
LD_LIBRARY_PATH="$here/../lib/x86_64-linux-gnu" exec "$here/pkgconf" "$@"
EOF
chmod +x "$usr/bin/pkg-config-bundle"

fetch() {  # fetch URL: download and unpack a source tarball into $dir/src once
  local name=${1##*/}
  [[ -f $dir/src/$name ]] || curl -sfL -o "$dir/src/$name" "$1"
  tar -C "$dir/src" -xf "$dir/src/$name"
}

if [[ ! -f $lib/libopencv_imgcodecs.a ]]; then
  fetch "$pool/o/opencv/opencv_4.6.0+dfsg.orig.tar.xz"
  off=(IPP ITT OPENCL TBB OPENMP EIGEN LAPACK VA VA_INTEL TIFF WEBP OPENJPEG JASPER OPENEXR GDAL GDCM
       IMGCODEC_HDR IMGCODEC_SUNRASTER IMGCODEC_PFM AVIF SPNG PROTOBUF QUIRC ADE GTK QT FFMPEG
       GSTREAMER V4L 1394 CUDA VTK)
  cmake -S "$dir/src/opencv-4.6.0" -B "$dir/build/opencv" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$usr" -DCMAKE_INSTALL_LIBDIR=lib/x86_64-linux-gnu \
    -DBUILD_LIST=core,imgproc,imgcodecs -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DCPU_DISPATCH= $(printf -- '-DWITH_%s=OFF ' "${off[@]}") -DWITH_IMGCODEC_PXM=ON \
    -DBUILD_ZLIB=OFF -DBUILD_PNG=OFF -DBUILD_JPEG=OFF -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF \
    -DBUILD_EXAMPLES=OFF -DBUILD_opencv_apps=OFF -DBUILD_JAVA=OFF -DBUILD_opencv_python3=OFF \
    -DBUILD_DOCS=OFF -DOPENCV_GENERATE_PKGCONFIG=OFF \
    -DPNG_LIBRARY="$lib/libpng16.a" -DPNG_PNG_INCLUDE_DIR="$usr/include/libpng16" \
    -DJPEG_LIBRARY="$lib/libjpeg.a" -DJPEG_INCLUDE_DIR="$usr/include" \
    -DZLIB_LIBRARY="$lib/libz.a" -DZLIB_INCLUDE_DIR="$usr/include" >"$dir/build/opencv.log"
  cmake --build "$dir/build/opencv" -j"$jobs" >>"$dir/build/opencv.log"
  cmake --install "$dir/build/opencv" >>"$dir/build/opencv.log"
fi

if [[ ! -f $lib/libarchive.a ]]; then
  fetch "$pool/liba/libarchive/libarchive_3.6.2.orig.tar.xz"
  off=(OPENSSL MBEDTLS NETTLE LIBB2 LZ4 LZO LZMA ZSTD BZip2 LIBXML2 EXPAT PCREPOSIX LIBGCC CNG ACL
       XATTR ICONV TAR CPIO CAT TEST)
  cmake -S "$dir/src/libarchive-3.6.2" -B "$dir/build/libarchive" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON $(printf -- '-DENABLE_%s=OFF ' "${off[@]}") \
    -DZLIB_LIBRARY="$lib/libz.a" -DZLIB_INCLUDE_DIR="$usr/include" >"$dir/build/libarchive.log"
  cmake --build "$dir/build/libarchive" -j"$jobs" --target archive_static >>"$dir/build/libarchive.log"
  cp "$dir"/src/libarchive-3.6.2/libarchive/archive{,_entry}.h "$usr/include/"
  cp "$dir/build/libarchive/libarchive/libarchive.a" "$lib/"
  printf '%s\n' "prefix=/usr" "libdir=\${prefix}/lib/x86_64-linux-gnu" "includedir=\${prefix}/include" \
    "Name: libarchive" "Description: libarchive, static, tar + gzip only" "Version: 3.6.2" \
    "Cflags: -I\${includedir}" "Libs: -L\${libdir} -larchive" >"$lib/pkgconfig/libarchive.pc"
fi
rm -rf "$usr/share/doc" "$usr/share/man" "$usr/src" "$usr/share/opencv4"  # not needed to build
echo "gpu_bundle: $(du -sh "$root" | cut -f1) in $root"
