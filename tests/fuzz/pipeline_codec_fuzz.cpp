// Fuzz target: the activations and activation gradients that travel between
// pipeline stages (engine/wire/pipeline_codec.hpp); a decoded tensor's
// values and labels are read in full.
#include "engine/wire/pipeline_codec.hpp"

#include "fuzz_store.hpp"
#include "fuzz_target.hpp"

namespace troupe::fuzz {

std::vector<std::string> seeds() {
  std::vector<std::string> out;
  stage_tensor_header h{1, 7, 2, 4, 32, 8, 5};
  {
    auto w = activations_writer::make(h);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 0.5f;
    for (std::uint32_t r = 0; r < h.rows; ++r) w.labels()[r] = static_cast<std::int32_t>(r % 10);
    const auto m = std::move(w).finish();
    out.emplace_back(m.begin(), m.end());
  }
  {
    auto w = activation_grads_writer::make(h);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = -0.5f;
    const auto m = std::move(w).finish();
    out.emplace_back(m.begin(), m.end());
  }
  return out;
}

}  // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace troupe;
  const bytes in(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size);
  stage_tensor_view v;
  if (decode_activations(in, v)) {
    fuzz::touch(v.values, static_cast<std::size_t>(v.rows) * v.width);
    long labels = 0;
    for (std::uint32_t r = 0; r < v.rows; ++r) labels += v.labels[r];
    (void)labels;
  }
  stage_tensor_view g;
  if (decode_activation_grads(in, g)) {
    fuzz::touch(g.values, static_cast<std::size_t>(g.rows) * g.width);
  }
  return 0;
}
