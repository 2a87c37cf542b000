// vitlab's fused elementwise kernels for tfjs's wasm backend, compiled to WebAssembly with SIMD.
//
// Why: a training step of vit-small ran ~1,700 tfjs kernels, and GELU (exact, through Erf and,
// backward, Exp), LayerNorm and softmax's backward were each a chain of 4 to 20 of them, every
// one a full pass over memory with its own dispatch. Each function here is one pass.
//
// The module imports tfjs's own wasm memory ("env" "memory"): pointers are byte offsets into the
// heap where tfjs keeps its tensors, so nothing is copied. It must own no memory of its own:
// no static data, no stack (every function is a leaf over scalars and v128 locals), which
// build.sh checks in the linked module.
//
// Numerics: float32 throughout, except the column sums of the LayerNorm gradient, which add in
// float64 in row order and round once, as vitlab's Sum kernel does. Every loop has a fixed
// order, so reruns are bit-identical.
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

typedef v128_t f32x4;

static inline f32x4 splat(float v) { return wasm_f32x4_splat(v); }
static inline f32x4 mul(f32x4 a, f32x4 b) { return wasm_f32x4_mul(a, b); }
static inline f32x4 add(f32x4 a, f32x4 b) { return wasm_f32x4_add(a, b); }
static inline f32x4 sub(f32x4 a, f32x4 b) { return wasm_f32x4_sub(a, b); }
static inline f32x4 madd(f32x4 a, f32x4 b, f32x4 c) { return wasm_f32x4_relaxed_madd(a, b, c); }

// erf(x), Eigen's and XLA's float rational approximation (odd polynomial over even polynomial
// on [-4, 4], ±1 beyond, where float32 erf is ±1): within a few ulp of the true value.
static inline f32x4 erf4(f32x4 a) {
  const f32x4 x = wasm_f32x4_pmax(wasm_f32x4_pmin(a, splat(4.f)), splat(-4.f));
  const f32x4 x2 = mul(x, x);
  f32x4 p = madd(x2, splat(-2.72614225801306e-10f), splat(2.77068142495902e-08f));
  p = madd(x2, p, splat(-2.10102402082508e-06f));
  p = madd(x2, p, splat(-5.69250639462346e-05f));
  p = madd(x2, p, splat(-7.34990630326855e-04f));
  p = madd(x2, p, splat(-2.95459980854025e-03f));
  p = madd(x2, p, splat(-1.60960333262415e-02f));
  p = mul(x, p);
  f32x4 q = madd(x2, splat(-1.45660718464996e-05f), splat(-2.13374055278905e-04f));
  q = madd(x2, q, splat(-1.68282697438203e-03f));
  q = madd(x2, q, splat(-7.37332916720468e-03f));
  q = madd(x2, q, splat(-1.42647390514189e-02f));
  return wasm_f32x4_div(p, q);
}

// exp(x) for x <= 0 (Cephes' expf: x = n·ln2 + r, a degree-5 polynomial for e^r, 2^n by
// building the exponent bits). Clamped at -87, where e^x < 2^-125 is nearly 0 and 2^n is still
// a normal float.
static inline f32x4 exp_nonpos4(f32x4 a) {
  const f32x4 x0 = wasm_f32x4_pmax(a, splat(-87.f));
  const f32x4 n = wasm_f32x4_floor(madd(x0, splat(1.44269504088896341f), splat(0.5f)));
  f32x4 x = sub(x0, mul(n, splat(0.693359375f)));
  x = sub(x, mul(n, splat(-2.12194440e-4f)));
  const f32x4 z = mul(x, x);
  f32x4 y = madd(splat(1.9875691500e-4f), x, splat(1.3981999507e-3f));
  y = madd(y, x, splat(8.3334519073e-3f));
  y = madd(y, x, splat(4.1665795894e-2f));
  y = madd(y, x, splat(1.6666665459e-1f));
  y = madd(y, x, splat(5.0000001201e-1f));
  y = add(add(mul(y, z), x), splat(1.f));
  const v128_t bits = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return mul(y, bits);
}

static inline float erf1(float v) { return wasm_f32x4_extract_lane(erf4(splat(v)), 0); }
static inline float exp_nonpos1(float v) { return wasm_f32x4_extract_lane(exp_nonpos4(splat(v)), 0); }

#define SQRT1_2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

// y = x·Φ(x) = x·(1 + erf(x/√2))/2, over n values; Φ(x) kept in phi for the backward pass,
// which then needs only φ (an exponential) and not erf again.
EXPORT(gelu_fwd) void gelu_fwd(const float* x, float* y, float* phi, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const f32x4 v = wasm_v128_load(x + i);
    const f32x4 cdf = mul(add(erf4(mul(v, splat(SQRT1_2))), splat(1.f)), splat(0.5f));
    wasm_v128_store(phi + i, cdf);
    wasm_v128_store(y + i, mul(v, cdf));
  }
  for (; i < n; i++) {
    phi[i] = (erf1(x[i] * SQRT1_2) + 1.f) * 0.5f;
    y[i] = x[i] * phi[i];
  }
}

