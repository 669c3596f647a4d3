// The pipeline codec: activations and their gradients round trip, and
// truncated, random, bit-flipped and inconsistent messages are rejected with
// a status instead of crashing.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <random>

#include "engine/wire/pipeline_codec.hpp"
#include "schemas/pipeline.capnp.h"

namespace troupe {
namespace {

bytes sample_activations() {
  auto w = activations_writer::make({3, 17, 1, 4, 10, 3, 5});
  for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 0.5f * static_cast<float>(i);
  for (int r = 0; r < 3; ++r) w.labels()[r] = 7 + r;
  return std::move(w).finish();
}

TEST(PipelineCodec, ActivationsRoundTripInPlace) {
  const auto wire = sample_activations();
  EXPECT_EQ(wire.size() % 8, 0u);
  stage_tensor_view v;
  ASSERT_TRUE(decode_activations(wire, v)) << decode_activations(wire, v).to_string();
  EXPECT_EQ(v.pipeline, 3u);
  EXPECT_EQ(v.step, 17);
  EXPECT_EQ(v.micro, 1u);
  EXPECT_EQ(v.micro_batches, 4u);
  EXPECT_EQ(v.batch_rows, 10u);
  EXPECT_EQ(v.rows, 3u);
  EXPECT_EQ(v.width, 5u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(v.values[i], 0.5f * static_cast<float>(i));
  EXPECT_EQ(v.labels[2], 9);
  // Read in place: the values point into the message.
  EXPECT_GE(reinterpret_cast<const char*>(v.values), wire.data());
  EXPECT_LT(reinterpret_cast<const char*>(v.values), wire.data() + wire.size());
}

TEST(PipelineCodec, GradientsRoundTrip) {
  auto w = activation_grads_writer::make({2, 5, 3, 0, 0, 2, 4});
  for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = -1.0f * static_cast<float>(i);
  const auto wire = std::move(w).finish();
  stage_tensor_view v;
  ASSERT_TRUE(decode_activation_grads(wire, v));
  EXPECT_EQ(v.pipeline, 2u);
  EXPECT_EQ(v.step, 5);
  EXPECT_EQ(v.micro, 3u);
  EXPECT_EQ(v.rows, 2u);
  EXPECT_EQ(v.width, 4u);
  EXPECT_EQ(v.values[7], -7.0f);
  EXPECT_EQ(v.labels, nullptr);
}

TEST(PipelineCodec, RejectsEveryTruncationAndGarbage) {
  const auto wire = sample_activations();
  for (std::size_t n = 0; n < wire.size(); ++n) {
    bytes cut(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(n));
    stage_tensor_view v;
    EXPECT_FALSE(decode_activations(cut, v)) << "truncated to " << n;
  }
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    bytes junk(8 * (1 + rng() % 40));
    for (auto& c : junk) c = static_cast<char>(rng());
    stage_tensor_view v;
    (void)decode_activations(junk, v);  // must not crash; junk can rarely be valid
    (void)decode_activation_grads(junk, v);
  }
  for (int i = 0; i < 2000; ++i) {
    auto flipped = wire;
    flipped[rng() % flipped.size()] ^= static_cast<char>(1u << (rng() % 8));
    stage_tensor_view v;
    if (decode_activations(flipped, v)) {
      // Whatever decodes is self-consistent: sizes agree with the header.
      EXPECT_GT(v.rows, 0u);
      EXPECT_LT(v.micro, v.micro_batches);
      EXPECT_LE(v.rows, v.batch_rows);
    }
  }
}

// Builds an Activations message by hand so its fields can disagree.
bytes raw_activations(std::uint32_t micro, std::uint32_t micro_batches, std::uint32_t rows,
                      std::uint32_t width, std::size_t value_bytes, std::size_t label_bytes,
                      std::uint16_t version = wire::PIPELINE_VERSION) {
  capnp::MallocMessageBuilder b;
  auto msg = b.initRoot<wire::Activations>();
  msg.setVersion(version);
  msg.setMicro(micro);
  msg.setMicroBatches(micro_batches);
  msg.setBatchRows(8);
  msg.setRows(rows);
  msg.setWidth(width);
  msg.initValues(static_cast<unsigned>(value_bytes));
  msg.initLabels(static_cast<unsigned>(label_bytes));
  auto flat = capnp::messageToFlatArray(b);
  auto raw = flat.asBytes();
  return bytes(reinterpret_cast<const char*>(raw.begin()),
               reinterpret_cast<const char*>(raw.end()));
}

TEST(PipelineCodec, RejectsInconsistentFields) {
  stage_tensor_view v;
  ASSERT_TRUE(decode_activations(raw_activations(0, 2, 2, 3, 24, 8), v));
  EXPECT_EQ(decode_activations(raw_activations(0, 2, 2, 3, 20, 8), v).code(), errc::wrong_size);
  EXPECT_EQ(decode_activations(raw_activations(0, 2, 2, 3, 24, 4), v).code(), errc::wrong_size);
  EXPECT_EQ(decode_activations(raw_activations(2, 2, 2, 3, 24, 8), v).code(), errc::wrong_size);
  EXPECT_EQ(decode_activations(raw_activations(0, 2, 0, 3, 0, 0), v).code(), errc::wrong_size);
  EXPECT_EQ(decode_activations(raw_activations(0, 2, 9, 1, 36, 36), v).code(),
            errc::wrong_size);  // more rows than the batch
  EXPECT_EQ(decode_activations(raw_activations(0, 2, 2, 3, 24, 8, 99), v).code(),
            errc::version_mismatch);
  // A gradient message is not an activation message of the same shape.
  auto g = activation_grads_writer::make({0, 0, 0, 0, 0, 2, 3});
  const auto grads = std::move(g).finish();
  EXPECT_FALSE(decode_activations(grads, v));
}

TEST(PipelineCodec, RefusesPayloadsBeyondOneMessage) {
  EXPECT_THROW(activations_writer::make({0, 0, 0, 1, 1u << 30, 1u << 30, 1}), troupe_error);
  // 2^31 x 2^31 floats: 2^64 bytes, which wraps to 0 in 64 bits.
  EXPECT_THROW(activations_writer::make({0, 0, 0, 1, 1u << 31, 1u << 31, 1u << 31}), troupe_error);
}

// A gradient header whose rows x width x 4 wraps to 0 must not pass with an
// empty values field (it would then be read as 2^62 floats).
TEST(PipelineCodec, RejectsShapesWhoseSizeWrapsAround) {
  capnp::MallocMessageBuilder b;
  auto msg = b.initRoot<wire::ActivationGrads>();
  msg.setVersion(wire::PIPELINE_VERSION);
  msg.setRows(1u << 31);
  msg.setWidth(1u << 31);
  msg.initValues(0);
  auto flat = capnp::messageToFlatArray(b);
  auto raw = flat.asBytes();
  const bytes wire(reinterpret_cast<const char*>(raw.begin()),
                   reinterpret_cast<const char*>(raw.end()));
  stage_tensor_view v;
  EXPECT_EQ(decode_activation_grads(wire, v).code(), errc::wrong_size);
  // The same wrap in an Activations message.
  const auto act = raw_activations(0, 1, 1u << 31, 1u << 31, 0, 0);
  EXPECT_EQ(decode_activations(act, v).code(), errc::wrong_size);
}

}  // namespace
}  // namespace troupe
