// Neighbour sampling, one hop at a time (the driver is gnnkit/data/sampling.py).
//
// The random numbers are not drawn here: the caller draws them with torch and its own
// generator, exactly as many and in the same order as the plain-torch sampler, and this file
// turns them into the same selection, bit for bit. The contract (which draw belongs to which
// row) is therefore that of gnnkit/data/sampling.py; a change there must be mirrored here:
//
// * a row keeps all its entries (CSR order) with fanout -1, or without replacement when its
//   degree d <= k;
// * with replacement: k draws u per row with d > 0, entry floor(u * d) (clamped to d - 1);
//   the draws are consumed in output order;
// * without replacement, d >= 4k ("hub"): 2k draws per hub row, in frontier order; entries
//   floor(u * d), the first k distinct ones in draw order. A row where fewer than k distinct
//   entries come up is redone like a mid row with keys drawn after everything else of the
//   hop (the caller draws them only once this kernel has said how many it needs);
// * without replacement, k < d < 4k ("mid"): one draw u per entry, the entries of the mid
//   rows concatenated in frontier order. Row r (its rank among the mid rows of the hop) keeps
//   its k entries of smallest double key r + u / 2, ties broken by CSR position: the very
//   float64 key the torch sampler sorts by (stable), rounding included. Failed hub rows are
//   ranked and their keys laid out the same way, among the failed rows only.
//
// Order of the draws within a hop: the with-replacement or hub draws, the mid rows' keys,
// then (rarely) the failed hub rows' keys.
//
// Parallel over rows: every row's output slice is known in advance (prefix sum of the
// per-row counts), so rows are independent. Relabelling (global -> local id through a hash
// map, new nodes numbered in the order they first appear in the output) is one sequential
// pass: the numbering depends on that order, and a pass over a batch's entries is cheap. The
// hash map's memory follows the batch, never the graph: no (N,) array.
#include "common.h"

#include <ATen/ops/full.h>

#include <tuple>
#include <utility>

namespace gnnkit {
namespace {

// Must equal _OVERSAMPLE_FROM and _OVERSAMPLE_DRAWS of gnnkit/data/sampling.py.
constexpr int64_t kOversampleFrom = 4;
constexpr int64_t kOversampleDraws = 2;
// Per-row segments up to this length are sorted by insertion (stable, no allocation).
constexpr int64_t kInsertionSortMax = 32;
constexpr int64_t kEmpty = -1;

enum RowKind : int8_t { kAll = 0, kWithReplacement, kHub, kMid };

// Open-addressing hash map global id -> local id, stored in an int64 tensor of 2 · capacity
// slots (key, value), key -1 = empty, linear probing, load kept <= 1/2. It lives in a tensor
// so that Python can carry it from one hop to the next without a bound class.
class NodeTable {
 public:
  explicit NodeTable(at::Tensor storage) : storage_(std::move(storage)) { attach(); }

  static at::Tensor allocate(int64_t capacity) {
    return at::full({2 * capacity}, kEmpty, at::TensorOptions().dtype(at::kLong));
  }

  static int64_t capacity_for(int64_t count) {
    int64_t capacity = 16;
    while (capacity < 2 * count) capacity *= 2;
    return capacity;
  }

  const at::Tensor& storage() const { return storage_; }

  // Room for `count` keys without growing on the way (one rehash instead of several).
  void reserve(int64_t count) {
    const int64_t capacity = capacity_for(count);
    if (capacity > capacity_) rehash(capacity);
  }

  // The local id of `key`, or `next` after inserting key -> next (then `inserted` is true).
  // `size` is the number of keys held, used to grow before the load passes 1/2.
  int64_t find_or_insert(int64_t key, int64_t next, int64_t size, bool& inserted) {
    if (2 * (size + 1) > capacity_) rehash(2 * capacity_);
    int64_t slot = home(key);
    while (true) {
      const int64_t held = slots_[2 * slot];
      if (held == key) {
        inserted = false;
        return slots_[2 * slot + 1];
      }
      if (held == kEmpty) {
        slots_[2 * slot] = key;
        slots_[2 * slot + 1] = next;
        inserted = true;
        return next;
      }
      slot = (slot + 1) & (capacity_ - 1);
    }
  }