// dx = dy·(Φ(x) + x·φ(x)), φ(x) = e^(−x²/2)/√(2π): GELU's derivative, over n values, with
// Φ(x) from the forward pass.
EXPORT(gelu_bwd) void gelu_bwd(const float* x, const float* phi, const float* dy, float* dx, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const f32x4 v = wasm_v128_load(x + i);
    const f32x4 pdf = mul(exp_nonpos4(mul(mul(v, v), splat(-0.5f))), splat(INV_SQRT_2PI));
    wasm_v128_store(dx + i, mul(wasm_v128_load(dy + i), madd(v, pdf, wasm_v128_load(phi + i))));
  }
  for (; i < n; i++) {
    const float v = x[i];
    const float pdf = exp_nonpos1(v * v * -0.5f) * INV_SQRT_2PI;
    dx[i] = dy[i] * (v * pdf + phi[i]);
  }
}

// The largest of the 4 lanes.
static inline float hmax(f32x4 v) {
  const float a = wasm_f32x4_extract_lane(v, 0), b = wasm_f32x4_extract_lane(v, 1);
  const float c = wasm_f32x4_extract_lane(v, 2), d = wasm_f32x4_extract_lane(v, 3);
  const float ab = a > b ? a : b, cd = c > d ? c : d;
  return ab > cd ? ab : cd;
}

// Σ of the 4 lanes, in a fixed order.
static inline float hsum(f32x4 v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

// Σ a over d values, or Σ a·b when b is given.
static inline float row_sum(const float* a, const float* b, int d) {
  f32x4 acc = splat(0.f);
  int j = 0;
  if (b) {
    for (; j + 4 <= d; j += 4) acc = madd(wasm_v128_load(a + j), wasm_v128_load(b + j), acc);
  } else {
    for (; j + 4 <= d; j += 4) acc = add(acc, wasm_v128_load(a + j));
  }
  float s = hsum(acc);
  for (; j < d; j++) s += b ? a[j] * b[j] : a[j];
  return s;
}

// Whether n floats (1 MB at most) are few enough to stay in a core's L2 while a column-at-a-time
// walk strides through them: then that walk, with each column's sums in registers from the first
// row to the last, is as fast as a row-by-row pass that keeps them in memory or faster
// (LayerNorm's dw and db at vit-small's [1088, 64]: 0.053 against 0.072 ms, measured alone);
// beyond, the strided walk misses the cache ([6400, 288] summed: 2.1–3.2 against 1.1–1.3 ms).
// Both add every column in row order, so the choice changes no bit.
static inline int fits_cache(int n) { return n <= (1 << 18); }

// Adds 4 float32 values, promoted, to their float64 sums lo (the first two) and hi (the last two).
static inline void add4(v128_t* lo, v128_t* hi, f32x4 v) {
  *lo = wasm_f64x2_add(*lo, wasm_f64x2_promote_low_f32x4(v));
  *hi = wasm_f64x2_add(*hi, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1)));
}

// Adds the 4 float32 columns of each of n rows (a stride apart), promoted and in row order, to
// the 4 float64 sums at acc.
static inline void add_promoted(double* acc, const float* x, int stride, int n) {
  v128_t lo = wasm_v128_load(acc), hi = wasm_v128_load(acc + 2);
  for (int i = 0; i < n; i++) add4(&lo, &hi, wasm_v128_load(x + i * stride));
  wasm_v128_store(acc, lo);
  wasm_v128_store(acc + 2, hi);
}

// The n float64 sums at acc rounded to float32 into out.
static inline void store_demoted(float* out, const double* acc, int n) {
  int c = 0;
  for (; c + 4 <= n; c += 4) {
    const v128_t lo = wasm_f32x4_demote_f64x2_zero(wasm_v128_load(acc + c));
    const v128_t hi = wasm_f32x4_demote_f64x2_zero(wasm_v128_load(acc + c + 2));
    wasm_v128_store(out + c, wasm_i32x4_shuffle(lo, hi, 0, 1, 4, 5));
  }
  for (; c < n; c++) out[c] = (float)acc[c];
}

static inline void zero(double* acc, int n) {
  for (int c = 0; c < n; c++) acc[c] = 0;
}

// LayerNorm of one row of d values: x̂ = (x − μ)·r with r = 1/√(σ² + eps), y = x̂·w + b.
// Writes y, and x̂ when hr is given; stats gets μ and r.
static inline void layer_norm_row(const float* xr, const float* w, const float* b, float* yr, float* hr, int d,
                                  float eps, float* stats) {
  const float inv_d = 1.f / (float)d;
  const float mean = row_sum(xr, 0, d) * inv_d;
  const f32x4 m4 = splat(mean);
  f32x4 acc = splat(0.f);
  int j = 0;
  for (; j + 4 <= d; j += 4) {
    const f32x4 c = sub(wasm_v128_load(xr + j), m4);
    acc = madd(c, c, acc);
  }
  float ss = hsum(acc);
  for (; j < d; j++) ss += (xr[j] - mean) * (xr[j] - mean);
  const float rr = 1.f / __builtin_sqrtf(ss * inv_d + eps);
  const f32x4 r4 = splat(rr);
  for (j = 0; j + 4 <= d; j += 4) {
    const f32x4 h = mul(sub(wasm_v128_load(xr + j), m4), r4);
    if (hr) wasm_v128_store(hr + j, h);
    wasm_v128_store(yr + j, madd(h, wasm_v128_load(w + j), wasm_v128_load(b + j)));
  }
  for (; j < d; j++) {
    const float h = (xr[j] - mean) * rr;
    if (hr) hr[j] = h;
    yr[j] = h * w[j] + b[j];
  }
  stats[0] = mean;
  stats[1] = rr;
}

