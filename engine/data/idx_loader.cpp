#include "engine/data/idx_loader.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "engine/data/array_shape.hpp"
#include "engine/data/float_value.hpp"
#include "engine/data/gz_file.hpp"
#include "engine/data/label_values.hpp"
#include "engine/errors.hpp"

namespace troupe {

namespace {

std::size_t element_size(unsigned char type) {
  switch (type) {
    case 0x08:
    case 0x09:
      return 1;
    case 0x0B:
      return 2;
    case 0x0C:
    case 0x0D:
      return 4;
    case 0x0E:
      return 8;
    default:
      return 0;
  }
}

double element(const unsigned char* p, unsigned char type) {
  switch (type) {
    case 0x08:
      return p[0];
    case 0x09:
      return static_cast<signed char>(p[0]);
    case 0x0B:
      return static_cast<std::int16_t>((p[0] << 8) | p[1]);
    case 0x0C: {
      const std::uint32_t u = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                              (std::uint32_t{p[2]} << 8) | p[3];
      return static_cast<std::int32_t>(u);
    }
    case 0x0D: {
      const std::uint32_t u = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                              (std::uint32_t{p[2]} << 8) | p[3];
      float f;
      std::memcpy(&f, &u, 4);
      return f;
    }
    default: {
      std::uint64_t u = 0;
      for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];
      double d;
      std::memcpy(&d, &u, 8);
      return d;
    }
  }
}

struct idx_header {
  unsigned char type = 0;
  std::vector<std::uint64_t> dims;
  array_shape shape;  // checked as read
  std::size_t rows() const { return shape.rows; }
  std::size_t cols() const { return shape.cols; }
};

idx_header read_header(gzFile f, const std::string& path) {
  unsigned char magic[4];
  if (read_gz_some(f, magic, 4, path) != 4 || magic[0] != 0 || magic[1] != 0 ||
      element_size(magic[2]) == 0 || magic[3] == 0) {
    throw troupe_error(errc::io_error, path + " is not an idx file (bad magic number)");
  }
  idx_header h;
  h.type = magic[2];
  for (int i = 0; i < magic[3]; ++i) {
    unsigned char b[4];
    if (read_gz_some(f, b, 4, path) != 4)
      throw troupe_error(errc::io_error, path + ": truncated header");
    h.dims.push_back((std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                     (std::uint32_t{b[2]} << 8) | b[3]);
  }
  h.shape = checked_shape(h.dims, path);
  return h;
}

// Streams rows x cols elements through `sink(index, value)`.
template <class Sink>
void read_elements(gzFile f, const idx_header& h, std::size_t count, const std::string& path,
                   Sink sink) {
  const std::size_t es = element_size(h.type);
  std::vector<unsigned char> buf((1 << 16) * es);
  std::size_t done = 0;
  while (done < count) {
    const std::size_t n = std::min<std::size_t>(count - done, 1 << 16);
    if (read_gz_some(f, buf.data(), n * es, path) != n * es) {
      throw troupe_error(errc::io_error,
                         path + " is truncated: " + std::to_string(count) + " values expected");
    }
    for (std::size_t i = 0; i < n; ++i) sink(done + i, element(buf.data() + i * es, h.type));
    done += n;
  }
  unsigned char extra;
  if (read_gz_some(f, &extra, 1, path) != 0)
    throw troupe_error(errc::io_error, path + " has trailing bytes");
}

}  // namespace

bool looks_like_idx(const std::string& path) {
  // Anything but a regular file is no idx file (and its loader's own open
  // says what it is); reading a FIFO here would take its data or wait.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  gz_ptr f(gzopen(path.c_str(), "rb"));
  if (!f) return false;
  unsigned char magic[4];
  return gzread(f.get(), magic, 4) == 4 && magic[0] == 0 && magic[1] == 0 &&
         element_size(magic[2]) != 0 && magic[3] != 0;
}

dataset load_idx_features(const std::string& path) {
  auto f = open_gz(path);
  const auto h = read_header(f.get(), path);
  dataset d;
  d.source = path;
  d.rows = h.rows();
  d.cols = h.cols();
  if (d.rows == 0 || d.cols == 0) throw troupe_error(errc::io_error, path + ": no data rows");
  // Reserve no more than a plausible amount up front: a corrupt header that
  // claims billions of rows fails at the truncation, not in an allocation.
  d.features.reserve(std::min<std::size_t>(d.rows * d.cols, std::size_t{1} << 26));
  read_elements(f.get(), h, d.rows * d.cols, path, [&](std::size_t i, double v) {
    const auto f = as_float(v);
    if (!f) {
      throw troupe_error(errc::io_error, path + ": row " + std::to_string(i / d.cols + 1) +
                                             " holds a value that is not a finite number within "
                                             "a float's range (+-3.4e38)");
    }
    d.features.push_back(*f);
  });
  return d;
}

void load_idx_labels(const std::string& path, bool regression, dataset& into) {
  auto f = open_gz(path);
  const auto h = read_header(f.get(), path);
  begin_labels(path, h.rows(), h.cols(), regression, into);
  read_elements(f.get(), h, h.rows(), path,
                [&](std::size_t i, double v) { add_label(path, i, v, regression, into); });
}

}  // namespace troupe
