// The addon's thread pool: every parallel kernel splits its work into FIXED blocks (a number of
// rows or elements that depends on the shape only, never on the thread count) and the pool's
// threads claim blocks from a shared counter. Each block is computed by the same code whatever
// thread runs it, and reductions across blocks are summed in block order afterwards, so results
// are bit-identical at any thread count.
//
// OpenBLAS runs single-threaded inside the blocks (the pool owns the cores): two pools on two
// cores would oversubscribe them, and OpenBLAS's idle threads spin after each call.
#pragma once

#include <cstdint>
#include <functional>

namespace pld_native {

// Total compute threads (the calling thread included); 1 runs everything inline.
void SetPoolThreads(int threads);
int PoolThreads();

// Runs body(i) for i in [0, tasks), spread over the pool; returns when all are done. The calling
// thread takes part. Jobs from several calling threads run one after another; a body must not call
// ParallelFor itself.
void ParallelFor(int64_t tasks, const std::function<void(int64_t)>& body);

// Blocks of `block` items covering [0, n): count and bounds.
inline int64_t Blocks(int64_t n, int64_t block) { return n <= 0 ? 0 : (n + block - 1) / block; }

}  // namespace pld_native
