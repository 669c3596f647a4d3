@0xab7e2f851efe07d0;
# The Troupe wire protocol: every message between workers, shards and the
# scheduler, in one process and across nodes alike.
#
# Conventions
# - Every top-level message carries `version`; a receiver rejects versions it
#   does not speak (see `protocolVersion`).
# - Parameter and gradient values are packed little-endian IEEE-754 float32
#   carried as `Data`, so a reader views them in place (capnp lists start on
#   a word boundary) and a writer fills them with one memcpy. The count of
#   values is the blob size in bytes divided by 4.
# - Keys of a dense table are indices into its flat parameter vector; keys of
#   a sparse table are 64-bit row ids.
# - Field numbers are never reused.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("troupe::wire");

const protocolVersion :UInt16 = 1;

struct DenseRange {
  # A contiguous run of values of a dense table.
  offset @0 :UInt64;   # first key of the run
  values @1 :Data;     # float32 values for keys offset, offset + 1, ...
}

struct SparseRows {
  # Whole rows of a sparse table.
  keys @0 :List(UInt64);  # row ids, one per row, in the order of `values`
  width @1 :UInt32;       # floats per row
  values @2 :Data;        # keys.size * width float32 values, row-major
  keyList @3 :KeyList;    # set: names the row ids (KeyList). A push with `keys`
                          # has the shard remember them; one without them means
                          # the list the shard remembers under the digest. In a
                          # pull reply whose request set omitKeys, only `count`
                          # is set: the rows are the requested ones, in order.
}

struct KeyList {
  # Key caching (Li et al., OSDI 2014, 3.5): a sender that sends the same row
  # ids again and again sends them once in full with their name, then only
  # the name. A shard remembers lists by name, least recently used first to
  # go, and refuses a name it does not hold (unknown_key_list): the sender
  # then sends the ids in full again. The name is the list's SHA-256, which
  # the shard checks, so no peer can make a name stand for other ids.
  digest @0 :Data;     # SHA-256 of the ids as consecutive little-endian UInt64s
  count @1 :UInt64;    # number of ids
}

struct KeyRange {
  offset @0 :UInt64;   # first key
  count @1 :UInt64;    # number of keys
}

struct PushRequest {
  # A gradient from a worker; the shard applies it with its optimizer.
  version @0 :UInt16;        # protocol version of the sender
  table @1 :UInt32;          # table id, assigned by the scheduler
  worker @2 :UInt32;         # id of the pushing worker
  clock @3 :Int64;           # worker clock (completed steps) the gradient was computed at
  seq @4 :UInt64;            # per (worker, shard) sequence number, starting at 1; a
                             # repeated seq is acknowledged without being applied again
  pulledVersion @5 :UInt64;  # shard table version of the parameters the gradient used
  union {
    dense @6 :DenseRange;    # gradient of a key range
    sparse @7 :SparseRows;   # gradient of some rows
  }
  notifyApplied @8 :Bool;    # a primary with a backup also sends the sender an early
                             # PushAck (`applied_atom`) as soon as it applied the push;
                             # the reply still waits until the backup has it
  inOrder @9 :Bool;          # the sender's seqs to this shard start at 1 and skip none
                             # (a worker's): a push past the next seq is refused
                             # (out_of_order), nothing applied, and the sender sends
                             # again from its oldest unanswered push; a push sent behind
                             # one the shard refused is never taken for a retry of it
  pullAfter @10 :PullAfter;  # a dense push's sender also wants the values of the same
                             # range once this push is applied (its next step's pull):
                             # a primary with a backup puts them into its early notice,
                             # which saves a pull request and its reply; without a
                             # notice the sender pulls as usual
  checkedFinite @11 :Bool;   # the sender found every value finite and below 2^50 (the
                             # largest gradient a shard applies) before sending any push
                             # of its step: a shard skips its own scan when the sender
                             # is an actor of its own process. (CAF 0.17 takes a routed
                             # message's source node from the frame, so a peer that
                             # authenticated and then forges frames could pass as one;
                             # such a peer can push any finite gradient anyway.)
}

enum PullAfter {
  none @0;
  bytes @1;                  # the values as bytes in the notice
  shared @2;                 # or a shared-memory envelope, as PullRequest.acceptShared
}

struct PushAck {
  version @0 :UInt16;
  seq @1 :UInt64;            # seq of the acknowledged push
  shardVersion @2 :UInt64;   # table version after the push (pushes applied so far)
  staleness @3 :UInt64;      # observed staleness, in applied pushes: table version
                             # before this push minus `pulledVersion`
  duplicate @4 :Bool;        # the push had already been applied (a retry); nothing changed
}

struct PullRequest {
  version @0 :UInt16;
  table @1 :UInt32;          # table id
  worker @2 :UInt32;         # id of the pulling worker (or the scheduler's id)
  union {
    dense @3 :KeyRange;      # the key range to read
    sparse @4 :List(UInt64); # the row ids to read (created on first touch)
  }
  acceptShared @5 :Bool;     # the puller can take its reply as a SharedBytes
                             # envelope when it runs on the shard's host
  keyList @6 :KeyList;       # names the sparse row ids, as SparseRows.keyList:
                             # with `sparse` empty, the list the shard remembers
  omitKeys @7 :Bool;         # a sparse reply leaves out the ids (the puller knows
                             # them): half the bytes of a one-float row
  holdRound @8 :UInt64;      # non-zero (keep_best's evaluator): the shard keeps
                             # its state as of this read, for a checkpoint of
                             # the model this evaluation round scores
}

struct PullReply {
  version @0 :UInt16;
  table @1 :UInt32;
  shardVersion @2 :UInt64;   # table version of the values (pushes applied so far)
  union {
    dense @3 :DenseRange;
    sparse @4 :SparseRows;
  }
}

struct ClockAdvance {
  # A worker reports that it completed `clock` steps (all their pushes were
  # acknowledged) and asks to start the next one. The scheduler replies with
  # the minimum clock over all workers once the staleness bound allows it.
  version @0 :UInt16;
  worker @1 :UInt32;         # id of the worker
  clock @2 :Int64;           # completed steps of this worker
  pushesAcked @3 :UInt64;    # acknowledgements it counted since it started (all
                             # its stages' for a pipeline): the job's accounting,
                             # which must not wait for a progress report a lost
                             # worker never sends
}

struct SharedBytes {
  # Names a message that another process on the same host wrote into a slot
  # of its shared-memory region (engine/wire/shared_memory.hpp) instead of
  # sending it through a socket. Travels behind an 8-byte prefix whose first
  # word (0xffffffff) no Cap'n Proto message can start with.
  version @0 :UInt16;
  pid @1 :UInt32;            # the writing process
  fd @2 :Int32;              # its descriptor of the region (/proc/pid/fd/N)
  token @3 :UInt64;          # random, written in the region's header
  slot @4 :UInt32;
  generation @5 :UInt64;     # the slot's use count when written
  length @6 :UInt64;         # bytes of the message in the slot
}
