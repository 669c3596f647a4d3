#include "engine/node_paths.hpp"

#include <filesystem>

namespace troupe {

namespace fs = std::filesystem;

std::string resolve_under(const std::string& root, const std::string& path) {
  if (root.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(root) / path).string();
}

bool is_within(const std::string& root, const std::string& path) {
  std::error_code ec;
  auto r = fs::weakly_canonical(fs::absolute(root, ec), ec).lexically_normal().string();
  if (ec || r.empty()) return false;
  const auto p = fs::weakly_canonical(fs::absolute(path, ec), ec).lexically_normal().string();
  if (ec) return false;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  if (p == r || r == "/") return true;
  return p.size() > r.size() && p.compare(0, r.size(), r) == 0 && p[r.size()] == '/';
}

}  // namespace troupe