// LayerNorm over each of `rows` rows of d values (layer_norm_row). Writes y, x̂ and r (one per row).
EXPORT(layer_norm_fwd)
void layer_norm_fwd(const float* x, const float* w, const float* b, float* y, float* xhat, float* r, int rows,
                    int d, float eps) {
  for (int row = 0; row < rows; row++) {
    float stats[2];
    layer_norm_row(x + row * d, w, b, y + row * d, xhat + row * d, d, eps, stats);
    r[row] = stats[1];
  }
}

// layer_norm_fwd's maths writing each row's stats (μ, r) as add_layer_norm_fwd does, and no x̂:
// the fused block's first norm, whose gradient (add_layer_norm_bwd) recomputes x̂ from x.
EXPORT(layer_norm_stats_fwd)
void layer_norm_stats_fwd(const float* x, const float* w, const float* b, float* y, float* stats, int rows, int d,
                          float eps) {
  for (int row = 0; row < rows; row++) layer_norm_row(x + row * d, w, b, y + row * d, 0, d, eps, stats + 2 * row);
}

// A pre-norm block's residual add and the LayerNorm after it, in one pass: s = x + br (the
// float32 sum tfjs's Add gives), then layer_norm_fwd's maths on s while its row is in cache.
// Writes s, y and stats [rows, 2] (μ, r): the gradient recomputes x̂ from s, bit for bit, rather
// than this pass writing it.
EXPORT(add_layer_norm_fwd)
void add_layer_norm_fwd(const float* x, const float* br, const float* w, const float* b, float* s, float* y,
                        float* stats, int rows, int d, float eps) {
  for (int row = 0; row < rows; row++) {
    const float *xr = x + row * d, *brr = br + row * d;
    float* sr = s + row * d;
    int j = 0;
    for (; j + 4 <= d; j += 4) wasm_v128_store(sr + j, add(wasm_v128_load(xr + j), wasm_v128_load(brr + j)));
    for (; j < d; j++) sr[j] = xr[j] + brr[j];
    layer_norm_row(sr, w, b, y + row * d, 0, d, eps, stats + 2 * row);
  }
}

// x̂ of 4 values: read as is (stats null), or (s − μ)·r as layer_norm_row computed it.
static inline f32x4 xhat4(const float* h, const float* stats, int j) {
  const f32x4 v = wasm_v128_load(h + j);
  return stats ? mul(sub(v, splat(stats[0])), splat(stats[1])) : v;
}

static inline float xhat1(const float* h, const float* stats, int j) {
  return stats ? (h[j] - stats[0]) * stats[1] : h[j];
}

// LayerNorm's input gradient per row: with g = dy·w,
// dx = r·(g − mean(g) − x̂·mean(g·x̂)), plus the residual stream's own gradient dres when given
// (the float32 sum tfjs's gradient accumulation gives). x̂ is h itself, or recomputed from h = s
// and stats when those are given; r is r[row], or the stats' r.
static inline void layer_norm_bwd_rows(const float* dy, const float* h, const float* stats, const float* r,
                                       const float* w, const float* dres, float* dx, int rows, int d) {
  const float inv_d = 1.f / (float)d;
  for (int row = 0; row < rows; row++) {
    const float* dyr = dy + row * d;
    const float* hr = h + row * d;
    const float* st = stats ? stats + 2 * row : 0;
    float* dxr = dx + row * d;
    f32x4 sg = splat(0.f), sgx = splat(0.f);
    int j = 0;
    for (; j + 4 <= d; j += 4) {
      const f32x4 g = mul(wasm_v128_load(dyr + j), wasm_v128_load(w + j));
      sg = add(sg, g);
      sgx = madd(g, xhat4(hr, st, j), sgx);
    }
    float mg = hsum(sg), mgx = hsum(sgx);
    for (; j < d; j++) {
      const float g = dyr[j] * w[j];
      mg += g;
      mgx += g * xhat1(hr, st, j);
    }
    mg *= inv_d;
    mgx *= inv_d;
    const float rr = st ? st[1] : r[row];
    const f32x4 mg4 = splat(mg), mgx4 = splat(mgx), r4 = splat(rr);
    for (j = 0; j + 4 <= d; j += 4) {
      const f32x4 g = mul(wasm_v128_load(dyr + j), wasm_v128_load(w + j));
      const f32x4 v = mul(sub(sub(g, mg4), mul(xhat4(hr, st, j), mgx4)), r4);
      wasm_v128_store(dxr + j, dres ? add(v, wasm_v128_load(dres + row * d + j)) : v);
    }
    for (; j < d; j++) {
      const float v = (dyr[j] * w[j] - mg - xhat1(hr, st, j) * mgx) * rr;
      dxr[j] = dres ? v + dres[row * d + j] : v;
    }
  }
}

EXPORT(layer_norm_bwd_x)
void layer_norm_bwd_x(const float* dy, const float* xhat, const float* r, const float* w, float* dx, int rows, int d) {
  layer_norm_bwd_rows(dy, xhat, 0, r, w, 0, dx, rows, d);
}

