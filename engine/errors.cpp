#include "engine/errors.hpp"

namespace troupe {

const char* to_string(errc code) {
  switch (code) {
    case errc::ok:
      return "ok";
    case errc::malformed_message:
      return "malformed_message";
    case errc::version_mismatch:
      return "version_mismatch";
    case errc::wrong_size:
      return "wrong_size";
    case errc::non_finite:
      return "non_finite";
    case errc::unknown_table:
      return "unknown_table";
    case errc::out_of_range:
      return "out_of_range";
    case errc::timeout:
      return "timeout";
    case errc::peer_lost:
      return "peer_lost";
    case errc::io_error:
      return "io_error";
    case errc::bad_config:
      return "bad_config";
    case errc::missing_dataset:
      return "missing_dataset";
    case errc::stopped:
      return "stopped";
    case errc::shared_memory:
      return "shared_memory";
    case errc::out_of_order:
      return "out_of_order";
    case errc::unknown_key_list:
      return "unknown_key_list";
    case errc::no_capacity:
      return "no_capacity";
    case errc::node_stopping:
      return "node_stopping";
    case errc::out_of_memory:
      return "out_of_memory";
    case errc::auth_failed:
      return "auth_failed";
  }
  return "unknown_error";
}

std::string status::to_string() const {
  std::string out = troupe::to_string(code_);
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace troupe