  void insert_new(int64_t key, int64_t value) {
    int64_t slot = home(key);
    while (slots_[2 * slot] != kEmpty) slot = (slot + 1) & (capacity_ - 1);
    slots_[2 * slot] = key;
    slots_[2 * slot + 1] = value;
  }

 private:
  void attach() {
    TORCH_CHECK(storage_.scalar_type() == at::kLong && storage_.is_contiguous() &&
                    storage_.dim() == 1,
                "sample_hop: the node table must be a contiguous 1-D int64 tensor");
    capacity_ = storage_.numel() / 2;
    TORCH_CHECK(capacity_ >= 2 && (capacity_ & (capacity_ - 1)) == 0,
                "sample_hop: the node table's capacity must be a power of two");
    bits_ = 0;
    while ((int64_t(1) << bits_) < capacity_) ++bits_;
    slots_ = storage_.data_ptr<int64_t>();
  }

  // Fibonacci hashing: node ids of a batch are arbitrary, often clustered; the top bits of
  // the product spread them over the table.
  int64_t home(int64_t key) const {
    return static_cast<int64_t>((static_cast<uint64_t>(key) * 0x9E3779B97F4A7C15ull) >>
                                (64 - bits_));
  }

  void rehash(int64_t capacity) {
    at::Tensor old = storage_;
    const int64_t* old_slots = slots_;
    const int64_t old_capacity = capacity_;
    storage_ = allocate(capacity);
    attach();
    for (int64_t s = 0; s < old_capacity; ++s) {
      if (old_slots[2 * s] != kEmpty) insert_new(old_slots[2 * s], old_slots[2 * s + 1]);
    }
  }

