#include "engine/data/npy_loader.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "engine/data/array_shape.hpp"
#include "engine/data/float_value.hpp"
#include "engine/data/gz_file.hpp"
#include "engine/data/label_values.hpp"
#include "engine/errors.hpp"
#include "engine/unique_fd.hpp"

namespace troupe {

namespace {

// The file, mapped read-only for as long as the object lives.
class mapped_file {
 public:
  explicit mapped_file(const std::string& path) {
    require_data_file(path);
    // Held by a unique_fd: the throws below leave no descriptor behind (a
    // node daemon refusing job after job would run out of them).
    fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_) throw troupe_error(errc::io_error, "cannot open " + path);
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) throw troupe_error(errc::io_error, "cannot stat " + path);
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ == 0) throw troupe_error(errc::io_error, path + " is empty");
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_.get(), 0);
    if (p == MAP_FAILED) throw troupe_error(errc::io_error, "cannot map " + path);
    data_ = static_cast<const unsigned char*>(p);
    ::madvise(p, size_, MADV_SEQUENTIAL);
  }
  ~mapped_file() {
    if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;

  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  unique_fd fd_;
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

struct npy_array {
  char kind = 0;  // 'f', 'i', 'u'
  std::size_t item = 0;
  array_shape shape;  // checked: rows x cols fits, and so does a row in a model
  const unsigned char* values = nullptr;
  std::size_t rows() const { return shape.rows; }
  std::size_t cols() const { return shape.cols; }
};

std::string dict_value(const std::string& header, const std::string& key) {
  const auto k = header.find("'" + key + "'");
  if (k == std::string::npos) return {};
  auto colon = header.find(':', k);
  if (colon == std::string::npos) return {};
  auto b = header.find_first_not_of(' ', colon + 1);
  if (b == std::string::npos) return {};
  const char open = header[b];
  const char close = open == '(' ? ')' : open == '\'' ? '\'' : ',';
  const auto e = header.find(close, b + 1);
  if (e == std::string::npos) return {};
  return header.substr(b, e - b + (close == ',' ? 0 : 1));
}

npy_array parse(const mapped_file& f, const std::string& path) {
  auto bad = [&](const std::string& why) -> npy_array {
    throw troupe_error(errc::io_error, path + ": " + why);
  };
  const unsigned char* p = f.data();
  // Memory-mapped: a compressed one cannot be (it read "not an .npy file").
  if (f.size() >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
    return bad(
        "gzip-compressed: .npy files are memory-mapped, not streamed; decompress it (gunzip)");
  }
  if (f.size() < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) return bad("not an .npy file");
  const int major = p[6];
  std::size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = p[8] | (std::size_t{p[9]} << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (f.size() < 12) return bad("truncated header");
    header_len =
        p[8] | (std::size_t{p[9]} << 8) | (std::size_t{p[10]} << 16) | (std::size_t{p[11]} << 24);
    offset = 12;
  } else {
    return bad("unsupported .npy version " + std::to_string(major));
  }
  if (offset + header_len > f.size()) return bad("truncated header");
  const std::string header(reinterpret_cast<const char*>(p + offset), header_len);
  auto descr = dict_value(header, "descr");  // '<f4', quotes included
  if (descr.size() >= 2 && descr.front() == '\'' && descr.back() == '\'') {
    descr = descr.substr(1, descr.size() - 2);
  }
  const auto order = dict_value(header, "fortran_order");
  const auto shape = dict_value(header, "shape");
  if (descr.size() < 2 || shape.empty()) {
    // Without numpy's padding to 64 bytes and its closing newline.
    const auto end = header.find_last_not_of(" \n");
    return bad("malformed header '" + header.substr(0, end == std::string::npos ? 0 : end + 1) +
               "'");
  }
  if (order.rfind("True", 0) == 0) return bad("Fortran order is not supported (save with C order)");
  npy_array a;
  const char endian = descr[0];
  a.kind = descr[1];
  a.item = descr.find_first_not_of("0123456789", 2) == std::string::npos
               ? static_cast<std::size_t>(std::atoi(descr.c_str() + 2))
               : 0;  // "<f4x": no dtype
  const bool ok_type = (a.kind == 'f' && (a.item == 4 || a.item == 8)) ||
                       ((a.kind == 'i' || a.kind == 'u') &&
                        (a.item == 1 || a.item == 2 || a.item == 4 || a.item == 8));
  if (!ok_type || endian == '>' || (endian == '|' && a.item != 1)) {
    return bad("dtype " + descr + " is not supported (f4, f8, u1, i1, i2, i4, i8, little endian)");
  }
  std::vector<std::uint64_t> dims;
  for (std::size_t i = 1; i < shape.size();) {
    const auto e = shape.find_first_of(",)", i);
    if (e == std::string::npos) break;
    auto dim = shape.substr(i, e - i);
    dim.erase(0, dim.find_first_not_of(' '));
    dim.erase(dim.find_last_not_of(' ') + 1);
    if (!dim.empty()) {
      // Digits only: stoull would take "-1" for 2^64 - 1.
      if (dim.size() > 19 || dim.find_first_not_of("0123456789") != std::string::npos) {
        return bad("malformed shape " + shape);
      }
      dims.push_back(std::stoull(dim));
    }
    i = e + 1;
  }
  a.shape = checked_shape(dims, path);
  const std::size_t data_offset = offset + header_len;
  const std::size_t count = a.rows() * a.cols();
  if (count == 0) return bad("no data rows");
  if (count > (f.size() - data_offset) / a.item || f.size() - data_offset != count * a.item) {
    return bad("holds " + std::to_string(f.size() - data_offset) + " data bytes, shape needs " +
               std::to_string(count) + " values of " + std::to_string(a.item) + " bytes");
  }
  a.values = p + data_offset;
  return a;
}

double value(const npy_array& a, std::size_t i) {
  const unsigned char* p = a.values + i * a.item;
  switch (a.kind) {
    case 'f':
      if (a.item == 4) {
        float f;
        std::memcpy(&f, p, 4);
        return f;
      } else {
        double d;
        std::memcpy(&d, p, 8);
        return d;
      }
    case 'u': {
      std::uint64_t u = 0;
      std::memcpy(&u, p, a.item);
      return static_cast<double>(u);
    }
    default: {
      std::int64_t v = 0;
      std::memcpy(&v, p, a.item);
      const int shift = 64 - static_cast<int>(a.item) * 8;  // sign-extend
      return static_cast<double>(shift ? (v << shift) >> shift : v);
    }
  }
}

}  // namespace

dataset load_npy_features(const std::string& path) {
  const mapped_file f(path);
  const auto a = parse(f, path);
  dataset d;
  d.source = path;
  d.rows = a.rows();
  d.cols = a.cols();
  d.features.resize(d.rows * d.cols);
  for (std::size_t i = 0; i < d.features.size(); ++i) {
    const auto v = as_float(value(a, i));
    if (!v) {
      throw troupe_error(errc::io_error, path + ": row " + std::to_string(i / d.cols + 1) +
                                             " holds a value that is not a finite number within "
                                             "a float's range (+-3.4e38)");
    }
    d.features[i] = *v;
  }
  return d;
}

void load_npy_labels(const std::string& path, bool regression, dataset& into) {
  const mapped_file f(path);
  const auto a = parse(f, path);
  begin_labels(path, a.rows(), a.cols(), regression, into);
  for (std::size_t i = 0; i < a.rows(); ++i) add_label(path, i, value(a, i), regression, into);
}

}  // namespace troupe