// The weight and bias gradients of LayerNorm: dw = Σ_rows dy·x̂, db = Σ_rows dy, each column
// added in float64 in row order and rounded once (x̂ as layer_norm_bwd_rows reads it). Row by
// row, 4 rows at a time, into 2·d float64 sums at acc (scratch the caller allocates, 8-byte
// aligned): memory read in order, as sum_rows does.
static inline void layer_norm_cols_block(const float* dy, const float* h, const float* stats, double* aw, double* ab,
                                         int row, int n, int d) {
  int c = 0;
  for (; c + 4 <= d; c += 4) {
    v128_t w_lo = wasm_v128_load(aw + c), w_hi = wasm_v128_load(aw + c + 2);
    v128_t b_lo = wasm_v128_load(ab + c), b_hi = wasm_v128_load(ab + c + 2);
    for (int i = row; i < row + n; i++) {
      const f32x4 g = wasm_v128_load(dy + i * d + c);
      const f32x4 hh = xhat4(h + i * d, stats ? stats + 2 * i : 0, c);
      add4(&b_lo, &b_hi, g);
      // The product rounds to float32 before it is added, as tfjs's Mul followed by a Sum did.
      add4(&w_lo, &w_hi, mul(g, hh));
    }
    wasm_v128_store(aw + c, w_lo);
    wasm_v128_store(aw + c + 2, w_hi);
    wasm_v128_store(ab + c, b_lo);
    wasm_v128_store(ab + c + 2, b_hi);
  }
  for (; c < d; c++) {
    for (int i = row; i < row + n; i++) {
      const float g = dy[i * d + c];
      aw[c] += (double)(g * xhat1(h + i * d, stats ? stats + 2 * i : 0, c));
      ab[c] += (double)g;
    }
  }
}

// The weight and bias gradients of LayerNorm: dw = Σ_rows dy·x̂, db = Σ_rows dy, each column
// added in float64 in row order and rounded once (x̂ as layer_norm_bwd_rows reads it), into 2·d
// float64 sums at acc (scratch the caller allocates, 8-byte aligned). All rows in one block
// where dy and x̂ stay in cache, else 4 rows at a time over every column (see fits_cache).
static inline void layer_norm_bwd_cols(const float* dy, const float* h, const float* stats, float* dw, float* db,
                                       int rows, int d, double* acc) {
  zero(acc, 2 * d);
  const int block = fits_cache(2 * rows * d) ? rows : 4;
  for (int row = 0; row < rows; row += block) {
    layer_norm_cols_block(dy, h, stats, acc, acc + d, row, rows - row < block ? rows - row : block, d);
  }
  store_demoted(dw, acc, d);
  store_demoted(db, acc + d, d);
}

EXPORT(layer_norm_bwd_wb)
void layer_norm_bwd_wb(const float* dy, const float* xhat, float* dw, float* db, int rows, int d, double* acc) {
  layer_norm_bwd_cols(dy, xhat, 0, dw, db, rows, d, acc);
}

// add_layer_norm_fwd's gradients: dx = dbr = LayerNorm's input gradient + ds (s's gradient from
// the layers after it), dw and db; x̂ recomputed from s and the forward's stats.
EXPORT(add_layer_norm_bwd)
void add_layer_norm_bwd(const float* dy, const float* ds, const float* s, const float* stats, const float* w,
                        float* dx, float* dw, float* db, int rows, int d, double* acc) {
  layer_norm_bwd_rows(dy, s, stats, 0, w, ds, dx, rows, d);
  layer_norm_bwd_cols(dy, s, stats, dw, db, rows, d, acc);
}

// Softmax's input gradient over each of `rows` rows of n values: dx = y·(dy − Σ dy·y).
EXPORT(softmax_bwd) void softmax_bwd(const float* y, const float* dy, float* dx, int rows, int n) {
  for (int row = 0; row < rows; row++) {
    const float* yr = y + row * n;
    const float* dyr = dy + row * n;
    float* dxr = dx + row * n;
    const float s = row_sum(dyr, yr, n);
    const f32x4 s4 = splat(s);
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      wasm_v128_store(dxr + j, mul(wasm_v128_load(yr + j), sub(wasm_v128_load(dyr + j), s4)));
    }
    for (; j < n; j++) dxr[j] = yr[j] * (dyr[j] - s);
  }
}

// y = transpose(x, [0, 2, 1, 3]) for x of shape [B, I, J, K]: attention's split into heads and
// merge back ([B, T, H, hd] ↔ [B, H, T, hd]), forward and backward. Rows of K values are copied
// whole, in the output's order.
EXPORT(transpose_0213) void transpose_0213(const float* x, float* y, int B, int I, int J, int K) {
  for (int b = 0; b < B; b++) {
    for (int j = 0; j < J; j++) {
      for (int i = 0; i < I; i++) {
        const float* src = x + ((b * I + i) * J + j) * K;
        int k = 0;
        for (; k + 4 <= K; k += 4) wasm_v128_store(y + k, wasm_v128_load(src + k));
        for (; k < K; k++) y[k] = src[k];
        y += K;
      }
    }
  }
}

// y[row] += bias for each of `rows` rows of n values, in place: a linear layer's bias after its
// product (the float32 sum tfjs's broadcasting Add gives).
EXPORT(add_bias_rows) void add_bias_rows(float* y, const float* bias, int rows, int n) {
  for (int row = 0; row < rows; row++) {
    float* yr = y + row * n;
    int j = 0;
    for (; j + 4 <= n; j += 4) wasm_v128_store(yr + j, add(wasm_v128_load(yr + j), wasm_v128_load(bias + j)));
    for (; j < n; j++) yr[j] = yr[j] + bias[j];
  }
}

