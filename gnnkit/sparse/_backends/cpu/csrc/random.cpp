// Bernoulli keep-masks drawn from PyTorch's CPU random stream (MT19937), in one fused pass.
//
// torch's CPU bernoulli_(q) keeps element e when u_e < q, with
//   u_e = (r_e mod 2^53) * 2^-53,  r_e = 2^32 * w_{2e} + w_{2e+1},
// w_0, w_1, ... the generator's next tempered MT19937 outputs (gnnkit/nn/linkpred/dropout.py
// explains the rule and checks it against bernoulli_ once per process). u_e < q is decided on
// integers: (w_{2e} mod 2^21, w_{2e+1}) < (high, low), the two words of ceil(q * 2^53).
//
// The state is MT19937's 624 words and the position of the next word (624: regenerate
// first), the layout NumPy's MT19937 uses; dropout.py converts torch's generator state to it
// and back. The masks equal NumPy's draw followed by the comparisons, without materialising
// the 2n words (8 bytes per element written and read again) or the comparison passes.
#include "common.h"

#include <algorithm>
#include <cstdint>
#include <tuple>

namespace gnnkit {
namespace {

constexpr int64_t kStateWords = 624;
constexpr int64_t kShift = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfU;
constexpr uint32_t kUpperBit = 0x80000000U;
constexpr uint32_t kLowerBits = 0x7fffffffU;

inline uint32_t twist_word(uint32_t current, uint32_t next, uint32_t shifted) {
  const uint32_t y = (current & kUpperBit) | (next & kLowerBits);
  // (0 - (y & 1)) & A: the conditional xor without a branch (vectorises)
  return shifted ^ (y >> 1) ^ ((0U - (y & 1U)) & kMatrixA);
}

// The standard MT19937 regeneration of all 624 words, in three loops without modulo so that
// each vectorises (word i reads i + 1 and i + 397, old values in the first loop, words already
// regenerated in the second; the dependency distance, 227, exceeds any vector width).
inline void regenerate(uint32_t* __restrict mt) {
  int64_t i = 0;
  for (; i < kStateWords - kShift; ++i) mt[i] = twist_word(mt[i], mt[i + 1], mt[i + kShift]);
  for (; i < kStateWords - 1; ++i) {
    mt[i] = twist_word(mt[i], mt[i + 1], mt[i + kShift - kStateWords]);
  }
  mt[kStateWords - 1] = twist_word(mt[kStateWords - 1], mt[0], mt[kShift - 1]);
}

inline uint32_t temper(uint32_t y) {
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= y >> 18;
  return y;
}

// The draw itself: writes out[e] = kept ? on : off for e < n, advancing (mt, pos).
template <typename T>
void draw_mask(uint32_t* mt, int64_t& pos, int64_t n, uint32_t high_word, uint32_t low_word,
               T on, T off, T* out) {
  // Whole blocks of tempered words are consumed element by element; an element's two words
  // may straddle two blocks (the first word ends one block, the second starts the next).
  uint32_t block[kStateWords];
  int64_t available = 0;  // tempered words left in `block`, starting at `first`
  int64_t first = 0;
  auto refill = [&]() {
    if (pos >= kStateWords) {
      regenerate(mt);
      pos = 0;
    }
    for (int64_t i = pos; i < kStateWords; ++i) block[i - pos] = temper(mt[i]);
    first = 0;
    available = kStateWords - pos;
    pos = kStateWords;
  };
  int64_t e = 0;
  while (e < n) {
    if (available < 2) {
      const bool has_carry = available == 1;
      const uint32_t carried = has_carry ? block[first] : 0;
      refill();
      if (has_carry) {
        // an element whose first word ended the previous block
        const uint32_t top = carried & 0x1FFFFFU;
        const bool kept = top < high_word || (top == high_word && block[first] < low_word);
        out[e++] = kept ? on : off;
        ++first;
        --available;
        continue;
      }
    }
    // as many elements as the block holds pairs of words
    const int64_t count = std::min<int64_t>(n - e, available / 2);
    const uint32_t* __restrict w = block + first;
    T* __restrict o = out + e;
    for (int64_t k = 0; k < count; ++k) {
      const uint32_t top = w[2 * k] & 0x1FFFFFU;
      const bool kept = (top < high_word) | ((top == high_word) & (w[2 * k + 1] < low_word));
      o[k] = kept ? on : off;
    }
    e += count;
    first += 2 * count;
    available -= 2 * count;
  }
  // words tempered but not consumed go back to the stream: the next word is the first
  // unconsumed one of the current state
  if (available > 0) pos = kStateWords - available;
}

}  // namespace

// key (624,) int32 (the MT19937 words' bits), pos in [0, 624]; n elements; threshold =
// ceil(q * 2^53) as (high, low) = (threshold >> 32, threshold & 0xffffffff). Returns
// (keep (n,), key after, pos after): keep is bool, or, with `scale` (a one-element floating
// tensor), the dropout noise itself in scale's dtype: scale[0] where kept, 0 elsewhere (one
// pass instead of the mask, its conversion and a division).
std::tuple<at::Tensor, at::Tensor, int64_t> bernoulli_keep_mask(
    const at::Tensor& key, int64_t pos, int64_t n, int64_t high, int64_t low,
    const c10::optional<at::Tensor>& scale) {
  TORCH_CHECK(key.scalar_type() == at::kInt && key.numel() == kStateWords && key.is_contiguous(),
              "bernoulli_keep_mask: key must be a contiguous (624,) int32 tensor");
  TORCH_CHECK(pos >= 0 && pos <= kStateWords, "bernoulli_keep_mask: pos must lie in [0, 624]");
  TORCH_CHECK(n >= 0, "bernoulli_keep_mask: n must be non-negative");
  TORCH_CHECK(high >= 0 && high <= (int64_t(1) << 21) && low >= 0 && low <= 0xffffffffLL,
              "bernoulli_keep_mask: the threshold must be ceil(q * 2^53) split in two words");
  at::Tensor state = key.clone();
  uint32_t* mt = reinterpret_cast<uint32_t*>(state.data_ptr<int32_t>());
  const uint32_t high_word = static_cast<uint32_t>(high);
  const uint32_t low_word = static_cast<uint32_t>(low);
  at::Tensor out;
  if (scale.has_value() && scale->defined()) {
    TORCH_CHECK(scale->numel() == 1 && scale->is_floating_point(),
                "bernoulli_keep_mask: scale must be a one-element floating tensor");
    out = at::empty({n}, scale->options());
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, scale->scalar_type(),
                                    "gnnkit_bernoulli_noise", [&] {
      const scalar_t on = scale->contiguous().data_ptr<scalar_t>()[0];
      draw_mask<scalar_t>(mt, pos, n, high_word, low_word, on, scalar_t(0),
                          out.data_ptr<scalar_t>());
    });
  } else {
    out = at::empty({n}, key.options().dtype(at::kBool));
    draw_mask<bool>(mt, pos, n, high_word, low_word, true, false, out.data_ptr<bool>());
  }
  return {out, state, pos};
}

}  // namespace gnnkit
