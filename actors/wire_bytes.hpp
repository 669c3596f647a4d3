#pragma once
// CAF 0.17 serialises std::vector<char> as one raw block, but any other
// vector of char element by element (a virtual call per byte). Troupe's
// message bytes are a vector of char with an allocator that does not
// zero-fill (engine/wire/uninit_allocator.hpp): this tells CAF it is a byte
// sequence too, so it is saved with one copy and loaded with one copy into
// a buffer that resize() does not clear first. Included by every header that
// puts `bytes` into messages (protocol.hpp); registered as "troupe.bytes".

#include <caf/detail/type_traits.hpp>

#include "engine/wire/wire_codec.hpp"

namespace caf::detail {

template <>
struct is_byte_sequence<troupe::bytes> : std::true_type {};

}  // namespace caf::detail