// out[c] = Σ_rows x[row][c]: every bias gradient. Each column adds in float64 in row order and
// rounds once; acc: cols float64 sums of scratch the caller allocates (8-byte aligned).
EXPORT(sum_rows) void sum_rows(const float* x, float* out, int rows, int cols, double* acc) {
  zero(acc, cols);
  // All rows in one block where x stays in cache, else 4 rows at a time over every column.
  const int block = fits_cache(rows * cols) ? rows : 4;
  for (int row = 0; row < rows; row += block) {
    const int n = rows - row < block ? rows - row : block;
    const float* r = x + row * cols;
    int c = 0;
    for (; c + 4 <= cols; c += 4) add_promoted(acc + c, r + c, cols, n);
    for (; c < cols; c++) {
      for (int i = 0; i < n; i++) acc[c] += (double)r[i * cols + c];
    }
  }
  store_demoted(out, acc, cols);
}

// Copies one head's k or v rows (T rows of hd, stride `row`) into dst as [hd][Tp], transposed,
// with zeros in the columns from T to Tp (Tp: T rounded up to 4).
static inline void gather_t(const float* src, int row, int T, int Tp, int hd, float* dst) {
  for (int k = 0; k < hd; k++) {
    float* d = dst + k * Tp;
    for (int j = 0; j < T; j++) d[j] = src[j * row + k];
    for (int j = T; j < Tp; j++) d[j] = 0.f;
  }
}

// o[0..n) = Σ_j w[j·ws]·x[j·xs + 0..n) over j < T: rows of x weighted, 16 columns at a time in
// registers (attention's products are far too small for BLAS to pay off: 17×16×17 a head at
// vit-small's size). Strides let w be a column of a matrix and x rows of q, k, v or dout in
// place; with x a transposed [hd][Tp] matrix it is a row times that matrix.
static inline void weighted_rows(const float* w, int ws, const float* x, int xs, int T, int n, float* o) {
  int c = 0;
  for (; c + 16 <= n; c += 16) {
    f32x4 a0 = splat(0.f), a1 = a0, a2 = a0, a3 = a0;
    for (int j = 0; j < T; j++) {
      const f32x4 wj = splat(w[j * ws]);
      const float* r = x + j * xs + c;
      a0 = madd(wj, wasm_v128_load(r), a0);
      a1 = madd(wj, wasm_v128_load(r + 4), a1);
      a2 = madd(wj, wasm_v128_load(r + 8), a2);
      a3 = madd(wj, wasm_v128_load(r + 12), a3);
    }
    wasm_v128_store(o + c, a0);
    wasm_v128_store(o + c + 4, a1);
    wasm_v128_store(o + c + 8, a2);
    wasm_v128_store(o + c + 12, a3);
  }
  for (; c + 4 <= n; c += 4) {
    f32x4 a0 = splat(0.f);
    for (int j = 0; j < T; j++) a0 = madd(splat(w[j * ws]), wasm_v128_load(x + j * xs + c), a0);
    wasm_v128_store(o + c, a0);
  }
  for (; c < n; c++) {
    float a = 0.f;
    for (int j = 0; j < T; j++) a += w[j * ws] * x[j * xs + c];
    o[c] = a;
  }
}

// weighted_rows for two weight vectors at once, w0 and w1 (same stride), sharing every load of
// x: o0 = Σ_j w0[j·ws]·x_j and o1 = Σ_j w1[j·ws]·x_j. Each output adds over j in the same order,
// with the same operations, as weighted_rows, so the bytes are the same, with half the loads of x
// (a layer of attention 14% faster on a 2 GHz Intel machine; docs/performance.md).
static inline void weighted_rows2(const float* w0, const float* w1, int ws, const float* x, int xs, int T, int n,
                                  float* o0, float* o1) {
  int c = 0;
  for (; c + 16 <= n; c += 16) {
    f32x4 a0 = splat(0.f), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int j = 0; j < T; j++) {
      const f32x4 u = splat(w0[j * ws]), v = splat(w1[j * ws]);
      const float* r = x + j * xs + c;
      const f32x4 x0 = wasm_v128_load(r), x1 = wasm_v128_load(r + 4);
      const f32x4 x2 = wasm_v128_load(r + 8), x3 = wasm_v128_load(r + 12);
      a0 = madd(u, x0, a0);
      a1 = madd(u, x1, a1);
      a2 = madd(u, x2, a2);
      a3 = madd(u, x3, a3);
      b0 = madd(v, x0, b0);
      b1 = madd(v, x1, b1);
      b2 = madd(v, x2, b2);
      b3 = madd(v, x3, b3);
    }
    wasm_v128_store(o0 + c, a0);
    wasm_v128_store(o0 + c + 4, a1);
    wasm_v128_store(o0 + c + 8, a2);
    wasm_v128_store(o0 + c + 12, a3);
    wasm_v128_store(o1 + c, b0);
    wasm_v128_store(o1 + c + 4, b1);
    wasm_v128_store(o1 + c + 8, b2);
    wasm_v128_store(o1 + c + 12, b3);
  }
  for (; c + 4 <= n; c += 4) {
    f32x4 a0 = splat(0.f), b0 = a0;
    for (int j = 0; j < T; j++) {
      const f32x4 x0 = wasm_v128_load(x + j * xs + c);
      a0 = madd(splat(w0[j * ws]), x0, a0);
      b0 = madd(splat(w1[j * ws]), x0, b0);
    }
    wasm_v128_store(o0 + c, a0);
    wasm_v128_store(o1 + c, b0);
  }
  for (; c < n; c++) {
    float a = 0.f, b = 0.f;
    for (int j = 0; j < T; j++) {
      a += w0[j * ws] * x[j * xs + c];
      b += w1[j * ws] * x[j * xs + c];
    }
    o0[c] = a;
    o1[c] = b;
  }
}

