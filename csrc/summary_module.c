/* roadmark.models.fast_summary: a segmentation model's per-pixel summary on the CPU in one
 * pass over its logits: each output row's logits are interpolated (bilinear, PyTorch's
 * align_corners=False sampling) into a small buffer of all classes, and read there for the
 * label, confidence, margin and normalized entropy, quantized to bytes. PyTorch's own
 * operations (roadmark.models.cpu_summary) make the whole upsampled map first (19 floats a
 * pixel, 40 MB a 1024x512 frame) and pass over it about ten times; this reads each
 * interpolated value twice, from the CPU's caches.
 *
 * The exponential and logarithm are Cephes' single-precision polynomials written so that the
 * compiler vectorizes the loops over a row (relative error about 1e-7, far below the 1/255
 * steps of the maps). Against PyTorch's operations the maps agree to within one level;
 * where two classes tie to within float rounding the winner may differ.
 *
 * Built by setup.py as an optional extension: where it does not build, the summary runs
 * as PyTorch operations.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define ROUNDER 12582912.0f /* 1.5 * 2**23: x + ROUNDER - ROUNDER rounds x to an integer */

/* e**x for any float x (clamped to [-87, 88]: 0 and infinity are not needed here) */
static inline float
exp_approx(float x)
{
    x = x > -87.0f ? x : -87.0f; /* also NaN -> -87 */
    x = x < 88.0f ? x : 88.0f;
    float n = (x * 1.44269504088896341f + ROUNDER) - ROUNDER;
    float r = x - n * LN2_HI;
    r = r - n * LN2_LO;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* log(x) for x >= 1 (a sum of exponentials of which one is 1) */
static inline float
log_approx(float x)
{
    int32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int32_t exponent = ((bits >> 23) & 0xff) - 127;
    bits = (bits & 0x007fffff) | 0x3f800000; /* mantissa in [1, 2) */
    float m;
    memcpy(&m, &bits, sizeof m);
    /* to [sqrt(1/2), sqrt(2)) */
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    float e = (float)(exponent + big);
    float f = m - 1.0f;
    float z = f * f;
    float p = 7.0376836292E-2f;
    p = p * f - 1.1514610310E-1f;
    p = p * f + 1.1676998740E-1f;
    p = p * f - 1.2420140846E-1f;
    p = p * f + 1.4249322787E-1f;
    p = p * f - 1.6668057665E-1f;
    p = p * f + 2.0000714765E-1f;
    p = p * f - 2.4999993993E-1f;
    p = p * f + 3.3333331174E-1f;
    float y = f * z * p;
    y += e * LN2_LO;
    y -= 0.5f * z;
    return f + y + e * LN2_HI;
}

static inline uint8_t
quantize(float value)
{
    float q = (value * 255.0f + ROUNDER) - ROUNDER; /* to the nearest, halves to even */
    q = q > 0.0f ? q : 0.0f;                         /* also NaN -> 0 */
    q = q < 255.0f ? q : 255.0f;
    return (uint8_t)q;
}

/* Where output position i (of out) samples the input (of in), as PyTorch's bilinear
 * interpolation with align_corners=False and no scale factor given: first index, step to
 * the second (0 at the last), and the second's weight. */
static void
sample_positions(Py_ssize_t in, Py_ssize_t out, int32_t *first, int32_t *step, float *weight)
{
    float scale = (float)in / (float)out;
    for (Py_ssize_t i = 0; i < out; i++) {
        float source = scale * ((float)i + 0.5f) - 0.5f;
        source = source < 0.0f ? 0.0f : source;
        int32_t index = (int32_t)source;
        if (index > in - 1) {
            index = (int32_t)(in - 1);
        }
        first[i] = index;
        step[i] = index < in - 1 ? 1 : 0;
        weight[i] = source - (float)index;
    }
}

/* Where the logits are first interpolated to a middle size (a model's own upsampling to
 * its input size, done here instead), row by row as the output rows need them. */
typedef struct {
    Py_ssize_t height, width;     /* the middle size (0: none) */
    int32_t *x0, *dx, *y0, *dy;   /* sample_positions from the logits to it */
    float *wx, *wy;
    float *wide;                  /* 2 x classes x width: logit rows widened */
    float *row;                   /* classes x width: the middle row made last */
} Middle;

typedef struct {
    Py_ssize_t batch, classes, in_h, in_w, out_h, out_w;
    Middle middle;
    Py_ssize_t stride[4]; /* of the logits, in floats: batch, class, row, column */
    const float *logits;
    const void *lut;
    int label_size;
    void *labels;
    uint8_t *confidence, *margin, *entropy;
} Job;

/* One input row of one class (its columns ``step`` floats apart) interpolated along the
 * row to out_w values. */
static inline void
widen_row(const float *restrict source, Py_ssize_t step, float *restrict out,
          Py_ssize_t width, const int32_t *restrict x0, const int32_t *restrict dx,
          const float *restrict wx)
{
    for (Py_ssize_t x = 0; x < width; x++) {
        const float *at = source + x0[x] * step;
        out[x] = at[0] * (1.0f - wx[x]) + at[dx[x] * step] * wx[x];
    }
}

/* The same for exactly twice the width (the usual case: a 512-wide model input, a 1024-wide
 * map), with the same products and sums: output 2i samples i - 1/4 (weights 1/4 and 3/4),
 * 2i + 1 samples i + 1/4 (3/4 and 1/4), the first and last clamped as sample_positions
 * clamps them. The row is gathered into ``dense`` first where its columns are apart
 * (channels-last logits), so that the arithmetic is vectorized. */
static inline void
widen_row_twice(const float *restrict source, Py_ssize_t step, float *restrict dense,
                float *restrict out, Py_ssize_t width)
{
    const float *a = source;
    if (step != 1) {
        for (Py_ssize_t i = 0; i < width; i++) {
            dense[i] = source[i * step];
        }
        a = dense;
    }
    out[0] = a[0] * 1.0f + a[width > 1 ? 1 : 0] * 0.0f;
    for (Py_ssize_t i = 1; i < width; i++) {
        out[2 * i] = a[i - 1] * 0.25f + a[i] * 0.75f;
    }
    for (Py_ssize_t i = 0; i + 1 < width; i++) {
        out[2 * i + 1] = a[i] * 0.75f + a[i + 1] * 0.25f;
    }
    out[2 * width - 1] = a[width - 1] * 0.75f + a[width - 1] * 0.25f;
}

/* Two widened input rows of a class mixed into the output row's logits: the first class
 * starts the largest and runner-up logits, each next one updates them. */
static inline void
first_class(const float *restrict a, const float *restrict a2, float w0, float w1,
            float *restrict row, float *restrict top, float *restrict second,
            int32_t *restrict winner, Py_ssize_t width)
{
    for (Py_ssize_t x = 0; x < width; x++) {
        float v = a[x] * w0 + a2[x] * w1;
        row[x] = v;
        top[x] = v;
        second[x] = -INFINITY;
        winner[x] = 0;
    }
}

static inline void
next_class(const float *restrict a, const float *restrict a2, float w0, float w1,
           float *restrict row, float *restrict top, float *restrict second,
           int32_t *restrict winner, int32_t k, Py_ssize_t width)
{
    for (Py_ssize_t x = 0; x < width; x++) {
        float v = a[x] * w0 + a2[x] * w1;
        row[x] = v;
        float t = top[x], s = second[x];
        float runner_up = v > s ? v : s;
        int32_t greater = -(int32_t)(v > t); /* all ones where v is the new largest */
        second[x] = v > t ? t : runner_up;
        top[x] = v > t ? v : t;
        winner[x] = (winner[x] & ~greater) | (k & greater);
    }
}

/* The quantized confidence, margin and entropy of an output row from the largest and
 * runner-up logits and the sums over the classes. */
static inline void
finish_row(const float *restrict top, const float *restrict second, const float *restrict sum,
           const float *restrict moment, float per_log_classes, uint8_t *restrict confidence,
           uint8_t *restrict margin, uint8_t *restrict entropy, Py_ssize_t width)
{
    for (Py_ssize_t x = 0; x < width; x++) {
        float inverse = 1.0f / sum[x];
        float p2 = exp_approx(second[x] - top[x]) * inverse;
        float h = (log_approx(sum[x]) - moment[x] * inverse) * per_log_classes;
        confidence[x] = quantize(inverse);
        margin[x] = quantize(inverse - p2);
        entropy[x] = quantize(h);
    }
}

/* Per output row: the interpolated logits of every class (classes x out_w; each input row
 * is interpolated along the row once and kept while output rows use it, then the two rows
 * are mixed), then the statistics over the classes, vectorized along the row. */
/* The slot (0 or 1) of a two-row cache that holds row ``want[k]``, or else the one to fill
 * with it (the slot not holding the other row needed, ``want[1 - k]``), marked as holding it
 * and ``*fill`` set. */
static inline int
cache_slot(Py_ssize_t held[2], const Py_ssize_t want[2], int k, int *fill)
{
    *fill = 0;
    if (held[0] == want[k] || held[1] == want[k]) {
        return held[0] == want[k] ? 0 : 1;
    }
    int slot = held[0] == want[1 - k] ? 1 : 0;
    held[slot] = want[k];
    *fill = 1;
    return slot;
}

/* Middle row r of every class (classes x width, dense) of batch item ``frame``, made from
 * the two logit rows it samples (each widened once and kept in ``held``'s slots). */
static const float *
middle_row(const Job *job, const float *frame, Py_ssize_t r, Py_ssize_t held[2])
{
    const Middle *m = &job->middle;
    Py_ssize_t C = job->classes, W = m->width;
    Py_ssize_t want[2] = {m->y0[r], m->y0[r] + m->dy[r]};
    const float *half[2];
    for (int k = 0; k < 2; k++) {
        int fill;
        int slot = cache_slot(held, want, k, &fill);
        for (Py_ssize_t c = 0; fill && c < C; c++) {
            widen_row(frame + c * job->stride[1] + want[k] * job->stride[2], job->stride[3],
                      m->wide + (slot * C + c) * W, W, m->x0, m->dx, m->wx);
        }
        half[k] = m->wide + slot * C * W;
    }
    float w1 = m->wy[r], w0 = 1.0f - w1;
    for (Py_ssize_t i = 0; i < C * W; i++) {
        m->row[i] = half[0][i] * w0 + half[1][i] * w1;
    }
    return m->row;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* a copy for CPUs with AVX2 (eight floats a step instead of four), chosen at load time */
__attribute__((target_clones("avx2", "default")))
#endif
static void
summarize_rows(const Job *job, float *buffer, const int32_t *x0, const int32_t *dx,
               const float *wx, const int32_t *y0, const int32_t *dy, const float *wy)
{
    Py_ssize_t C = job->classes, W = job->out_w;
    Py_ssize_t in_w = job->middle.height ? job->middle.width : job->in_w; /* rows widened */
    const Py_ssize_t *stride = job->stride;
    float *restrict rows = buffer;     /* classes x out_w: this output row's logits */
    float *restrict wide = rows + C * W; /* 2 x classes x out_w: input rows widened */
    float *restrict top = wide + 2 * C * W;
    float *restrict second = top + W;
    float *restrict sum = second + W;
    float *restrict moment = sum + W;
    int32_t *restrict winner = (int32_t *)(moment + W);
    float *restrict dense = moment + 2 * W; /* in_w: an input row gathered */
    float log_classes = C > 1 ? logf((float)C) : 1.0f;
    for (Py_ssize_t b = 0; b < job->batch; b++) {
        const float *frame = job->logits + b * stride[0];
        Py_ssize_t held[2] = {-1, -1}; /* the input row in each half of wide */
        Py_ssize_t middle_held[2] = {-1, -1}; /* the logit row in each half of middle.wide */
        for (Py_ssize_t y = 0; y < job->out_h; y++) {
            Py_ssize_t want[2] = {y0[y], y0[y] + dy[y]};
            float *half[2];
            for (int k = 0; k < 2; k++) {
                int fill;
                int slot = cache_slot(held, want, k, &fill);
                if (fill) {
                    /* an input row: of the logits, or of the middle size made from them */
                    const float *rows_of = job->middle.height
                        ? middle_row(job, frame, want[k], middle_held) : NULL;
                    Py_ssize_t class_step = rows_of ? in_w : stride[1];
                    Py_ssize_t step = rows_of ? 1 : stride[3];
                    const float *first = rows_of ? rows_of : frame + want[k] * stride[2];
                    for (Py_ssize_t c = 0; c < C; c++) {
                        const float *source = first + c * class_step;
                        float *out = wide + (slot * C + c) * W;
                        if (W == 2 * in_w) {
                            widen_row_twice(source, step, dense, out, in_w);
                        } else {
                            widen_row(source, step, out, W, x0, dx, wx);
                        }
                    }
                }
                half[k] = wide + slot * C * W;
            }
            float w1 = wy[y], w0 = 1.0f - w1;
            /* the rows mixed; the largest logit (its first class) and the largest other */
            first_class(half[0], half[1], w0, w1, rows, top, second, winner, W);
            for (Py_ssize_t c = 1; c < C; c++) {
                next_class(half[0] + c * W, half[1] + c * W, w0, w1, rows + c * W, top, second,
                           winner, (int32_t)c, W);
            }
            /* sum of e**(l - top) and of e**(l - top) * (l - top) over the classes */
            for (Py_ssize_t x = 0; x < W; x++) {
                sum[x] = 0.0f;
                moment[x] = 0.0f;
            }
            for (Py_ssize_t c = 0; c < C; c++) {
                const float *restrict row = rows + c * W;
                for (Py_ssize_t x = 0; x < W; x++) {
                    float d = row[x] - top[x];
                    float e = exp_approx(d);
                    sum[x] += e;
                    moment[x] += e * d;
                }
            }
            Py_ssize_t at = (b * job->out_h + y) * W;
            uint8_t *restrict confidence = job->confidence + at;
            uint8_t *restrict margin = job->margin + at;
            uint8_t *restrict entropy = job->entropy + at;
            if (C > 1) {
                finish_row(top, second, sum, moment, 1.0f / log_classes, confidence, margin,
                           entropy, W);
            } else { /* one class: certain */
                memset(confidence, 255, (size_t)W);
                memset(margin, 255, (size_t)W);
                memset(entropy, 0, (size_t)W);
            }
            if (job->label_size == 1) {
                const uint8_t *lut = job->lut;
                uint8_t *labels = (uint8_t *)job->labels + at;
                for (Py_ssize_t x = 0; x < W; x++) {
                    labels[x] = lut[winner[x]];
                }
            } else {
                const int32_t *lut = job->lut;
                int32_t *labels = (int32_t *)job->labels + at;
                for (Py_ssize_t x = 0; x < W; x++) {
                    labels[x] = lut[winner[x]];
                }
            }
        }
    }
}

static const char *
check_output(Py_buffer *buffer, Py_ssize_t pixels, Py_ssize_t itemsize)
{
    if (!PyBuffer_IsContiguous(buffer, 'C')) {
        return "the outputs must be C-contiguous";
    }
    if (buffer->len != pixels * itemsize) {
        return "an output's size is not batch x out_h x out_w items";
    }
    return NULL;
}

static PyObject *
summarize(PyObject *module, PyObject *args)
{
    Py_buffer logits = {0}, lut = {0}, labels = {0}, confidence = {0}, margin = {0},
              entropy = {0};
    Job job = {0};
    (void)module;
    PyObject *logits_object;
    Py_ssize_t mid_h = 0, mid_w = 0;
    if (!PyArg_ParseTuple(args, "Onny*w*w*w*w*|nn:summarize", &logits_object, &job.out_h,
                          &job.out_w, &lut, &labels, &confidence, &margin, &entropy, &mid_h,
                          &mid_w)) {
        return NULL;
    }
    if (PyObject_GetBuffer(logits_object, &logits, PyBUF_RECORDS_RO) < 0) {
        PyBuffer_Release(&lut);
        PyBuffer_Release(&labels);
        PyBuffer_Release(&confidence);
        PyBuffer_Release(&margin);
        PyBuffer_Release(&entropy);
        return NULL;
    }
    const char *problem = NULL;
    Py_ssize_t limit = (Py_ssize_t)1 << 30;
    if (logits.ndim != 4 || logits.itemsize != 4 || logits.format == NULL ||
        strcmp(logits.format, "f") != 0) {
        problem = "the logits must be float32, batch x classes x in_h x in_w";
    } else {
        job.batch = logits.shape[0];
        job.classes = logits.shape[1];
        job.in_h = logits.shape[2];
        job.in_w = logits.shape[3];
        for (int i = 0; i < 4; i++) {
            job.stride[i] = logits.strides[i] / 4;
            if (logits.strides[i] < 0 || logits.strides[i] % 4 != 0) {
                problem = "the logits' strides must be whole floats, none negative";
            }
        }
    }
    if (problem != NULL) {
        /* reported below */
    } else if (job.batch < 1 || job.classes < 1 || job.in_h < 1 || job.in_w < 1 ||
               job.out_h < 1 || job.out_w < 1 || job.batch > limit || job.classes > 65536 ||
               job.in_h > limit || job.in_w > limit || job.out_h > limit || job.out_w > limit) {
        problem = "sizes must be 1 or more (classes at most 65536)";
    } else if (job.out_h > limit / job.out_w || job.batch > limit / (job.out_h * job.out_w)) {
        problem = "too many values";
    } else if ((mid_h != 0 || mid_w != 0) &&
               (mid_h < 1 || mid_w < 1 || mid_h > limit || mid_w > limit ||
                mid_w > limit / job.classes)) {
        problem = "the middle size must be 1 or more each way (or none)";
    } else if (lut.len != job.classes && lut.len != job.classes * 4) {
        problem = "the label table must hold one uint8 or int32 per class";
    }
    Py_ssize_t pixels = job.batch * job.out_h * job.out_w;
    job.label_size = lut.len == job.classes ? 1 : 4;
    if (problem == NULL) {
        problem = check_output(&labels, pixels, job.label_size);
    }
    if (problem == NULL) {
        problem = check_output(&confidence, pixels, 1);
    }
    if (problem == NULL) {
        problem = check_output(&margin, pixels, 1);
    }
    if (problem == NULL) {
        problem = check_output(&entropy, pixels, 1);
    }
    float *buffer = NULL, *wx = NULL, *wy = NULL;
    int32_t *x0 = NULL, *dx = NULL, *y0 = NULL, *dy = NULL;
    if (problem == NULL) {
        /* 3 x classes rows of logits, then top, second, sum, moment, winner and a
         * gathered input row (in_w <= out_w where it is used) */
        buffer = PyMem_RawMalloc((size_t)(3 * job.classes + 6) * job.out_w * sizeof(float));
        wx = PyMem_RawMalloc((size_t)job.out_w * sizeof(float));
        wy = PyMem_RawMalloc((size_t)job.out_h * sizeof(float));
        x0 = PyMem_RawMalloc((size_t)job.out_w * sizeof(int32_t));
        dx = PyMem_RawMalloc((size_t)job.out_w * sizeof(int32_t));
        y0 = PyMem_RawMalloc((size_t)job.out_h * sizeof(int32_t));
        dy = PyMem_RawMalloc((size_t)job.out_h * sizeof(int32_t));
    }
    Middle *middle = &job.middle;
    int middle_ready = 1;
    if (problem == NULL && mid_h > 0) {
        middle->height = mid_h;
        middle->width = mid_w;
        middle->x0 = PyMem_RawMalloc((size_t)mid_w * sizeof(int32_t));
        middle->dx = PyMem_RawMalloc((size_t)mid_w * sizeof(int32_t));
        middle->wx = PyMem_RawMalloc((size_t)mid_w * sizeof(float));
        middle->y0 = PyMem_RawMalloc((size_t)mid_h * sizeof(int32_t));
        middle->dy = PyMem_RawMalloc((size_t)mid_h * sizeof(int32_t));
        middle->wy = PyMem_RawMalloc((size_t)mid_h * sizeof(float));
        middle->wide = PyMem_RawMalloc((size_t)(2 * job.classes * mid_w) * sizeof(float));
        middle->row = PyMem_RawMalloc((size_t)(job.classes * mid_w) * sizeof(float));
        middle_ready = middle->x0 && middle->dx && middle->wx && middle->y0 && middle->dy &&
                       middle->wy && middle->wide && middle->row;
    }
    /* the rows the output samples: the middle size's, or the logits' */
    Py_ssize_t source_h = mid_h > 0 ? mid_h : job.in_h;
    Py_ssize_t source_w = mid_h > 0 ? mid_w : job.in_w;
    int failed = problem != NULL;
    if (!failed && !(buffer && wx && wy && x0 && dx && y0 && dy && middle_ready)) {
        failed = 1;
        PyErr_NoMemory();
    } else if (!failed) {
        job.logits = logits.buf;
        job.lut = lut.buf;
        job.labels = labels.buf;
        job.confidence = confidence.buf;
        job.margin = margin.buf;
        job.entropy = entropy.buf;
        Py_BEGIN_ALLOW_THREADS
        if (mid_h > 0) {
            sample_positions(job.in_w, mid_w, middle->x0, middle->dx, middle->wx);
            sample_positions(job.in_h, mid_h, middle->y0, middle->dy, middle->wy);
        }
        sample_positions(source_w, job.out_w, x0, dx, wx);
        sample_positions(source_h, job.out_h, y0, dy, wy);
        summarize_rows(&job, buffer, x0, dx, wx, y0, dy, wy);
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(middle->x0);
    PyMem_RawFree(middle->dx);
    PyMem_RawFree(middle->wx);
    PyMem_RawFree(middle->y0);
    PyMem_RawFree(middle->dy);
    PyMem_RawFree(middle->wy);
    PyMem_RawFree(middle->wide);
    PyMem_RawFree(middle->row);
    PyMem_RawFree(buffer);
    PyMem_RawFree(wx);
    PyMem_RawFree(wy);
    PyMem_RawFree(x0);
    PyMem_RawFree(dx);
    PyMem_RawFree(y0);
    PyMem_RawFree(dy);
    PyBuffer_Release(&logits);
    PyBuffer_Release(&lut);
    PyBuffer_Release(&labels);
    PyBuffer_Release(&confidence);
    PyBuffer_Release(&margin);
    PyBuffer_Release(&entropy);
    if (problem != NULL) {
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    if (failed) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"summarize", summarize, METH_VARARGS,
     "summarize(logits, out_h, out_w, lut, labels, confidence, margin, entropy[, mid_h,\n"
     "mid_w]): the\n"
     "quantized summary of float32 logits (a buffer of batch x classes x in_h x in_w, any\n"
     "strides) interpolated bilinearly to out_h x out_w (align_corners=False):\n"
     "the label of the largest logit (lut: one uint8 or int32 label per class; labels of\n"
     "the same item size), its probability, the margin to the runner-up's and the entropy\n"
     "over log(classes), each times 255 rounded to uint8 (outputs batch x out_h x out_w).\n"
     "mid_h, mid_w: interpolate the logits to this size first (as a model's own upsampling\n"
     "to its input size would), then to out_h x out_w."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fast_summary",
    "A segmentation model's per-pixel summary on the CPU (see roadmark.models.cpu_summary).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit_fast_summary(void)
{
    return PyModule_Create(&module);
}