  at::Tensor storage_;
  int64_t* slots_ = nullptr;
  int64_t capacity_ = 0;
  int bits_ = 0;
};

// floor(u · d) clamped to d - 1, as torch computes (u * d).long().clamp(max=d - 1): the
// product is rounded to double once (it may round up to d), then truncated.
inline int64_t draw_offset(double u, int64_t degree) {
  const int64_t offset = static_cast<int64_t>(u * static_cast<double>(degree));
  return offset < degree ? offset : degree - 1;
}

// The k entries of a row with the smallest keys (r + u_j / 2, j), in key order.
inline void keyed_select(int64_t begin, int64_t degree, int64_t k, int64_t rank,
                         const double* u, int64_t* out,
                         std::vector<std::pair<double, int64_t>>& scratch) {
  const double row_key = static_cast<double>(rank);
  scratch.resize(degree);
  // 0.5 * u is exact, so this is the same single rounding as torch's `row + 0.5 * keys`
  // (with or without a fused multiply-add).
  for (int64_t j = 0; j < degree; ++j) scratch[j] = {row_key + 0.5 * u[j], j};
  // Keys are compared together with the position j: no two elements are equivalent, so the
  // result does not depend on the algorithm (and equals torch's stable sort).
  std::partial_sort(scratch.begin(), scratch.begin() + k, scratch.end());
  for (int64_t t = 0; t < k; ++t) out[t] = begin + scratch[t].second;
}

// The first k distinct entries of the 2k draws, in draw order; false if fewer come up.
inline bool hub_select(int64_t begin, int64_t degree, int64_t k, const double* u,
                       int64_t* out, std::vector<int64_t>& seen) {
  // A small hash set of the offsets taken so far (at most k of them, load <= 1/4): O(k)
  // per row, where the torch path sorts the 2k draws.
  int64_t capacity = 16;
  int shift = 60;
  while (capacity < 4 * k) {
    capacity *= 2;
    --shift;
  }
  seen.assign(capacity, kEmpty);
  int64_t found = 0;
  for (int64_t j = 0; j < kOversampleDraws * k && found < k; ++j) {
    const int64_t offset = draw_offset(u[j], degree);
    int64_t slot =
        static_cast<int64_t>((static_cast<uint64_t>(offset) * 0x9E3779B97F4A7C15ull) >> shift);
    while (seen[slot] != kEmpty && seen[slot] != offset) slot = (slot + 1) & (capacity - 1);
    if (seen[slot] == kEmpty) {
      seen[slot] = offset;
      out[found++] = begin + offset;
    }
  }
  return found == k;
}

// Sorts the (column, position) pairs of one row by column, keeping the order of equal columns
// (duplicate entries, repeated draws): what the torch sampler's stable sort gives.
inline void stable_sort_row(int64_t* column, int64_t* position, int64_t n,
                            std::vector<std::pair<int64_t, int64_t>>& scratch) {
  if (n <= kInsertionSortMax) {
    for (int64_t i = 1; i < n; ++i) {
      const int64_t c = column[i], p = position[i];
      int64_t j = i;
      for (; j > 0 && column[j - 1] > c; --j) {
        column[j] = column[j - 1];
        position[j] = position[j - 1];
      }
      column[j] = c;
      position[j] = p;
    }
    return;
  }
  scratch.resize(n);
  for (int64_t i = 0; i < n; ++i) scratch[i] = {column[i], position[i]};
  std::stable_sort(scratch.begin(), scratch.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (int64_t i = 0; i < n; ++i) {
    column[i] = scratch[i].first;
    position[i] = scratch[i].second;
  }
}

}  // namespace

// The node table holding seeds[i] -> i (seeds distinct, checked by the caller).
at::Tensor sample_table(const at::Tensor& seeds) {
  TORCH_CHECK(seeds.scalar_type() == at::kLong && seeds.is_contiguous(),
              "sample_table: seeds must be a contiguous int64 tensor");
  const int64_t count = seeds.numel();
  NodeTable table(NodeTable::allocate(NodeTable::capacity_for(count)));
  const int64_t* sp = seeds.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) table.insert_new(sp[i], i);
  return table.storage();
}

// Per frontier row: (begin, degree) as an int64 (2, M) tensor, and how many uniform draws the
// hop consumes before its mid-row keys (n_first: with-replacement or hub draws) and for them
// (n_keys). The caller draws both, in that order, then calls sample_hop.
std::tuple<at::Tensor, int64_t, int64_t> sample_hop_plan(const at::Tensor& rowptr,
                                                         const at::Tensor& frontier,
                                                         int64_t fanout, bool replace) {
  TORCH_CHECK(frontier.scalar_type() == at::kLong && frontier.is_contiguous(),
              "sample_hop_plan: frontier must be a contiguous int64 tensor");
  TORCH_CHECK(fanout == -1 || fanout > 0, "sample_hop_plan: fanout must be -1 or positive");
  const int64_t rows = frontier.numel();
  at::Tensor info = at::empty({2, rows}, frontier.options());
  int64_t* begin = info.data_ptr<int64_t>();
  int64_t* degree = begin + rows;
  const int64_t* fp = frontier.data_ptr<int64_t>();
  AT_DISPATCH_INDEX_TYPES(rowptr.scalar_type(), "gnnkit_sample_hop_plan", [&] {
    const index_t* rp = rowptr.data_ptr<index_t>();
    // Random reads of a graph-sized rowptr: worth a few threads on a large frontier.
    for_each_block(uniform_blocks(rows, 64), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t node = fp[i];
        begin[i] = static_cast<int64_t>(rp[node]);
        degree[i] = static_cast<int64_t>(rp[node + 1]) - begin[i];
      }
    });
  });
  int64_t first = 0, keys = 0;
  if (fanout != -1) {
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t d = degree[i];
      if (replace) {
        first += d > 0 ? fanout : 0;
      } else if (d >= kOversampleFrom * fanout) {
        first += kOversampleDraws * fanout;
      } else if (d > fanout) {
        keys += d;
      }
    }
  }
  return {info, first, keys};
}