static inline int round4(int n) { return (n + 3) & ~3; }

// One row of attention's probabilities: pr[0..T) = softmax(scale·s) over the row's T scores,
// s padded to Tp (its padding is overwritten).
static inline void softmax_row(float* s, int T, int Tp, float scale, float* pr) {
  // The row's maximum, 4 at a time: the padding's columns first become the least float.
  for (int j = T; j < Tp; j++) s[j] = -3.402823466e38f;
  f32x4 mx4 = wasm_v128_load(s);
  for (int j = 4; j < Tp; j += 4) mx4 = wasm_f32x4_pmax(mx4, wasm_v128_load(s + j));
  const float mx = hmax(mx4);
  // softmax(scale·s) = exp(scale·(s − max)) over its sum; the padding's columns are 0.
  const f32x4 sc4 = splat(scale);
  mx4 = splat(mx);
  f32x4 tot4 = splat(0.f);
  for (int j = 0; j < Tp; j += 4) wasm_v128_store(s + j, exp_nonpos4(mul(sub(wasm_v128_load(s + j), mx4), sc4)));
  for (int j = T; j < Tp; j++) s[j] = 0.f;
  for (int j = 0; j < Tp; j += 4) tot4 = add(tot4, wasm_v128_load(s + j));
  const float inv = 1.f / hsum(tot4);
  // p's rows have T columns and no padding: 4 at a time within the row, then one by one.
  const f32x4 inv4 = splat(inv);
  int j = 0;
  for (; j + 4 <= T; j += 4) wasm_v128_store(pr + j, mul(wasm_v128_load(s + j), inv4));
  for (; j < T; j++) pr[j] = s[j] * inv;
}

// Multi-head self-attention's core, straight from the fused qkv projection, forward.
// qkv: [B, T, 3, H, hd] (timm's layout: q, then k, then v, each head-major), out: [B, T, H, hd]
// (the heads merged, as the output projection takes them), p: [B, H, T, T] the probabilities,
// softmax(scale·q·kᵀ) per head, kept for the backward pass (and for pictures of attention).
// No transposes of activations, no batched products: each head's rows are read in place, two
// query rows at a time (weighted_rows2).
// scratch: (hd + 2)·round4(T) floats from tfjs's allocator (this module owns no memory): one
// head's kᵀ, and two rows of scores.
EXPORT(attention_fwd)
void attention_fwd(const float* qkv, float* out, float* p, float* scratch, int B, int T, int H, int hd, float scale) {
  const int D = H * hd, row = 3 * D, Tp = round4(T);
  float* kt = scratch;                  // [hd][Tp]
  float* s0 = scratch + hd * Tp;        // [Tp]
  float* s1 = scratch + (hd + 1) * Tp;  // [Tp]
  for (int b = 0; b < B; b++) {
    const float* base = qkv + b * T * row;
    const float* v = base + 2 * D;
    for (int h = 0; h < H; h++) {
      gather_t(base + D + h * hd, row, T, Tp, hd, kt);
      float* ph = p + ((b * H + h) * T) * T;
      int i = 0;
      for (; i + 2 <= T; i += 2) {
        const float* q0 = base + i * row + h * hd;
        weighted_rows2(q0, q0 + row, 1, kt, Tp, hd, Tp, s0, s1);  // scores: q_i·kᵀ, q_i+1·kᵀ
        softmax_row(s0, T, Tp, scale, ph + i * T);
        softmax_row(s1, T, Tp, scale, ph + (i + 1) * T);
        float* o0 = out + (b * T + i) * D + h * hd;
        weighted_rows2(ph + i * T, ph + (i + 1) * T, 1, v + h * hd, row, T, hd, o0, o0 + D);
      }
      for (; i < T; i++) {
        weighted_rows(base + i * row + h * hd, 1, kt, Tp, hd, Tp, s0);
        softmax_row(s0, T, Tp, scale, ph + i * T);
        weighted_rows(ph + i * T, 1, v + h * hd, row, T, hd, out + (b * T + i) * D + h * hd);
      }
    }
  }
}

// dS's row i from its dP row (in place): dS = scale·P∘(dP − Σ_j P∘dP).
static inline void ds_row(float* dsr, const float* pr, int T, float scale) {
  float c = 0.f;
  for (int j = 0; j < T; j++) c += pr[j] * dsr[j];
  const f32x4 c4 = splat(c), sc4 = splat(scale);
  int j = 0;
  for (; j + 4 <= T; j += 4) {
    wasm_v128_store(dsr + j, mul(mul(sc4, wasm_v128_load(pr + j)), sub(wasm_v128_load(dsr + j), c4)));
  }
  for (; j < T; j++) dsr[j] = scale * pr[j] * (dsr[j] - c);
}

