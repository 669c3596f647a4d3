@0xcf5bec18b28ea0a0;
# Messages between the stages of a pipelined model (model parallelism):
# activations travel forward, their gradients backward, one micro-batch per
# message. Same conventions as troupe.capnp: float32 (and int32) payloads are
# little-endian `Data` blobs read in place; field numbers are never reused.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("troupe::wire");

const pipelineVersion :UInt16 = 1;

struct Activations {
  # Output of stage s for one micro-batch, the input of stage s + 1.
  version @0 :UInt16;       # pipelineVersion of the sender
  pipeline @1 :UInt32;      # replica id (its clock id with the scheduler)
  step @2 :Int64;           # the replica's clock (completed steps) this belongs to
  micro @3 :UInt32;         # micro-batch index, < microBatches
  microBatches @4 :UInt32;  # micro-batches in this step (the batch may be short)
  batchRows @5 :UInt32;     # rows of the whole step's batch: the loss is its mean
  rows @6 :UInt32;          # rows of this micro-batch
  width @7 :UInt32;         # floats per row
  values @8 :Data;          # rows * width float32, row-major
  labels @9 :Data;          # rows int32 class labels, carried for the last stage
}

struct ActivationGrads {
  # d(mean loss of the micro-batch) / d(activations), from stage s + 1 to s.
  version @0 :UInt16;
  pipeline @1 :UInt32;
  step @2 :Int64;
  micro @3 :UInt32;         # the micro-batch of the matching Activations
  rows @4 :UInt32;
  width @5 :UInt32;
  values @6 :Data;          # rows * width float32, row-major
}