// One hop. Returns (fallback, take, e_id, local_col, new_nodes, table):
// * fallback > 0: some hub rows drew fewer than k distinct entries and u_fallback was not
//   given; draw `fallback` more uniforms and call again with the same arguments plus them
//   (every other output is then empty, and the table untouched);
// * take (M,): entries kept per frontier row; e_id and local_col (Σ take,): the CSR
//   positions in the graph and the sources' local ids, row after row, sorted by local id
//   within a row (stably); new_nodes: the sources seen for the first time, in order of first
//   appearance, numbered num_local, num_local + 1, ...; table: the node table with them
//   added (the same tensor, or a larger one when it had to grow).
std::tuple<int64_t, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> sample_hop(
    const at::Tensor& col, const at::Tensor& info, int64_t fanout, bool replace,
    const at::Tensor& u_first, const at::Tensor& u_keys,
    const c10::optional<at::Tensor>& u_fallback, const at::Tensor& table_storage,
    int64_t num_local) {
  TORCH_CHECK(info.scalar_type() == at::kLong && info.is_contiguous() && info.dim() == 2 &&
                  info.size(0) == 2,
              "sample_hop: info must be the (2, M) int64 tensor of sample_hop_plan");
  TORCH_CHECK(fanout == -1 || fanout > 0, "sample_hop: fanout must be -1 or positive");
  for (const at::Tensor* u : {&u_first, &u_keys}) {
    TORCH_CHECK(u->scalar_type() == at::kDouble && u->is_contiguous(),
                "sample_hop: random numbers must be contiguous float64 tensors");
  }
  const int64_t rows = info.size(1);
  const int64_t* begin = info.data_ptr<int64_t>();
  const int64_t* degree = begin + rows;
  const int64_t k = fanout;
  const auto long_options = info.options();

  // Sequential pass over the frontier: each row's kind, output slice and random numbers.
  std::vector<int8_t> kind(rows);
  std::vector<int64_t> out_ptr(rows + 1), random_offset(rows), mid_rank(rows, 0), cost(rows + 1);
  int64_t total = 0, first = 0, keys = 0, mids = 0;
  out_ptr[0] = 0;
  cost[0] = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t d = degree[i];
    int64_t take = d, work = d;
    if (k == -1 || (!replace && d <= k)) {
      kind[i] = kAll;
    } else if (replace) {
      kind[i] = kWithReplacement;
      take = d > 0 ? k : 0;
      work = take;
      random_offset[i] = first;
      first += take;
    } else if (d >= kOversampleFrom * k) {
      kind[i] = kHub;
      take = k;
      work = 4 * kOversampleDraws * k;  // the draws and the small set's reset
      random_offset[i] = first;
      first += kOversampleDraws * k;
    } else {
      kind[i] = kMid;
      take = k;
      work = 4 * d;  // keys and a partial sort
      random_offset[i] = keys;
      mid_rank[i] = mids++;
      keys += d;
    }
    total += take;
    out_ptr[i + 1] = total;
    cost[i + 1] = cost[i] + work;
  }
  TORCH_CHECK(u_first.numel() == first && u_keys.numel() == keys, "sample_hop: expected ",
              first, " and ", keys, " random numbers, got ", u_first.numel(), " and ",
              u_keys.numel(), " (see sample_hop_plan)");

  at::Tensor positions = at::empty({total}, long_options);
  int64_t* pos = positions.data_ptr<int64_t>();
  const double* uf = u_first.data_ptr<double>();
  const double* uk = u_keys.data_ptr<double>();
  std::vector<uint8_t> failed(rows, 0);
  const auto row_blocks = balanced_row_blocks(cost.data(), rows, 8, 16);
  for_each_block(row_blocks, [&](int64_t i0, int64_t i1) {
    std::vector<std::pair<double, int64_t>> keyed;
    std::vector<int64_t> seen;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = begin[i], d = degree[i];
      int64_t* out = pos + out_ptr[i];
      switch (kind[i]) {
        case kAll:
          for (int64_t j = 0; j < d; ++j) out[j] = b + j;
          break;
        case kWithReplacement: {
          const double* u = uf + random_offset[i];
          for (int64_t j = 0; j < k && d > 0; ++j) out[j] = b + draw_offset(u[j], d);
          break;
        }
        case kHub:
          failed[i] = !hub_select(b, d, k, uf + random_offset[i], out, seen);
          break;
        default:
          keyed_select(b, d, k, mid_rank[i], uk + random_offset[i], out, keyed);
      }
    }
  });

  // Hub rows with fewer than k distinct draws: keyed over their whole row, with keys drawn
  // after this hop's other numbers (ranks and key offsets among the failed rows only).
  int64_t fallback = 0;
  std::vector<int64_t> failed_rows;
  for (int64_t i = 0; i < rows; ++i) {
    if (failed[i]) {
      failed_rows.push_back(i);
      fallback += degree[i];
    }
  }
  if (!failed_rows.empty()) {
    if (!u_fallback.has_value()) {
      at::Tensor none = at::empty({0}, long_options);
      return {fallback, none, none, none, none, table_storage};
    }
    const at::Tensor& extra = *u_fallback;
    TORCH_CHECK(extra.scalar_type() == at::kDouble && extra.is_contiguous() &&
                    extra.numel() == fallback,
                "sample_hop: expected ", fallback, " contiguous float64 fallback keys, got ",
                extra.numel());
    const double* ux = extra.data_ptr<double>();
    std::vector<std::pair<double, int64_t>> keyed;
    int64_t offset = 0;
    for (size_t f = 0; f < failed_rows.size(); ++f) {
      const int64_t i = failed_rows[f];
      keyed_select(begin[i], degree[i], k, static_cast<int64_t>(f), ux + offset,
                   pos + out_ptr[i], keyed);
      offset += degree[i];
    }
  }

  // Sources of the kept entries: random reads of the graph-sized col, in parallel.
  at::Tensor local_col = at::empty({total}, long_options);
  int64_t* lc = local_col.data_ptr<int64_t>();
  AT_DISPATCH_INDEX_TYPES(col.scalar_type(), "gnnkit_sample_hop", [&] {
    const index_t* cp = col.data_ptr<index_t>();
    for_each_block(uniform_blocks(total, 64), [&](int64_t e0, int64_t e1) {
      for (int64_t e = e0; e < e1; ++e) lc[e] = static_cast<int64_t>(cp[pos[e]]);
    });
  });

  // Relabel in output order (sequential: the numbering is the order of first appearance).
  NodeTable table(table_storage);
  // At most `total` new nodes: the map stays within twice what the sample holds plus this.
  table.reserve(num_local + total);
  std::vector<int64_t> fresh;
  int64_t size = num_local;
  for (int64_t e = 0; e < total; ++e) {
    bool inserted = false;
    const int64_t node = lc[e];
    lc[e] = table.find_or_insert(node, size, size, inserted);
    if (inserted) {
      fresh.push_back(node);
      ++size;
    }
  }
  at::Tensor new_nodes = at::empty({static_cast<int64_t>(fresh.size())}, long_options);
  std::copy(fresh.begin(), fresh.end(), new_nodes.data_ptr<int64_t>());

  // Within every row, entries by local source id: the order gnnkit's constructors give.
  const auto sort_blocks = balanced_row_blocks(out_ptr.data(), rows, 4, 8);
  for_each_block(sort_blocks, [&](int64_t i0, int64_t i1) {
    std::vector<std::pair<int64_t, int64_t>> scratch;
    for (int64_t i = i0; i < i1; ++i) {
      stable_sort_row(lc + out_ptr[i], pos + out_ptr[i], out_ptr[i + 1] - out_ptr[i], scratch);
    }
  });

  at::Tensor take = at::empty({rows}, long_options);
  int64_t* tp = take.data_ptr<int64_t>();
  for (int64_t i = 0; i < rows; ++i) tp[i] = out_ptr[i + 1] - out_ptr[i];
  return {0, take, positions, local_col, new_nodes, table.storage()};
}

}  // namespace gnnkit