// ds_row for two rows at once: the same sums in the same order, as two independent chains (the
// one-row sum waits on each add before the next).
static inline void ds_row2(float* d0, float* d1, const float* p0, const float* p1, int T, float scale) {
  float c0 = 0.f, c1 = 0.f;
  for (int j = 0; j < T; j++) {
    c0 += p0[j] * d0[j];
    c1 += p1[j] * d1[j];
  }
  const f32x4 sc4 = splat(scale);
  const f32x4 c04 = splat(c0), c14 = splat(c1);
  int j = 0;
  for (; j + 4 <= T; j += 4) {
    wasm_v128_store(d0 + j, mul(mul(sc4, wasm_v128_load(p0 + j)), sub(wasm_v128_load(d0 + j), c04)));
    wasm_v128_store(d1 + j, mul(mul(sc4, wasm_v128_load(p1 + j)), sub(wasm_v128_load(d1 + j), c14)));
  }
  for (; j < T; j++) {
    d0[j] = scale * p0[j] * (d0[j] - c0);
    d1[j] = scale * p1[j] * (d1[j] - c1);
  }
}

// Its backward: from dout [B, T, H, hd], the saved p and qkv, the gradient dqkv [B, T, 3, H, hd].
// With dP = dout·vᵀ and dS = scale·P∘(dP − Σ_j P∘dP) per row: dq = dS·k, dk = dSᵀ·q,
// dv = Pᵀ·dout, each written once (no accumulation in place), two rows at a time.
// scratch: (hd + T)·round4(T) floats from tfjs's allocator: one head's vᵀ, and its dS.
EXPORT(attention_bwd)
void attention_bwd(const float* dout, const float* p, const float* qkv, float* dqkv, float* scratch, int B, int T,
                   int H, int hd, float scale) {
  const int D = H * hd, row = 3 * D, Tp = round4(T);
  float* vt = scratch;            // [hd][Tp]
  float* ds = scratch + hd * Tp;  // [T][Tp]
  for (int b = 0; b < B; b++) {
    const float* base = qkv + b * T * row;
    const float* gb = dout + b * T * D;
    float* dbase = dqkv + b * T * row;
    for (int h = 0; h < H; h++) {
      gather_t(base + 2 * D + h * hd, row, T, Tp, hd, vt);
      const float* ph = p + ((b * H + h) * T) * T;
      const float* k = base + D + h * hd;
      int i = 0;
      for (; i + 2 <= T; i += 2) {
        float* d0 = ds + i * Tp;
        const float* g0 = gb + i * D + h * hd;
        weighted_rows2(g0, g0 + D, 1, vt, Tp, hd, Tp, d0, d0 + Tp);  // dP rows: dout_i·vᵀ
        ds_row2(d0, d0 + Tp, ph + i * T, ph + (i + 1) * T, T, scale);
        float* dq0 = dbase + i * row + h * hd;
        weighted_rows2(d0, d0 + Tp, 1, k, row, T, hd, dq0, dq0 + row);  // dq_i = Σ_j dS_ij·k_j
      }
      for (; i < T; i++) {
        float* dsr = ds + i * Tp;
        weighted_rows(gb + i * D + h * hd, 1, vt, Tp, hd, Tp, dsr);
        ds_row(dsr, ph + i * T, T, scale);
        weighted_rows(dsr, 1, k, row, T, hd, dbase + i * row + h * hd);
      }
      const float* q = base + h * hd;
      const float* g = gb + h * hd;
      int j = 0;
      for (; j + 2 <= T; j += 2) {
        float* dk0 = dbase + j * row + D + h * hd;
        weighted_rows2(ds + j, ds + j + 1, Tp, q, row, T, hd, dk0, dk0 + row);  // dk_j = Σ_i dS_ij·q_i
        float* dv0 = dbase + j * row + 2 * D + h * hd;
        weighted_rows2(ph + j, ph + j + 1, T, g, D, T, hd, dv0, dv0 + row);  // dv_j = Σ_i P_ij·dout_i
      }
      for (; j < T; j++) {
        weighted_rows(ds + j, Tp, q, row, T, hd, dbase + j * row + D + h * hd);
        weighted_rows(ph + j, T, g, D, T, hd, dbase + j * row + 2 * D + h * hd);
      }
    }
  }
}

// The two passes attention leaves to this module when OpenBLAS computes its products (the blas
// backend on long sequences, simd_kernels.ts): probabilities from scores, and dS from dP.

// softmax(scale·s) over each of `rows` rows of T values, in place (rows unpadded: 4 at a time,
// then the row's last T mod 4 one by one, each through the same lane arithmetic).
EXPORT(softmax_rows) void softmax_rows(float* s, int rows, int T, float scale) {
  const int T4 = T & ~3;
  const f32x4 sc4 = splat(scale);
  for (int r = 0; r < rows; r++, s += T) {
    f32x4 mx4 = splat(-3.402823466e38f);
    for (int j = 0; j < T4; j += 4) mx4 = wasm_f32x4_pmax(mx4, wasm_v128_load(s + j));
    float mx = hmax(mx4);
    for (int j = T4; j < T; j++) mx = s[j] > mx ? s[j] : mx;
    const f32x4 m4 = splat(mx);
    f32x4 tot4 = splat(0.f);
    for (int j = 0; j < T4; j += 4) {
      const f32x4 e = exp_nonpos4(mul(sub(wasm_v128_load(s + j), m4), sc4));
      wasm_v128_store(s + j, e);
      tot4 = add(tot4, e);
    }
    float tot = hsum(tot4);
    for (int j = T4; j < T; j++) {
      s[j] = exp_nonpos1((s[j] - mx) * scale);
      tot += s[j];
    }
    const float inv = 1.f / tot;
    const f32x4 inv4 = splat(inv);
    for (int j = 0; j < T4; j += 4) wasm_v128_store(s + j, mul(wasm_v128_load(s + j), inv4));
    for (int j = T4; j < T; j++) s[j] *= inv;
  }
}

// dS = scale·P∘(dP − Σ_j P∘dP) over each of `rows` rows of T values, in place in dP, two rows
// at a time as attention_bwd's.
EXPORT(attention_ds_rows) void attention_ds_rows(float* ds, const float* p, int rows, int T, float scale) {
  int r = 0;
  for (; r + 2 <= rows; r += 2) ds_row2(ds + r * T, ds + (r + 1) * T, p + r * T, p + (r + 1) * T, T, scale);
  for (; r < rows; r++) ds_row(ds + r * T, p + r * T, T, scale);
}

// One Adam(W) update of n values (adam_update.ts's formula): g ← g·grad_scale + l2·p;
// m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p·decay − step·m/(√v/sqrt_bias2 + eps).
// In float64, each output rounded once to float32. Contraction is off, so no product is fused
// into a sum: the bytes are those of the same formula in JavaScript, which this replaced.
EXPORT(adam_update)
void adam_update(const float* p, const float* g, const float* m, const float* v, float* po, float* mo, float* vo,
                 int n, double step, double beta1, double beta2, double sqrt_bias2, double eps, double l2,
                 double decay, double grad_scale) {
#pragma clang fp contract(off)
  for (int i = 0; i < n; i++) {
    const double x = p[i];
    const double grad = g[i] * grad_scale + l2 * x;
    const double m2 = beta1 * m[i] + (1 - beta1) * grad;
    const double v2 = beta2 * v[i] + (1 - beta2) * grad * grad;
    mo[i] = (float)m2;
    vo[i] = (float)v2;
    po[i] = (float)(x * decay - step * m2 / (__builtin_sqrt(v2) / sqrt_bias2 + eps));
  }
}

// The weights' moving average, s ← s·d + p·(1 − d) over n values, as tfjs's Mul, Mul and Add
// compute it in float32 (each product rounded, then the sum; d and 1 − d given as float32): the
// same bytes in one pass instead of three kernels.
EXPORT(ema_update) void ema_update(const float* s, const float* p, float* out, int n, float d, float one_minus_d) {
#pragma clang fp contract(off)
  const f32x4 d4 = splat(d), e4 = splat(one_minus_d);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    wasm_v128_store(out + i, add(mul(wasm_v128_load(s + i), d4), mul(wasm_v128_load(p + i), e4)));
  }
  for (; i < n; i++) {
    const float a = s[i] * d, b = p[i] * one_minus_d;
    out[i] = a + b;
  }
}

// Drop-path over `groups` images of n values each: out = x·scale[g] (tfjs's broadcasting Mul,
// each product rounded to float32). out may be x.
EXPORT(scale_groups) void scale_groups(const float* x, const float* scale, float* out, int groups, int n) {
  for (int g = 0; g < groups; g++) {
    const f32x4 s4 = splat(scale[g]);
    const float* xg = x + g * n;
    float* og = out + g * n;
    int i = 0;
    for (; i + 4 <= n; i += 4) wasm_v128_store(og + i, mul(wasm_v128_load(xg + i), s4));
    for (; i < n; i++) og[i] = xg[i] * scale[g];
  }
}

// A residual add after drop-path: out = x + br·scale[g] over `groups` images of n values (the
// product rounded to float32 before the sum, as Mul then Add gave), or x + br where scale is
// null (no drop-path).
EXPORT(add_scaled_groups)
void add_scaled_groups(const float* x, const float* br, const float* scale, float* out, int groups, int n) {
#pragma clang fp contract(off)
  for (int g = 0; g < groups; g++) {
    const float sg = scale ? scale[g] : 1.f;
    const f32x4 s4 = splat(sg);
    const float *xg = x + g * n, *bg = br + g * n;
    float* og = out + g * n;
    int i = 0;
    if (scale) {
      for (; i + 4 <= n; i += 4) {
        wasm_v128_store(og + i, add(wasm_v128_load(xg + i), mul(wasm_v128_load(bg + i), s4)));
      }
      for (; i < n; i++) og[i] = xg[i] + bg[i] * sg;
    } else {
      for (; i + 4 <= n; i += 4) wasm_v128_store(og + i, add(wasm_v128_load(xg + i), wasm_v128_load(bg + i)));
      for (; i < n; i++) og[i] = xg[i] + bg[i];
    }
  }
}

// acc + Σ x² over n values, in float64, one value after another (each square exact in float64):
// the global gradient norm's sum, the bytes of the JavaScript loop it replaced.
EXPORT(sum_squares) double sum_squares(const float* x, int n, double acc) {
#pragma clang fp contract(off)
  for (int i = 0; i < n; i++) acc += (double)x[i] * (double)x[i];
  return acc;
}
